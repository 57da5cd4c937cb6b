"""Mechanisms on CVs that are not consecutive, and one catalogue reused across
simulations whose index layouts differ.

Compiled kernels take a vectorised loop where Arbor's index arrays are ranges
(``first, first + 1, ...``) and an indexed loop elsewhere; the shim tells them
which, caching the answer until the next ``init_mechanism``. Each run here is
compared with Arbor's own ``hh`` on the same cell.
"""
import arbor
import numpy as np
import pytest

import arbor_pycat
from arbor_pycat import models
from arbor_pycat.recipe import CableRecipe
from checks import V_TOLERANCE, assert_same_trace
from conftest import BACKENDS
from pycat_cell import OneCell, simulate

EVERYWHERE = "(all)"
SCATTERED = "(join (cable 0 0 0.25) (cable 0 0.5 0.8125))"    # CVs 0-3 and 8-12 of 16
TAIL = "(cable 0 0.5 1)"


def _run(catalogue, mechanism, region, t_end=60.0):
    recipe = OneCell(catalogue, paint=["pas", mechanism], ncv=16, clamp=0.05, region=region,
                      detector=True)
    trace, spikes, _ = simulate(recipe, t_end=t_end)
    return trace, spikes


@pytest.fixture(params=BACKENDS)
def hh_catalogue(request):
    """A fresh catalogue (a fresh copy of the shim, with empty caches) per test."""
    catalogue = arbor_pycat.build(models.HH, backend=request.param)
    assert arbor_pycat.builder.last_backends[models.HH.name] == request.param
    return catalogue


def _check(catalogue, region):
    ours, our_spikes = _run(catalogue, models.HH.name, region)
    theirs, their_spikes = _run(None, "hh", region)
    assert len(their_spikes) >= 1, region
    assert len(our_spikes) == len(their_spikes), region
    assert_same_trace(ours, theirs, atol=V_TOLERANCE, label=region)


def test_hh_on_scattered_cvs(hh_catalogue):
    _check(hh_catalogue, SCATTERED)


def test_one_catalogue_across_layouts(hh_catalogue):
    """Ranges, then not, then ranges again: a stale cached layout would put
    currents on the wrong CVs."""
    for region in (EVERYWHERE, SCATTERED, EVERYWHERE, TAIL, SCATTERED):
        _check(hh_catalogue, region)


def test_simulations_alive_at_once(hh_catalogue):
    """Two simulations of one catalogue, run in turns: creating one
    re-initialises the mechanism type while the other is half way."""
    def start(catalogue, mechanism, region):
        recipe = OneCell(catalogue, paint=["pas", mechanism], ncv=16, clamp=0.05, region=region)
        sim = arbor.simulation(recipe)
        handle = sim.sample((0, "v"), arbor.regular_schedule(0.1 * arbor.units.ms))
        return recipe, sim, handle

    traces = {}
    for key, catalogue, mechanism in (("ours", hh_catalogue, models.HH.name), ("theirs", None, "hh")):
        first = start(catalogue, mechanism, EVERYWHERE)
        first[1].run(30 * arbor.units.ms, 0.025 * arbor.units.ms)
        second = start(catalogue, mechanism, SCATTERED)
        second[1].run(30 * arbor.units.ms, 0.025 * arbor.units.ms)
        first[1].run(60 * arbor.units.ms, 0.025 * arbor.units.ms)
        second[1].run(60 * arbor.units.ms, 0.025 * arbor.units.ms)
        traces[key] = [sim.samples(handle)[0][0][:, 1] for _, sim, handle in (first, second)]
    for ours, theirs in zip(traces["ours"], traces["theirs"]):
        assert_same_trace(ours, theirs, atol=V_TOLERANCE)
        assert ours.max() > 0.0        # spiking: a wrong layout would show


