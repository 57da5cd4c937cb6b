"""Scaling over MPI ranks: Python mechanisms against Arbor's compiled ones.

``make bench-mpi`` runs it in ``.venv-mpi``. The network of
``tests_mpi/network.py`` (ball-and-stick cells with HH, pas, expsyn and gap
junctions; 512 cells by default) runs on 1 and 2 ranks; in each job the
simulation with arbor_pycat's ports (numba backend) and the one with Arbor's
compiled mechanisms run in turns, ``--rounds`` times, and the time of each is
the wall time of ``sim.run()`` until the slowest rank is done (median over the
rounds). Reported: both times, their ratio, and each one's speed-up from 1 to
N ranks. Every job also checks that the two give the same spikes.
"""
import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests_mpi"))

from launch import missing_mpi, mpirun  # noqa: E402

NETWORK = HERE.parent / "tests_mpi" / "network.py"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=512)
    parser.add_argument("--duration", type=float, default=200.0, help="ms")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    reason = missing_mpi()
    if reason:
        sys.exit(f"bench-mpi needs an MPI build of Arbor ({reason}): run `make bench-mpi`")

    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench_mpi_") as folder:
        for n in args.ranks:
            out = Path(folder) / f"{n}.json"
            result = mpirun(n, NETWORK, "--cells", args.cells, "--duration", args.duration,
                            "--mechanisms", "both", "--rounds", args.rounds, "--out", out, timeout=1800)
            if result.returncode != 0:
                sys.exit(result.describe())
            data = json.loads(out.read_text())
            ours, theirs = data["pycat"], data["arbor"]
            same = [s[:2] for s in ours["spikes"]] == [s[:2] for s in theirs["spikes"]]
            diff = max((abs(a[2] - b[2]) for a, b in zip(ours["spikes"], theirs["spikes"])), default=0.0)
            rows[n] = {"pycat": statistics.median(ours["walls"]), "arbor": statistics.median(theirs["walls"]),
                       "pycat_walls": ours["walls"], "arbor_walls": theirs["walls"],
                       "spikes": len(ours["spikes"]), "same_spikes": same, "max_spike_time_difference": diff}
            print(f"{n} rank(s): pycat {rows[n]['pycat']:.3f} s, arbor {rows[n]['arbor']:.3f} s, "
                  f"{rows[n]['spikes']} spikes, same spikes: {same} (max |dt| {diff:.1e} ms)", flush=True)

    base = args.ranks[0]
    print(f"\n{args.cells} cells, {args.duration:g} ms, wall time of sim.run() (median of {args.rounds})\n")
    print("| ranks | Arbor's compiled mechanisms | arbor_pycat (numba) | ratio | speed-up compiled | speed-up pycat |")
    print("|---|---|---|---|---|---|")
    for n, row in rows.items():
        up_arbor = rows[base]["arbor"] / row["arbor"]
        up_pycat = rows[base]["pycat"] / row["pycat"]
        print(f"| {n} | {row['arbor']:.3f} s | {row['pycat']:.3f} s | {row['pycat'] / row['arbor']:.2f}x "
              f"| {up_arbor:.2f}x | {up_pycat:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if not all(row["same_spikes"] for row in rows.values()):
        sys.exit("the Python mechanisms gave different spikes from Arbor's")


if __name__ == "__main__":
    main()
