"""A synapse (kind="point"): an exponential conductance driven by an event generator.

A port of Arbor's ``expsyn``. An ``arbor.event_generator`` sends two events to
the synapse; a probe records the synapse's state ``g`` next to the membrane
potential. Look at: the peak conductance (it jumps by the event's weight) and
the size of the postsynaptic potential.

    python synapse.py [--out synapse.png] [--no-plot] [--backend auto|numba|python]
"""
import argparse

import arbor
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism, cnexp


@arbor_pycat.register
class ExpSyn(CustomMechanism):
    name = "my_expsyn"
    kind = "point"
    state_vars = [("g", "uS", 0.0)]
    parameters = [("tau", "ms", 2.0), ("e", "mV", 0.0)]

    def init_mechanism(self, pp):
        pp.g = 0.0

    def advance_state(self, pp):
        pp.g = cnexp(pp.g, 0.0, pp.tau, pp.dt)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)          # nA
        pp.conductance = pp.g                # uS

    def apply_events(self, pp, events):          # NET_RECEIVE(weight) { g = g + weight }
        for target, weight in events:
            pp.g[target] += weight


class Recipe(arbor.recipe):
    """One passive soma with the synapse in its middle."""

    def __init__(self, catalogue):
        super().__init__()
        self.props = arbor.neuron_cable_properties()
        self.props.catalogue.extend(catalogue, "")
        self.cells = {}                      # keep the cells referenced (Arbor 0.12.2)

    def num_cells(self):
        return 1

    def cell_kind(self, gid):
        return arbor.cell_kind.cable

    def global_properties(self, kind):
        return self.props

    def cell_description(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(-10, 0, 0, 10), arbor.mpoint(10, 0, 0, 10), tag=1)
        decor = arbor.decor()
        decor.paint("(all)", arbor.density("pas"))
        decor.place('(location 0 0.5)', arbor.synapse("my_expsyn", tau=3.0), "syn")
        cell = arbor.cable_cell(tree, decor, arbor.label_dict())
        self.cells[gid] = cell
        return cell

    # in the recipe: events of weight 0.01 uS at 5 and 15 ms
    def event_generators(self, gid):
        return [arbor.event_generator("syn", 0.01, arbor.explicit_schedule([5 * U.ms, 15 * U.ms]))]

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage('(location 0 0.5)', "v"),
                arbor.cable_probe_point_state("syn", "my_expsyn", "g", "g")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="synapse.png", help="where to save the figure")
    parser.add_argument("--no-plot", action="store_true", help="do not draw a figure")
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "python"])
    parser.add_argument("--duration", type=float, default=40.0, help="simulated time (ms)")
    args = parser.parse_args(argv)

    catalogue = arbor_pycat.build(backend=args.backend)
    sim = arbor.simulation(Recipe(catalogue))
    every = arbor.regular_schedule(0.1 * U.ms)
    v_handle = sim.sample((0, "v"), every)
    g_handle = sim.sample((0, "g"), every)
    sim.run(args.duration * U.ms, 0.025 * U.ms)

    v = sim.samples(v_handle)[0][0]          # columns: t (ms), v (mV)
    g = sim.samples(g_handle)[0][0]          # columns: t (ms), g (uS)
    rest = v[v[:, 0] < 5.0, 1][-1]                  # just before the first event
    print(f"backend: {arbor_pycat.builder.last_backends['my_expsyn']}")
    print(f"peak conductance {g[:, 1].max():.4f} uS (each event adds its weight, 0.01 uS)")
    print(f"resting potential {rest:.2f} mV, peak {v[:, 1].max():.2f} mV: "
          f"PSP of {v[:, 1].max() - rest:.2f} mV")

    if not args.no_plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(6, 5))
        top.plot(v[:, 0], v[:, 1])
        top.set_ylabel("v (mV)")
        bottom.plot(g[:, 0], g[:, 1], color="tab:orange")
        bottom.set_ylabel("g (uS)")
        bottom.set_xlabel("t (ms)")
        top.set_title("my_expsyn: events at 5 and 15 ms")
        fig.tight_layout()
        fig.savefig(args.out)
        print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