class Ohmic(arbor_pycat.CustomMechanism):
    """i = g (v - e): enough to see where a kernel writes."""
    name = "layout_ohmic"
    parameters = [("g", "S/cm2", 1.0), ("e", "mV", 0.0)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g


class _FakeInstance:
    """A ppack over numpy arrays, for driving a catalogue's functions without Arbor."""

    def __init__(self, spec, node_index, n_cv):
        from arbor_pycat import abi
        ctypes = abi.C
        self.arrays = {"v": np.arange(1.0, n_cv + 1.0), "i": np.zeros(n_cv), "g": np.zeros(n_cv),
                       "node_index": np.array(node_index, dtype=np.int32),
                       "weight": np.ones(len(node_index))}
        self.params = [np.full(len(node_index), p.default) for p in spec.parameters]
        pointer = lambda a, t=abi.value_t: a.ctypes.data_as(ctypes.POINTER(t))   # noqa: E731
        pp = self.pp = abi.PPack()
        pp.width, pp.dt = len(node_index), 0.025
        pp.vec_v, pp.vec_i, pp.vec_g = (pointer(self.arrays[k]) for k in ("v", "i", "g"))
        pp.node_index = pointer(self.arrays["node_index"], abi.index_t)
        pp.weight = pointer(self.arrays["weight"])
        self.table = (ctypes.POINTER(abi.value_t) * len(self.params))(*map(pointer, self.params))
        pp.parameters = self.table


def test_cached_layout_follows_reinitialisation():
    """The shim caches which index arrays are ranges until the next init: the
    same ppack with the same arrays, refilled and re-initialised, must be
    written where its new indices point."""
    from arbor_pycat import abi, bridge
    from arbor_pycat.backends import compile_mechanism
    from arbor_pycat.declarations import spec_of
    spec = spec_of(Ohmic)
    shim = bridge.Shim()
    shim.add(spec, compile_mechanism(spec, shim, "numba"))
    shim.lib.get_catalogue.restype = abi.C.POINTER(abi.Mechanism)
    count = abi.C.c_int()
    interface = shim.lib.get_catalogue(abi.C.byref(count))[0].i_cpu()[0]
    instance = _FakeInstance(spec, [0, 1, 2, 3], n_cv=8)
    pp = abi.C.byref(instance.pp)
    v, i = instance.arrays["v"], instance.arrays["i"]

    def currents():
        i[:] = 0.0
        interface.compute_currents(pp)
        return i.copy()

    interface.init_mechanism(pp)
    expected = np.where(np.arange(8) < 4, 10.0 * v, 0.0)       # 10 x g (v - e) on CVs 0-3
    np.testing.assert_array_equal(currents(), expected)
    np.testing.assert_array_equal(currents(), expected)        # again, from the cache
    instance.arrays["node_index"][:] = [0, 2, 4, 6]            # same memory, new layout
    interface.init_mechanism(pp)
    expected = np.where(np.arange(8) % 2 == 0, 10.0 * v, 0.0)
    np.testing.assert_array_equal(currents(), expected)
    instance.arrays["node_index"][:] = [4, 5, 6, 7]
    interface.init_mechanism(pp)
    np.testing.assert_array_equal(currents(), np.where(np.arange(8) >= 4, 10.0 * v, 0.0))


def test_many_cell_groups_on_two_threads():
    """40 one-cell groups on two threads: 40 ppacks of one mechanism, each thread
    with its own cache of their layouts."""
    result = arbor_pycat.compare(models.HH, cvs=3, cells=40, threads=2, duration=50.0, backend="numba",
                                 stimulus=0.3)
    assert result.backend == "numba"
    assert result.v_python.shape[1] == 3 * 40
    assert result.max_dv < V_TOLERANCE, str(result)
    assert result.spike_counts[0] == result.spike_counts[1] > 0, str(result)


class _ForkedCells(CableRecipe):
    """``n`` cells, one per cell group: a soma, a dendrite, and at its end a fork
    into two branches. Every cell has the same number of CVs, but the dendrite's
    length, hence where the fork's zero-area CV (which has no instance) splits
    the index, varies from cell to cell: ppacks of equal width with different
    pieces, long enough (40 instances in two pieces) for the compiled loop to
    take them. ``mechanism`` on every CV; cell 0 is driven and excites the others
    through synapses, so that every cell's trace differs."""

    def __init__(self, n, mechanism, catalogue=None):
        super().__init__(catalogue, n_cells=n)
        self.mechanism = mechanism

    def make_cell(self, gid):
        from arbor import units as U
        tree = arbor.segment_tree()
        soma = tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, 5), arbor.mpoint(10, 0, 0, 5), tag=1)
        a, b = 10 * (1 + gid % 4), 10 * (1 + gid % 3)     # dendrite, first branch (µm)
        end = tree.append(soma, arbor.mpoint(10, 0, 0, 1), arbor.mpoint(10 + a, 0, 0, 1), tag=3)
        tree.append(end, arbor.mpoint(10 + a, 0, 0, 1), arbor.mpoint(10 + a, b, 0, 1), tag=3)
        tree.append(end, arbor.mpoint(10 + a, 0, 0, 1), arbor.mpoint(10 + a, -(90 - a - b), 0, 1), tag=3)
        decor = arbor.decor().paint("(all)", arbor.density(self.mechanism))
        decor.place("(location 0 0.5)", arbor.synapse("expsyn"), "syn")
        decor.place("(location 0 0.5)", arbor.threshold_detector(-10 * U.mV), "det")
        if gid == 0:
            decor.place("(location 0 0.5)", arbor.i_clamp(1 * U.ms, 100 * U.ms, 0.4 * U.nA))
        return arbor.cable_cell(tree, decor, arbor.label_dict(),
                                discretization=arbor.cv_policy_max_extent(2.5 * U.um))

    def connections_on(self, gid):
        from arbor import units as U
        return [arbor.connection(((gid * 7 + 3) % self.n_cells, "det"), "syn", 0.01 * (1 + gid % 3), 2 * U.ms)] \
            if gid else []

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage("(location 0 0.5)", "v")]


