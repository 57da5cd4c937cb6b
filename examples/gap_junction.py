"""A gap junction (kind="junction") between two cells.

A port of Arbor's ``gj``: ``pp.peer_v`` is the membrane potential at the other
end of the junction. Cell 0 is driven by a current clamp and spikes; cell 1
gets no input and feels cell 0 only through the junction. Look at: cell 1's
depolarisation (the coupling) and whether it spikes too (with g=0.0005 uS
instead of 0.005, it does not).

    python gap_junction.py [--out gap_junction.png] [--no-plot] [--backend ...]
"""
import argparse

import arbor
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism


@arbor_pycat.register
class Gap(CustomMechanism):
    name = "my_gj"
    kind = "junction"
    parameters = [("g", "uS", 1.0)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.peer_v)    # nA
        pp.conductance = pp.g


class Recipe(arbor.recipe):
    """Two hh somata coupled by my_gj; only cell 0 has a current clamp."""

    def __init__(self, catalogue):
        super().__init__()
        self.props = arbor.neuron_cable_properties()
        self.props.catalogue.extend(catalogue, "")
        self.cells = {}                  # keep the cells referenced (Arbor 0.12.2)

    def num_cells(self):
        return 2

    def cell_kind(self, gid):
        return arbor.cell_kind.cable

    def global_properties(self, kind):
        return self.props

    def cell_description(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(-10, 0, 0, 10), arbor.mpoint(10, 0, 0, 10), tag=1)
        decor = arbor.decor()
        decor.paint("(all)", arbor.density("hh"))
        decor.place('(location 0 0.5)', arbor.junction("my_gj", g=0.005), "gj")
        decor.place("(location 0 0.5)", arbor.threshold_detector(-10 * U.mV), "detector")
        if gid == 0:
            decor.place("(location 0 0.5)", arbor.i_clamp(5 * U.ms, 100 * U.ms, 0.2 * U.nA))
        cell = arbor.cable_cell(tree, decor, arbor.label_dict())
        self.cells[gid] = cell
        return cell

    # in the recipe: couple cells 0 and 1
    def gap_junctions_on(self, gid):
        return [arbor.gap_junction_connection((1 - gid, "gj"), "gj", 1.0)]

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage("(location 0 0.5)", "v")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gap_junction.png", help="where to save the figure")
    parser.add_argument("--no-plot", action="store_true", help="do not draw a figure")
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "python"])
    parser.add_argument("--duration", type=float, default=60.0, help="simulated time (ms)")
    args = parser.parse_args(argv)

    catalogue = arbor_pycat.build(backend=args.backend)
    print(f"backend: {arbor_pycat.builder.last_backends['my_gj']}")
    sim = arbor.simulation(Recipe(catalogue))
    sim.record(arbor.spike_recording.local)   # (.all records nothing without MPI in Arbor 0.12.2)
    every = arbor.regular_schedule(0.05 * U.ms)
    handles = [sim.sample((gid, "v"), every) for gid in (0, 1)]
    sim.run(args.duration * U.ms, 0.025 * U.ms)

    traces = [sim.samples(handle)[0][0] for handle in handles]
    spikes = {0: [], 1: []}
    for (gid, _), time in sim.spikes():
        spikes[gid].append(float(time))
    for gid, v in enumerate(traces):
        print(f"cell {gid}: {len(spikes[gid])} spikes, v from {v[:, 1].min():.1f} to {v[:, 1].max():.1f} mV"
              + (" (clamped)" if gid == 0 else " (input through the junction only)"))
    if spikes[0] and spikes[1]:
        print(f"first spike of cell 1 follows cell 0's by {spikes[1][0] - spikes[0][0]:.2f} ms")

    if not args.no_plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(figsize=(6, 4))
        for gid, v in enumerate(traces):
            axes.plot(v[:, 0], v[:, 1], label=f"cell {gid}")
        axes.set_xlabel("t (ms)")
        axes.set_ylabel("v (mV)")
        axes.set_title("my_gj, g = 0.005 uS")
        axes.legend()
        fig.tight_layout()
        fig.savefig(args.out)
        print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
