"""A noisy current with random variables: an Ornstein-Uhlenbeck current injected into 8 cells.

Each name in ``random`` is a fresh standard-normal draw per instance and time
step, from Arbor's counter-based generator: reproducible for a given
``arbor.simulation(..., seed=...)`` and independent of the number of threads.
The current follows dI = -I/tau dt + sigma sqrt(2/tau) dW, so its stationary
standard deviation is ``sigma``. Look at: the standard deviation of ``I``
(close to sigma), that the cells get different noise, and that the same seed
reproduces the same traces while another seed does not.

    python noisy_current.py [--out noisy_current.png] [--no-plot] [--backend ...]
"""
import argparse

import arbor
import numpy as np
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism


@arbor_pycat.register
class NoisyCurrent(CustomMechanism):
    """Ornstein-Uhlenbeck current: dI = -I/tau dt + sigma sqrt(2/tau) dW."""
    name = "noisy_current"
    kind = "point"
    state_vars = [("I", "nA", 0.0)]
    parameters = [("sigma", "nA", 0.05), ("tau", "ms", 5.0)]
    random = ["W"]

    def advance_state(self, pp):
        dW = np.sqrt(pp.dt) * pp.W          # the Wiener increment over one step
        pp.I = pp.I - pp.I / pp.tau * pp.dt + pp.sigma * np.sqrt(2.0 / pp.tau) * dW

    def compute_currents(self, pp):
        pp.i = -pp.I                        # nA; membrane currents are outward-positive
        pp.conductance = 0.0


class Recipe(arbor.recipe):
    """``n`` passive somata, each with its own noisy_current."""

    def __init__(self, catalogue, n):
        super().__init__()
        self.props = arbor.neuron_cable_properties()
        self.props.catalogue.extend(catalogue, "")
        self.n = n
        self.cells = {}                     # keep the cells referenced (Arbor 0.12.2)

    def num_cells(self):
        return self.n

    def cell_kind(self, gid):
        return arbor.cell_kind.cable

    def global_properties(self, kind):
        return self.props

    def cell_description(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(-10, 0, 0, 10), arbor.mpoint(10, 0, 0, 10), tag=1)
        decor = arbor.decor()
        decor.paint("(all)", arbor.density("pas"))
        decor.place("(location 0 0.5)", arbor.synapse("noisy_current", sigma=0.05, tau=5.0), "noise")
        cell = arbor.cable_cell(tree, decor, arbor.label_dict())
        self.cells[gid] = cell
        return cell

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage("(location 0 0.5)", "v"),
                arbor.cable_probe_point_state("noise", "noisy_current", "I", "I")]


def simulate(recipe, duration, seed):
    """Run all cells in one cell group; return ({gid: v trace}, {gid: I trace})."""
    context = arbor.context(threads=2)
    hints = {arbor.cell_kind.cable: arbor.partition_hint(cpu_group_size=128)}
    domains = arbor.partition_load_balance(recipe, context, hints)
    sim = arbor.simulation(recipe, context, domains, seed=seed)
    every = arbor.regular_schedule(0.1 * U.ms)
    handles = {gid: (sim.sample((gid, "v"), every), sim.sample((gid, "I"), every))
               for gid in range(recipe.num_cells())}
    sim.run(duration * U.ms, 0.025 * U.ms)
    v = {gid: sim.samples(h)[0][0] for gid, (h, _) in handles.items()}
    current = {gid: sim.samples(h)[0][0] for gid, (_, h) in handles.items()}
    return v, current


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="noisy_current.png", help="where to save the figure")
    parser.add_argument("--no-plot", action="store_true", help="do not draw a figure")
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "python"])
    parser.add_argument("--duration", type=float, default=200.0, help="simulated time (ms)")
    args = parser.parse_args(argv)

    catalogue = arbor_pycat.build(backend=args.backend)
    print(f"backend: {arbor_pycat.builder.last_backends['noisy_current']}")
    recipe = Recipe(catalogue, 8)
    v, current = simulate(recipe, args.duration, seed=42)
    again, _ = simulate(recipe, args.duration, seed=42)
    other, _ = simulate(recipe, args.duration, seed=7)
    settled = current[0][:, 0] > 25.0       # after 5 tau, I is stationary
    draws = np.concatenate([current[gid][settled, 1] for gid in current])
    print(f"I: mean {draws.mean():+.4f} nA, standard deviation {draws.std():.4f} nA "
          f"(sigma = 0.05 nA), over {len(current)} cells")
    print(f"cells 0 and 1 differ by up to {np.abs(v[0][:, 1] - v[1][:, 1]).max():.2f} mV")
    same = max(np.abs(v[gid][:, 1] - again[gid][:, 1]).max() for gid in v)
    changed = max(np.abs(v[gid][:, 1] - other[gid][:, 1]).max() for gid in v)
    print(f"seed 42 twice: traces differ by {same:.1e} mV; seed 42 vs 7: by up to {changed:.2f} mV")

    if not args.no_plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
        for gid in (0, 1, 2):
            top.plot(current[gid][:, 0], current[gid][:, 1], lw=0.8, label=f"cell {gid}")
            bottom.plot(v[gid][:, 0], v[gid][:, 1], lw=0.8)
        top.set_ylabel("I (nA)")
        top.legend(loc="upper right", fontsize="small")
        bottom.set_ylabel("v (mV)")
        bottom.set_xlabel("t (ms)")
        fig.tight_layout()
        fig.savefig(args.out)
        print(f"figure: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
