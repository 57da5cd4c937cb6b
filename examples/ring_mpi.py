"""A ring of cells with Python mechanisms, distributed over MPI ranks.

    mpirun -n 4 python -m mpi4py examples/ring_mpi.py [--cells 8] [--duration 100]

needs an Arbor built with MPI and mpi4py (``make test-mpi`` sets one up in
``.venv-mpi``: ``mpirun -n 4 .venv-mpi/bin/python -m mpi4py examples/ring_mpi.py``).
``python -m mpi4py`` turns an exception on one rank into the end of the
whole job, instead of the other ranks waiting for it for ever.

Each cell has Hodgkin-Huxley channels on its soma (``arbor_pycat.models.HH``)
and, at the end of its dendrite, ``RingSynapse``, written below. Cell ``i``
excites cell ``i + 1``; one event starts the activity at cell 0, and it goes
round the ring, from rank to rank. Every rank builds the same catalogue
(the numba backend compiles it, or loads it from the cache: set
``ARBOR_PYCAT_CACHE_DIR`` to a folder every node can use), simulates its own
cells, and rank 0 prints the spikes each rank recorded.
"""
import argparse

from mpi4py import MPI

import arbor
from arbor import units as U

import arbor_pycat
from arbor_pycat import cnexp, models
from arbor_pycat.recipe import CableRecipe


class RingSynapse(arbor_pycat.CustomMechanism):
    """An exponentially decaying conductance (µS) that each event raises by its weight."""
    name = "ring_syn"
    kind = "point"
    state_vars = [("g", "uS", 0.0)]
    parameters = [("tau", "ms", 2.0), ("e", "mV", 0.0)]

    def init_mechanism(self, pp):
        pp.g = 0.0

    def advance_state(self, pp):
        pp.g = cnexp(pp.g, 0.0, pp.tau, pp.dt)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g

    def apply_events(self, pp, events):
        for k in range(len(events)):
            target = events.mech_index[k]
            pp.g[target] = pp.g[target] + events.weight[k]


class Ring(CableRecipe):
    """``n_cells`` ball-and-stick cells; ``i`` connects to ``i + 1`` (CableRecipe
    keeps the cells referenced, as Arbor 0.12 needs)."""

    def __init__(self, catalogue, n_cells, weight=0.05, delay=5.0):
        super().__init__(catalogue, n_cells)
        self.weight, self.delay = weight, delay

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        soma = tree.append(arbor.mnpos, arbor.mpoint(-6.3, 0, 0, 6.3), arbor.mpoint(6.3, 0, 0, 6.3), tag=1)
        tree.append(soma, arbor.mpoint(6.3, 0, 0, 0.5), arbor.mpoint(206.3, 0, 0, 0.5), tag=3)
        labels = arbor.label_dict({"soma": "(tag 1)", "dend": "(tag 3)",
                                   "centre": "(on-components 0.5 (tag 1))", "tip": "(location 0 1)"})
        decor = arbor.decor()
        decor.paint('"soma"', arbor.density("py_hh"))
        decor.paint('"dend"', arbor.density("pas"))
        decor.place('"tip"', arbor.synapse("ring_syn"), "syn")
        decor.place('"centre"', arbor.threshold_detector(-10 * U.mV), "det")
        return arbor.cable_cell(tree, decor, labels, discretization=arbor.cv_policy_max_extent(50 * U.um))

    def connections_on(self, gid):
        source = (gid - 1) % self.n_cells
        return [arbor.connection((source, "det"), "syn", self.weight, self.delay * U.ms)]

    def event_generators(self, gid):
        if gid != 0:
            return []
        return [arbor.event_generator("syn", 0.1, arbor.explicit_schedule([1 * U.ms]))]


def main():
    parser = argparse.ArgumentParser(description="A ring of cells with Python mechanisms, over MPI.")
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--duration", type=float, default=100.0, help="ms")
    parser.add_argument("--backend", default="numba", choices=["numba", "python", "auto"])
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if not arbor.config()["mpi"]:
        raise SystemExit("this arbor is built without MPI; see README: Running on a cluster (MPI)")

    # Every rank builds the catalogue: it is a plugin loaded into its own process.
    catalogue = arbor_pycat.build(models.HH, RingSynapse, backend=args.backend)
    recipe = Ring(catalogue, args.cells)
    context = arbor.context(mpi=comm)
    domains = arbor.partition_load_balance(recipe, context)
    sim = arbor.simulation(recipe, context, domains)
    # `local`: each rank records the spikes of its own cells (`all` would
    # give every rank everyone's spikes).
    sim.record(arbor.spike_recording.local)
    sim.run(args.duration * U.ms, 0.025 * U.ms)

    mine = sorted((float(t), int(gid)) for (gid, _), t in sim.spikes())
    cells = sorted(int(g) for group in domains.groups for g in group.gids)
    gathered = comm.gather((cells, mine), root=0)
    if rank == 0:
        print(f"{args.cells} cells on {context.ranks} rank(s), {args.duration:g} ms")
        for r, (cells, spikes) in enumerate(gathered):
            listed = ", ".join(f"{gid}@{t:.2f}" for t, gid in spikes)
            print(f"rank {r}: cells {cells}: {len(spikes)} spikes (cell@ms): {listed}")
        total = sum(len(spikes) for _, spikes in gathered)
        print(f"{total} spikes in all")


if __name__ == "__main__":
    main()
