"""A small network whose channels and synapses are Python mechanisms, run with MPI.

Run it with ``mpirun -n N python -m mpi4py tests_mpi/network.py --out spikes.json``
(``python -m mpi4py`` makes an exception on one rank abort the whole job
instead of leaving the other ranks waiting). The tests in this folder and
``make bench-mpi`` run it; it needs an Arbor built with MPI and mpi4py.

Cells: a soma with Hodgkin-Huxley channels and a passive dendrite with an
exponential synapse at its end. Cell ``i`` receives from ``i - 1`` (a ring)
and from ``i + N/2 + 1``, so with more than one rank spikes cross ranks;
cells ``2k`` and ``2k + 1`` are coupled by a gap junction (Arbor keeps
gap-junction-coupled cells on one rank). Every fifth cell gets one input
event at the start.

``--mechanisms pycat`` uses arbor_pycat's ports (``py_hh``, ``py_pas``,
``py_expsyn``, ``py_gj``), ``arbor`` Arbor's compiled ``hh``, ``pas``,
``expsyn`` and ``gj``, ``both`` runs the two in turns (for timing).

Rank 0 writes ``--out``: the spikes of all ranks (gathered), which rank
owns which cells, the connections that cross ranks, and the wall times.
"""
import argparse
import json
import sys
import time

from mpi4py import MPI

import arbor
from arbor import units as U

import arbor_pycat
from arbor_pycat import models
from arbor_pycat.recipe import CableRecipe

COMM = MPI.COMM_WORLD
RANK = COMM.Get_rank()

NAMES = {
    "pycat": {"hh": "py_hh", "pas": "py_pas", "expsyn": "py_expsyn", "gj": "py_gj"},
    "arbor": {"hh": "hh", "pas": "pas", "expsyn": "expsyn", "gj": "gj"},
}


class Fragile(arbor_pycat.CustomMechanism):
    """Raises in advance_state after ``steps`` steps where ``armed`` is 1 (python backend)."""
    name = "py_fragile"
    kind = "density"
    backend = "python"
    parameters = [("armed", "", 0.0), ("steps", "", 40.0)]
    state_vars = [("count", "", 0.0)]

    def init_mechanism(self, pp):
        pp.count = 0.0

    def advance_state(self, pp):
        pp.count = pp.count + 1.0
        if (pp.armed > 0).any() and (pp.count >= pp.steps).any():
            raise RuntimeError(f"fragile mechanism gave up on rank {RANK} at step {int(pp.count.max())}")


