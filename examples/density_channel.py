"""A density channel (kind="density"): a slow M-type potassium current that makes a cell adapt.

The channel is painted next to Arbor's built-in ``hh`` on one soma driven by a
current clamp; the same cell runs once without it. A probe records the
channel's gating state ``m``. Look at: the interspike intervals, which grow
with the channel (spike-frequency adaptation) and stay constant without it,
and ``m``, which builds up spike after spike.

    python density_channel.py [--out density_channel.png] [--no-plot] [--backend auto|numba|python]
"""
import argparse

import arbor
import numpy as np
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism, IonInfo, cnexp


@arbor_pycat.register
class MCurrent(CustomMechanism):
    """Slow non-inactivating K+ current (after Pospischil et al. 2008, tau_max shortened)."""
    name = "m_current"
    kind = "density"
    state_vars = [("m", "", 0.0)]
    parameters = [("gbar", "S/cm2", 0.001), ("tau_max", "ms", 400.0)]
    ions = [IonInfo("k")]

    def init_mechanism(self, pp):
        pp.m = 1.0 / (1.0 + np.exp(-(pp.v + 35.0) / 10.0))

    def advance_state(self, pp):                       # m' = (m_inf - m) / tau, METHOD cnexp
        v = pp.v
        m_inf = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
        tau = pp.tau_max / (3.3 * np.exp((v + 35.0) / 20.0) + np.exp(-(v + 35.0) / 20.0))
        pp.m = cnexp(pp.m, m_inf, tau, pp.dt)

    def compute_currents(self, pp):
        g = pp.gbar * pp.m
        pp.ik = g * (pp.v - pp.ek)                     # mA/cm2
        pp.conductance = g                             # S/cm2


class Recipe(arbor.recipe):
    """One soma with hh (and the M-current if ``with_channel``), driven by a current clamp."""

    def __init__(self, catalogue, with_channel):
        super().__init__()
        self.props = arbor.neuron_cable_properties()
        self.props.catalogue.extend(catalogue, "")     # Arbor's default catalogue + m_current
        self.with_channel = with_channel
        self.cells = {}                                # keep the cells referenced (Arbor 0.12.2)

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
        decor.paint("(all)", arbor.density("hh"))
        if self.with_channel:
            decor.paint("(all)", arbor.density("m_current", gbar=0.001))
        decor.place("(location 0 0.5)", arbor.i_clamp(10 * U.ms, 1000 * U.ms, 0.3 * U.nA))
        decor.place("(location 0 0.5)", arbor.threshold_detector(-10 * U.mV), "detector")
        cell = arbor.cable_cell(tree, decor, arbor.label_dict())
        self.cells[gid] = cell
        return cell

    def probes(self, gid):
        probes = [arbor.cable_probe_membrane_voltage("(location 0 0.5)", "v")]
        if self.with_channel:
            probes.append(arbor.cable_probe_density_state("(location 0 0.5)", "m_current", "m", "m"))
        return probes


def run(catalogue, with_channel, duration):
    sim = arbor.simulation(Recipe(catalogue, with_channel))
    sim.record(arbor.spike_recording.local)
    every = arbor.regular_schedule(0.1 * U.ms)
    handles = {"v": sim.sample((0, "v"), every)}
    if with_channel:
        handles["m"] = sim.sample((0, "m"), every)
    sim.run(duration * U.ms, 0.025 * U.ms)
    traces = {key: sim.samples(handle)[0][0] for key, handle in handles.items()}
    spikes = np.array(sorted(float(spike[1]) for spike in sim.spikes()))
    return traces, spikes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="density_channel.png", help="where to save the figure")
    parser.add_argument("--no-plot", action="store_true", help="do not draw a figure")
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "python"])
    parser.add_argument("--duration", type=float, default=300.0, help="simulated time (ms)")
    args = parser.parse_args(argv)

    catalogue = arbor_pycat.build(backend=args.backend)
    print(f"backend: {arbor_pycat.builder.last_backends['m_current']}")
    results = {}
    for with_channel in (False, True):
        traces, spikes = run(catalogue, with_channel, args.duration)
        results[with_channel] = traces, spikes
        intervals = np.diff(spikes)
        label = "hh + m_current" if with_channel else "hh alone      "
        print(f"{label}: {len(spikes)} spikes; interspike intervals (ms): "
              + " ".join(f"{x:.1f}" for x in intervals[:5]) + f" ... {intervals[-1]:.1f}")
    m = results[True][0]["m"]
    print(f"m_current gate m: {m[0, 1]:.3f} at rest, {m[:, 1].max():.3f} at most")

    if not args.no_plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
        for with_channel, (traces, _) in results.items():
            v = traces["v"]
            top.plot(v[:, 0], v[:, 1], label="hh + m_current" if with_channel else "hh alone",
                     alpha=0.8)
        top.set_ylabel("v (mV)")
        top.legend(loc="upper right")
        bottom.plot(m[:, 0], m[:, 1], color="tab:green")
        bottom.set_ylabel("m_current m")
        bottom.set_xlabel("t (ms)")
        fig.tight_layout()
        fig.savefig(args.out)
        print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
