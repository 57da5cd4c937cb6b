"""Networks of small forked cells: ``models.HH`` (numba) against Arbor's ``hh``.

``python benchmarks/forked_network.py N T [SHAPE] [ROUNDS]``: N cells (Arbor's
default partition: one cell per cell group, so one call of each method per
cell and step), each a soma with two 100 µm dendrites in 5 µm CVs (44
instances of HH; SHAPE ``y``, the default) or the same dendrites end to end
(``cable``: the same CVs, no fork), HH on every CV, one cell driven; T ms.

A Y-shaped cell's HH instances form two pieces (the fork's CV has none): 2
instances on the soma, 42 on the dendrites. With thousands of cell groups,
every piece's set-up counts (the shim's cached layouts, the loop's entry) and
so do the last instances of each piece, which do not fill a vector.

Prints the median over ROUNDS (default 5) of the ratio of ours to Arbor's in
one round (one run of each, in turns, after a warm-up of each), its range,
and the ratio of the fastest runs.
"""
import statistics
import sys
import time
import warnings

import arbor as A
from arbor import units as U

import arbor_pycat
from arbor_pycat import models
from arbor_pycat.recipe import CableRecipe


class ForkedCells(CableRecipe):
    def __init__(self, n, mechanism, shape, catalogue):
        super().__init__(catalogue, n_cells=n)
        self.mechanism, self.shape = mechanism, shape

    def make_cell(self, gid):
        tree = A.segment_tree()
        soma = tree.append(A.mnpos, A.mpoint(0, 0, 0, 5), A.mpoint(10, 0, 0, 5), tag=1)
        first = tree.append(soma, A.mpoint(10, 0, 0, 1), A.mpoint(100, 50, 0, 1), tag=3)
        if self.shape == "y":
            tree.append(soma, A.mpoint(10, 0, 0, 1), A.mpoint(100, -50, 0, 1), tag=3)
        else:
            tree.append(first, A.mpoint(100, 50, 0, 1), A.mpoint(190, 100, 0, 1), tag=3)
        decor = A.decor().paint("(all)", A.density(self.mechanism)).set_property(Vm=-65 * U.mV)
        if gid == 0:
            decor.place("(location 0 0.5)", A.i_clamp(1 * U.ms, 1e6 * U.ms, 0.3 * U.nA))
        return A.cable_cell(tree, decor, A.label_dict(), discretization=A.cv_policy_max_extent(5 * U.um))


def run_once(n, mechanism, shape, catalogue, t_end):
    sim = A.simulation(ForkedCells(n, mechanism, shape, catalogue), A.context(threads=1))
    start = time.perf_counter()
    sim.run(t_end * U.ms, 0.025 * U.ms)
    return time.perf_counter() - start


def main():
    warnings.simplefilter("ignore")
    n, t_end = int(sys.argv[1]), float(sys.argv[2])
    shape = sys.argv[3] if len(sys.argv) > 3 else "y"
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    catalogue = arbor_pycat.build(models.HH, backend="numba")
    for mechanism in ("hh", models.HH.name):
        run_once(n, mechanism, shape, catalogue, t_end)
    theirs, ours = [], []
    for _ in range(rounds):
        theirs.append(run_once(n, "hh", shape, catalogue, t_end))
        ours.append(run_once(n, models.HH.name, shape, catalogue, t_end))
    ratios = [o / t for o, t in zip(ours, theirs)]
    print(f"forked_network {n} cells ({shape}), {t_end:g} ms: hh {statistics.median(theirs) * 1e3:.0f} ms, "
          f"{models.HH.name} {statistics.median(ours) * 1e3:.0f} ms, ratio {statistics.median(ratios):.2f} "
          f"({min(ratios):.2f}-{max(ratios):.2f}), fastest runs {min(ours) / min(theirs):.2f}")


if __name__ == "__main__":
    main()