def _forked_traces(recipe, threads, t_end=30.0):
    from arbor import units as U
    sim = arbor.simulation(recipe, arbor.context(threads=threads))
    handles = [sim.sample((gid, "v"), arbor.regular_schedule(0.5 * U.ms)) for gid in range(recipe.n_cells)]
    sim.run(t_end * U.ms, 0.025 * U.ms)
    return np.array([sim.samples(h)[0][0][:, 1] for h in handles])


def test_many_forked_cells_each_with_its_own_pieces():
    """300 cell groups (more than the shim's 256 direct-mapped layout pointers, so
    that they collide), each ppack with pieces of its own, on two threads, and a
    second simulation of the same catalogue: a layout or piece list handed to the
    wrong ppack would put currents on the wrong CVs. Compared with Arbor's hh."""
    catalogue = arbor_pycat.build(models.HH, backend="numba")
    assert arbor_pycat.builder.last_backends[models.HH.name] == "numba"
    theirs = _forked_traces(_ForkedCells(300, "hh"), threads=2)
    assert np.ptp(theirs[:, -1]) > 1.0          # the cells are not all alike
    for _ in range(2):
        ours = _forked_traces(_ForkedCells(300, models.HH.name, catalogue), threads=2)
        assert_same_trace(ours.ravel(), theirs.ravel(), atol=V_TOLERANCE, label="300 forked cells")
    # more ppacks than a thread keeps before it drops those of earlier simulations
    # (the shim's layout_cache_prune: 4096), then the same run once more
    for _ in range(14):
        _forked_traces(_ForkedCells(300, models.HH.name, catalogue), threads=1, t_end=0.1)
    ours = _forked_traces(_ForkedCells(300, models.HH.name, catalogue), threads=1)
    assert_same_trace(ours.ravel(), theirs.ravel(), atol=V_TOLERANCE, label="after the cache was pruned")
