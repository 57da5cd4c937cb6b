"""A reversal-potential mechanism (kind="reversal_potential"): the Nernst potential of sodium.

A port of Arbor's ``nernst`` for one ion. It is attached to the ion with
``decor.set_ion(..., method=...)``, not painted, and recomputes ``ena`` from
the concentrations. A probe records ``ena``; the same hh cell runs with two
external sodium concentrations. Look at: ``ena`` (it matches the Nernst
formula evaluated here in Python) and the spike peak, which follows it.

    python reversal_potential.py [--out reversal_potential.png] [--no-plot] [--backend ...]
"""
import argparse

import arbor
import numpy as np
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism, IonInfo

R = 8.31446261815324        # J/(K mol)
F = 96485.3321233100184     # C/mol


@arbor_pycat.register
class NernstNa(CustomMechanism):
    name = "my_nernst_na"
    kind = "reversal_potential"
    ions = [IonInfo("na")]

    def compute_currents(self, pp):
        rt_zf = 8.31446261815324 * (pp.temperature + 273.15) / (pp.naq * 96485.3321233100184) * 1e3
        pp.ena = rt_zf * np.log(pp.nao / pp.nai)   # mV


class Recipe(arbor.recipe):
    """One hh soma whose sodium reversal potential comes from my_nernst_na."""

    def __init__(self, catalogue, nao):
        super().__init__()
        self.props = arbor.neuron_cable_properties()
        self.props.catalogue.extend(catalogue, "")
        self.nao = nao
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
        decor.set_ion("na", int_con=10 * U.mM, ext_con=self.nao * U.mM)
        decor.set_ion("na", method="my_nernst_na")       # attached to the ion, not painted
        decor.place("(location 0 0.5)", arbor.i_clamp(5 * U.ms, 100 * U.ms, 0.2 * U.nA))
        cell = arbor.cable_cell(tree, decor, arbor.label_dict())
        self.cells[gid] = cell
        return cell

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage("(location 0 0.5)", "v"),
                arbor.cable_probe_ion_reversal_potential("(location 0 0.5)", "na", "ena")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reversal_potential.png", help="where to save the figure")
    parser.add_argument("--no-plot", action="store_true", help="do not draw a figure")
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "python"])
    parser.add_argument("--duration", type=float, default=30.0, help="simulated time (ms)")
    args = parser.parse_args(argv)

    catalogue = arbor_pycat.build(backend=args.backend)
    print(f"backend: {arbor_pycat.builder.last_backends['my_nernst_na']}")
    temperature = arbor.neuron_cable_properties().temperature   # K
    traces = {}
    for nao in (140.0, 70.0):
        sim = arbor.simulation(Recipe(catalogue, nao))
        every = arbor.regular_schedule(0.05 * U.ms)
        v_handle, e_handle = sim.sample((0, "v"), every), sim.sample((0, "ena"), every)
        sim.run(args.duration * U.ms, 0.025 * U.ms)
        v, ena = sim.samples(v_handle)[0][0], sim.samples(e_handle)[0][0]
        expected = R * temperature / F * np.log(nao / 10.0) * 1e3
        print(f"nao = {nao:5.1f} mM, nai = 10 mM: ena = {ena[-1, 1]:.3f} mV "
              f"(Nernst in Python: {expected:.3f} mV); spike peak {v[:, 1].max():.1f} mV")
        traces[nao] = v

    if not args.no_plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(figsize=(6, 4))
        for nao, v in traces.items():
            axes.plot(v[:, 0], v[:, 1], label=f"nao = {nao:g} mM")
        axes.set_xlabel("t (ms)")
        axes.set_ylabel("v (mV)")
        axes.legend()
        fig.tight_layout()
        fig.savefig(args.out)
        print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
