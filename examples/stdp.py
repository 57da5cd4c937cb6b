"""Spike-timing-dependent plasticity: a synapse that learns from pre- and postsynaptic spikes.

A port of Arbor's ``expsyn_stdp``. Events (presynaptic spikes) leave a trace
``apre``; spikes of the cell's threshold detector (postsynaptic spikes, seen
in ``post_event``) leave a trace ``apost``. Each side reads the other's trace
into ``weight_plastic``. Eleven cells get one pre/post pairing each, at
timings dt = t_post - t_pre from -40 to +40 ms; a probe reads
``weight_plastic`` at the end. Look at: potentiation for dt > 0, depression
for dt < 0, both decaying with |dt| as Apre exp(-dt/taupre) and
Apost exp(dt/taupost).

    python stdp.py [--out stdp.png] [--no-plot] [--backend ...]
"""
import argparse

import arbor
import numpy as np
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism, cnexp

T_POST = 50.0                # ms: a current pulse makes the cell spike just after
TIMINGS = np.linspace(-40.0, 40.0, 11)


@arbor_pycat.register
class ExpSynSTDP(CustomMechanism):
    name = "my_expsyn_stdp"
    kind = "point"
    state_vars = [("g", "uS", 0.0), ("apre", "", 0.0), ("apost", "", 0.0),
                  ("weight_plastic", "uS", 0.0)]
    parameters = [("tau", "ms", 2.0), ("taupre", "ms", 10.0), ("taupost", "ms", 10.0),
                  ("Apre", "", 0.01), ("Apost", "", -0.01), ("e", "mV", 0.0),
                  ("max_weight", "uS", 10.0)]

    def init_mechanism(self, pp):
        pp.g = 0.0
        pp.apre = 0.0
        pp.apost = 0.0
        pp.weight_plastic = 0.0

    def advance_state(self, pp):
        pp.g = cnexp(pp.g, 0.0, pp.tau, pp.dt)
        pp.apre = cnexp(pp.apre, 0.0, pp.taupre, pp.dt)
        pp.apost = cnexp(pp.apost, 0.0, pp.taupost, pp.dt)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g

    def apply_events(self, pp, events):                 # a presynaptic spike
        for target, weight in events:
            g = pp.g[target] + weight + pp.weight_plastic[target]
            pp.g[target] = max(0.0, min(g, pp.max_weight[target]))
            pp.apre[target] += pp.Apre[target]
            pp.weight_plastic[target] += pp.apost[target]

    def post_event(self, pp):                           # a postsynaptic spike
        tss = pp.time_since_spike                       # (instances, detectors); >= 0: fired
        for d in range(tss.shape[1]):
            fired = tss[:, d] >= 0.0
            pp.apost = pp.apost + np.where(fired, pp.Apost, 0.0)
            pp.weight_plastic = pp.weight_plastic + np.where(fired, pp.apre, 0.0)


class Recipe(arbor.recipe):
    """One hh soma per timing; a short pulse makes it spike once; one presynaptic event."""

    def __init__(self, catalogue):
        super().__init__()
        self.props = arbor.neuron_cable_properties()
        self.props.catalogue.extend(catalogue, "")
        self.cells = {}                      # keep the cells referenced (Arbor 0.12.2)

    def num_cells(self):
        return len(TIMINGS)

    def cell_kind(self, gid):
        return arbor.cell_kind.cable

    def global_properties(self, kind):
        return self.props

    def cell_description(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(-10, 0, 0, 10), arbor.mpoint(10, 0, 0, 10), tag=1)
        decor = arbor.decor()
        decor.paint("(all)", arbor.density("hh"))
        decor.place("(location 0 0.5)", arbor.synapse("my_expsyn_stdp"), "syn")
        decor.place("(location 0 0.5)", arbor.i_clamp(T_POST * U.ms, 1 * U.ms, 2 * U.nA))
        decor.place("(location 0 0.5)", arbor.threshold_detector(-10 * U.mV), "detector")
        cell = arbor.cable_cell(tree, decor, arbor.label_dict())
        self.cells[gid] = cell
        return cell

    def event_generators(self, gid):
        t_pre = T_POST - TIMINGS[gid]        # dt = t_post - t_pre, before the spike's own delay
        # a weight of 0: the event itself does not make the cell spike
        return [arbor.event_generator("syn", 0.0, arbor.explicit_schedule([t_pre * U.ms]))]

    def probes(self, gid):
        return [arbor.cable_probe_point_state("syn", "my_expsyn_stdp", "weight_plastic", "w")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="stdp.png", help="where to save the figure")
    parser.add_argument("--no-plot", action="store_true", help="do not draw a figure")
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "python"])
    args = parser.parse_args(argv)

    catalogue = arbor_pycat.build(backend=args.backend)
    print(f"backend: {arbor_pycat.builder.last_backends['my_expsyn_stdp']}")
    recipe = Recipe(catalogue)
    sim = arbor.simulation(recipe)
    sim.record(arbor.spike_recording.local)
    handles = [sim.sample((gid, "w"), arbor.regular_schedule(1 * U.ms)) for gid in range(len(TIMINGS))]
    duration = T_POST + TIMINGS.max() + 5.0
    sim.run(duration * U.ms, 0.025 * U.ms)

    t_post = {gid: float(time) for (gid, _), time in sim.spikes()}
    measured = []
    print("   dt (ms)   weight change (uS)   Apre exp(-dt/taupre) or Apost exp(dt/taupost)")
    for gid, timing in enumerate(TIMINGS):
        w = sim.samples(handles[gid])[0][0][-1, 1]
        dt = t_post[gid] - (T_POST - timing)            # with the measured spike time
        expected = 0.01 * np.exp(-dt / 10.0) if dt > 0 else -0.01 * np.exp(dt / 10.0)
        measured.append(w)
        print(f"{dt:+10.2f}   {w:+18.6f}   {expected:+18.6f}")
    dts = [t_post[gid] - (T_POST - timing) for gid, timing in enumerate(TIMINGS)]

    if not args.no_plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(figsize=(6, 4))
        axes.axhline(0, color="grey", lw=0.5)
        before, after = np.linspace(-42, -0.01, 200), np.linspace(0.01, 42, 200)
        axes.plot(before, -0.01 * np.exp(before / 10.0), "-", color="grey",
                  label="Apre exp(-dt/taupre), Apost exp(dt/taupost)")
        axes.plot(after, 0.01 * np.exp(-after / 10.0), "-", color="grey")
        axes.plot(dts, measured, "o", label="my_expsyn_stdp")
        axes.set_xlabel("t_post - t_pre (ms)")
        axes.set_ylabel("weight change (uS)")
        axes.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(args.out)
        print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