def inputs_of(gid, n):
    """(source gid, weight µS, delay ms) of the connections onto ``gid``."""
    if n < 2:
        return []
    sources = [((gid - 1) % n, 0.06, 3.0)]
    far = (gid + n // 2 + 1) % n
    if far != gid and far != sources[0][0]:
        sources.append((far, 0.025, 4.5))
    return sources


class Network(CableRecipe):
    def __init__(self, n_cells, names, catalogue=None, gap=0.0004, fail_rank=None):
        super().__init__(catalogue, n_cells)
        self.names, self.gap, self.fail_rank = names, gap, fail_rank

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        soma = tree.append(arbor.mnpos, arbor.mpoint(-6.3, 0, 0, 6.3), arbor.mpoint(6.3, 0, 0, 6.3), tag=1)
        tree.append(soma, arbor.mpoint(6.3, 0, 0, 0.5), arbor.mpoint(206.3, 0, 0, 0.5), tag=3)
        labels = arbor.label_dict({"soma": "(tag 1)", "dend": "(tag 3)",
                                   "centre": "(on-components 0.5 (tag 1))", "tip": "(location 0 1)"})
        decor = arbor.decor()
        decor.set_property(Vm=-65 * U.mV)
        decor.paint('"soma"', arbor.density(self.names["hh"]))
        decor.paint('"dend"', arbor.density(self.names["pas"], g=0.0002))
        decor.place('"tip"', arbor.synapse(self.names["expsyn"], tau=2.0), "syn")
        decor.place('"centre"', arbor.threshold_detector(-10 * U.mV), "det")
        decor.place('"centre"', arbor.junction(self.names["gj"], g=1.0), "gj")
        if self.fail_rank is not None:
            # cell_description runs on the rank that owns the cell
            armed = 1.0 if RANK == self.fail_rank else 0.0
            decor.paint('"soma"', arbor.density("py_fragile", armed=armed))
        return arbor.cable_cell(tree, decor, labels,
                                discretization=arbor.cv_policy_max_extent(50 * U.um))

    def connections_on(self, gid):
        return [arbor.connection((src, "det"), "syn", w, d * U.ms)
                for src, w, d in inputs_of(gid, self.n_cells)]

    def gap_junctions_on(self, gid):
        peer = gid ^ 1
        if self.gap <= 0 or peer >= self.n_cells:
            return []
        return [arbor.gap_junction_connection((peer, "gj"), "gj", self.gap)]

    def event_generators(self, gid):
        if gid % 5:
            return []
        return [arbor.event_generator("syn", 0.1, arbor.explicit_schedule([(1.0 + 0.3 * gid) * U.ms]))]


def build_catalogue(backend, fail):
    classes = [models.HH, models.Pas, models.ExpSyn, models.GapJunction]
    if fail:
        classes.append(Fragile)
    start = time.perf_counter()
    catalogue = arbor_pycat.build(*classes, backend=backend)
    return catalogue, time.perf_counter() - start


def simulate(recipe, context, args):
    hints = {arbor.cell_kind.cable: arbor.partition_hint(cpu_group_size=args.group_size)}
    domains = arbor.partition_load_balance(recipe, context, hints)
    sim = arbor.simulation(recipe, context, domains)
    sim.record(arbor.spike_recording.local)
    COMM.Barrier()
    start = time.perf_counter()
    sim.run(args.duration * U.ms, args.dt * U.ms)
    elapsed = time.perf_counter() - start
    COMM.Barrier()
    wall = time.perf_counter() - start          # until the slowest rank is done
    local = sorted((int(s[0][0]), int(s[0][1]), float(s[1])) for s in sim.spikes())
    gids = sorted(int(g) for group in domains.groups for g in group.gids)
    return local, gids, elapsed, wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--duration", type=float, default=200.0, help="ms")
    parser.add_argument("--dt", type=float, default=0.025, help="ms")
    parser.add_argument("--mechanisms", choices=["pycat", "arbor", "both"], default="pycat")
    parser.add_argument("--backend", choices=["numba", "python", "auto"], default="numba")
    parser.add_argument("--group-size", type=int, default=1024,
                        help="cells per cell group (Arbor's partition hint); default: one group per rank")
    parser.add_argument("--gap", type=float, default=0.0004, help="gap junction weight (0: none)")
    parser.add_argument("--rounds", type=int, default=1, help="with --mechanisms both: rounds of the pair")
    parser.add_argument("--fail-rank", type=int, default=None,
                        help="paint a mechanism that raises on the cells of this rank")
    parser.add_argument("--out", help="JSON file written by rank 0")
    args = parser.parse_args(argv)

    if not arbor.config()["mpi"]:
        sys.exit("network.py needs an Arbor built with MPI (make test-mpi builds one)")
    context = arbor.context(mpi=COMM)
    size = context.ranks

    catalogue, build_time = (None, 0.0)
    if args.mechanisms != "arbor" or args.fail_rank is not None:
        catalogue, build_time = build_catalogue(args.backend, args.fail_rank is not None)

    order = {"pycat": ["pycat"], "arbor": ["arbor"], "both": ["pycat", "arbor"]}[args.mechanisms]
    results = {}
    for _ in range(args.rounds if args.mechanisms == "both" else 1):
        for kind in order:
            recipe = Network(args.cells, NAMES[kind], catalogue, args.gap, args.fail_rank)
            local, gids, elapsed, wall = simulate(recipe, context, args)
            entry = results.setdefault(kind, {"walls": [], "local_run_times": []})
            entry["walls"].append(wall)
            entry["local_run_times"].append(COMM.gather(elapsed, root=0))
            entry["local"], entry["gids"] = local, gids

    for kind, entry in results.items():
        entry["spikes_by_rank"] = COMM.gather(entry.pop("local"), root=0)
        entry["gids_by_rank"] = COMM.gather(entry.pop("gids"), root=0)
    build_times = COMM.gather(build_time, root=0)
    if RANK != 0:
        return
    report = {"ranks": size, "cells": args.cells, "duration": args.duration, "dt": args.dt,
              "backend": args.backend, "build_times": build_times,
              "backends": dict(arbor_pycat.builder.last_backends) if catalogue else {}}
    for kind, entry in results.items():
        owner = {g: r for r, gids in enumerate(entry["gids_by_rank"]) for g in gids}
        crossing = [(src, gid) for gid in range(args.cells) for src, _, _ in inputs_of(gid, args.cells)
                    if owner[src] != owner[gid]]
        gap_split = [g for g in range(args.cells)
                     if args.gap > 0 and (g ^ 1) < args.cells and owner[g] != owner[g ^ 1]]
        spikes = sorted(s for per_rank in entry["spikes_by_rank"] for s in per_rank)
        report[kind] = {
            "spikes": spikes,
            "spike_counts_by_rank": [len(s) for s in entry["spikes_by_rank"]],
            "gids_by_rank": entry["gids_by_rank"],
            "crossing_connections": len(crossing),
            "split_gap_junctions": len(gap_split),
            "walls": entry["walls"],
            "local_run_times": entry["local_run_times"],
        }
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    for kind in results:
        r = report[kind]
        print(f"{kind}: {size} rank(s), {len(r['spikes'])} spikes "
              f"(per rank {r['spike_counts_by_rank']}), {r['crossing_connections']} connections "
              f"cross ranks, sim.run {min(r['walls']):.3f} s", flush=True)


if __name__ == "__main__":
    main()
