"""A voltage mechanism (kind="voltage"): voltage clamps of an hh cell.

First a port of Arbor's ``v_clamp``, ``my_clamp``, holds the cell at its
global ``v0``, set in the mechanism's name (``"my_clamp/v0=-50"``). Then a
step protocol: the clamp holds the membrane at ``v_hold`` and steps it to ``v_step`` between
``t_on`` and ``t_off``; a state ``t`` counts time. Its ``compute_currents``
runs after Arbor's cable solve and sets ``pp.v`` of the CVs it covers. Probes
record the sodium and potassium current densities of Arbor's ``hh``. Look at:
the transient inward sodium current and the sustained outward potassium
current at each step (the classic Hodgkin-Huxley experiment).

    python voltage_clamp.py [--out voltage_clamp.png] [--no-plot] [--backend ...]
"""
import argparse

import arbor
import numpy as np
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism


@arbor_pycat.register
class Clamp(CustomMechanism):
    name = "my_clamp"
    kind = "voltage"
    globals = [("v0", "mV", -60.0)]

    def compute_currents(self, pp):
        pp.v = pp.v0


@arbor_pycat.register
class StepClamp(CustomMechanism):
    name = "step_clamp"
    kind = "voltage"
    state_vars = [("t", "ms", 0.0)]
    parameters = [("v_hold", "mV", -70.0), ("v_step", "mV", 0.0),
                  ("t_on", "ms", 2.0), ("t_off", "ms", 12.0)]

    def init_mechanism(self, pp):
        pp.t = 0.0
        pp.v = pp.v_hold

    def advance_state(self, pp):
        pp.t = pp.t + pp.dt

    def compute_currents(self, pp):
        on = (pp.t >= pp.t_on) & (pp.t < pp.t_off)
        pp.v = np.where(on, pp.v_step, pp.v_hold)


class Recipe(arbor.recipe):
    """One hh soma under a clamp painted on the whole cell (one CV): my_clamp at
    -50 mV when ``v_step`` is None, else step_clamp."""

    def __init__(self, catalogue, v_step):
        super().__init__()
        self.props = arbor.neuron_cable_properties()
        self.props.catalogue.extend(catalogue, "")
        self.v_step = v_step
        self.cells = {}                  # keep the cells referenced (Arbor 0.12.2)

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
        if self.v_step is None:
            decor.paint("(all)", arbor.voltage_process("my_clamp/v0=-50"))
        else:
            clamp = arbor.mechanism("step_clamp", {"v_hold": -70.0, "v_step": self.v_step})
            decor.paint("(all)", arbor.voltage_process(clamp))
        cell = arbor.cable_cell(tree, decor, arbor.label_dict())
        self.cells[gid] = cell
        return cell

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage("(location 0 0.5)", "v"),
                arbor.cable_probe_ion_current_density("(location 0 0.5)", "na", "ina"),
                arbor.cable_probe_ion_current_density("(location 0 0.5)", "k", "ik")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="voltage_clamp.png", help="where to save the figure")
    parser.add_argument("--no-plot", action="store_true", help="do not draw a figure")
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "python"])
    parser.add_argument("--duration", type=float, default=15.0, help="simulated time (ms)")
    args = parser.parse_args(argv)

    catalogue = arbor_pycat.build(backend=args.backend)
    print(f"backend: {arbor_pycat.builder.last_backends['step_clamp']}")
    sim = arbor.simulation(Recipe(catalogue, None))
    handle = sim.sample((0, "v"), arbor.regular_schedule(0.1 * U.ms))
    sim.run(args.duration * U.ms, 0.025 * U.ms)
    held = sim.samples(handle)[0][0]
    after = held[held[:, 0] > 0, 1]              # t = 0: the initial -65 mV, before any step
    print(f"my_clamp/v0=-50: v from {after.min():.3f} to {after.max():.3f} mV after t = 0")
    results = {}
    for v_step in (-40.0, -20.0, 0.0, 20.0):
        sim = arbor.simulation(Recipe(catalogue, v_step))
        every = arbor.regular_schedule(0.025 * U.ms)
        handles = {key: sim.sample((0, key), every) for key in ("v", "ina", "ik")}
        sim.run(args.duration * U.ms, 0.025 * U.ms)
        traces = {key: sim.samples(handle)[0][0] for key, handle in handles.items()}
        results[v_step] = traces
        t, v = traces["v"][:, 0], traces["v"][:, 1]
        during = (t > 2.5) & (t < 11.5)
        print(f"step to {v_step:+5.1f} mV: v held within {np.abs(v[during] - v_step).max():.1e} mV; "
              f"peak ina {traces['ina'][:, 1].min():+.3f} mA/cm2, "
              f"ik at the end of the step {traces['ik'][t < 11.9, 1][-1]:+.3f} mA/cm2")

    if not args.no_plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (top, middle, bottom) = plt.subplots(3, 1, sharex=True, figsize=(6, 7))
        for v_step, traces in results.items():
            top.plot(traces["v"][:, 0], traces["v"][:, 1], label=f"{v_step:+g} mV")
            middle.plot(traces["ina"][:, 0], traces["ina"][:, 1])
            bottom.plot(traces["ik"][:, 0], traces["ik"][:, 1])
        top.set_ylabel("v (mV)")
        top.legend(loc="upper right", fontsize="small")
        middle.set_ylabel("ina (mA/cm2)")
        bottom.set_ylabel("ik (mA/cm2)")
        bottom.set_xlabel("t (ms)")
        fig.tight_layout()
        fig.savefig(args.out)
        print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
