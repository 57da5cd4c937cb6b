"""The numba backend's two compiled forms give the python backend's results.

Element-wise code compiles to the "scalar" form, code that indexes ``pp``
fields across instances or loops over events to the "array" form; no Python
runs during ``sim.run()``. Numba compiles take seconds: the mechanisms are
small, and the builds are shared by module-scoped fixtures.
"""
import re
import sys
import threading
import warnings

import arbor
import numpy as np
import pytest
from arbor import units as U

import arbor_pycat
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat import CustomMechanism, cnexp
from arbor_pycat.declarations import spec_of
from pycat_cell import StateCell, run_probed


# -- the two compiled forms give the python backend's results -------------------

TAU0 = 3.0        # a global constant the methods use
E_REST = -65.0


def _lin(v):
    return (v - E_REST) / 20.0


def _alpha(v):
    return 0.1 / (1.0 + _lin(v) * _lin(v))


def _beta(v):
    return 0.125 + 0.01 * _lin(v)


def _steady(v):
    """A helper calling helpers calling helpers."""
    a = _alpha(v)
    return a / (a + _beta(v))


class WholeArray(CustomMechanism):
    """Whole-array numpy style: scalar form."""
    name = "nbt_whole"
    state_vars = [("m", "", 0.0), ("h", "", 0.0)]
    parameters = [("g", "S/cm2", 2e-3), ("e", "mV", -70.0)]
    globals = [("gain", "", 1.5)]

    def init_mechanism(self, pp):
        pp.m, pp.h = _steady(pp.v), 1.0 - _steady(pp.v)      # tuple unpacking

    def advance_state(self, pp):
        tau = TAU0
        if pp.dt > 0.0 and pp.gain != 1.0:                    # `if` on scalars
            tau = TAU0 * pp.gain
        pp.m = cnexp(pp.m, _steady(pp.v), tau, pp.dt)
        pp.h += (1.0 - _steady(pp.v) - pp.h) * pp.dt / (2.0 * TAU0)   # augmented

    def compute_currents(self, pp):
        pp.i = pp.g * pp.m * pp.h * (pp.v - pp.e)
        pp.i += 1e-4 * (pp.v - pp.e)
        pp.conductance = pp.g * pp.m * pp.h + 1e-4


class PerInstance(CustomMechanism):
    """A loop over instances with subscript writes: element-wise, so the scalar form."""
    name = "nbt_loop"
    state_vars = [("m", "", 0.0), ("count", "", 0.0)]
    parameters = [("g", "S/cm2", 1e-3), ("e", "mV", -80.0)]

    def init_mechanism(self, pp):
        for k in range(pp.width):
            pp.m[k] = _steady(pp.v[k])
            pp.count[k] = 0.0

    def advance_state(self, pp):
        for k in range(pp.width):
            target = _steady(pp.v[k])
            pp.m[k] = pp.m[k] + (target - pp.m[k]) * pp.dt / TAU0
            pp.count[k] += 1.0

    def compute_currents(self, pp):          # no conductance: evaluated twice
        for k in range(pp.width):
            pp.i[k] = pp.g[k] * pp.m[k] * (pp.v[k] - pp.e[k])


def _gates(v):
    return _steady(v), 1.0 - _steady(v)


def _nudge(values, k, amount):
    values[k] += amount


class ArrayMisc(CustomMechanism):
    """Whole-field statements in array form: unpacking, augmented, while/break, reductions."""
    name = "nbt_array_misc"
    state_vars = [("m", "", 0.0), ("h", "", 0.0), ("count", "", 0.0)]
    parameters = [("g", "S/cm2", 1e-3), ("e", "mV", -72.0)]

    def init_mechanism(self, pp):
        pp.m, pp.h = _gates(pp.v)
        pp.count = np.zeros(pp.width)

    def advance_state(self, pp):
        m_inf, h_inf = _gates(pp.v)
        pp.m = cnexp(pp.m, m_inf, TAU0, pp.dt)
        pp.h += (h_inf - pp.h) * pp.dt / TAU0
        pp.count += 1.0
        k = 0
        while k < pp.width:                 # the first instance past 100 steps gets a bonus
            if pp.count[k] > 100.0:
                _nudge(pp.count, k, 0.5)    # a helper writing into a field
                break
            k += 1

    def compute_currents(self, pp):
        g = pp.g * pp.m * pp.h
        if g.sum() > 0.0:
            pp.i = g * (pp.v - pp.e)
        pp.conductance = g


class Where(CustomMechanism):
    """np.where and ufuncs: element-wise, scalar form."""
    name = "nbt_where"
    parameters = [("ghi", "S/cm2", 3e-3), ("glo", "S/cm2", 1e-4), ("e", "mV", -75.0)]

    def compute_currents(self, pp):
        g = np.where(pp.v > -60.0, pp.ghi, pp.glo)
        pp.i = np.maximum(g, 0.0) * (pp.v - pp.e)
        pp.conductance = g


class EventLoop(CustomMechanism):
    """A synapse looping over its events (array form) with np.exp elsewhere (scalar form)."""
    name = "nbt_syn_loop"
    kind = "point"
    state_vars = [("g", "uS", 0.0)]
    parameters = [("tau", "ms", 2.0), ("e", "mV", 0.0)]

    def advance_state(self, pp):
        pp.g = pp.g * np.exp(-pp.dt / pp.tau)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g

    def apply_events(self, pp, events):
        for target, weight in events:
            pp.g[target] += weight


class EventFancy(CustomMechanism):
    """A synapse applying its events with fancy indexing (array form)."""
    name = "nbt_syn_fancy"
    kind = "point"
    state_vars = [("g", "uS", 0.0)]
    parameters = [("tau", "ms", 5.0), ("e", "mV", -10.0)]

    def advance_state(self, pp):
        pp.g = cnexp(pp.g, 0.0, pp.tau, pp.dt)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)

    def apply_events(self, pp, events):
        pp.g[events.mech_index] += 0.5 * events.weight


STYLES = [WholeArray, PerInstance, ArrayMisc, Where, EventLoop, EventFancy]
EXPECTED_MODES = {
    ArrayMisc: {"init_mechanism": "scalar", "advance_state": "array", "compute_currents": "array"},
    WholeArray: {"init_mechanism": "scalar", "advance_state": "scalar", "compute_currents": "scalar"},
    PerInstance: {"init_mechanism": "scalar", "advance_state": "scalar", "compute_currents": "scalar"},
    Where: {"compute_currents": "scalar"},
    EventLoop: {"advance_state": "scalar", "compute_currents": "scalar", "apply_events": "array"},
    EventFancy: {"advance_state": "scalar", "compute_currents": "scalar", "apply_events": "array"},
}
DENSITY_STATES = [("nbt_whole", "m"), ("nbt_whole", "h"), ("nbt_loop", "m"), ("nbt_loop", "count"),
                  ("nbt_array_misc", "m"), ("nbt_array_misc", "h"), ("nbt_array_misc", "count")]
POINT_STATES = [("nbt_syn_loop", "g"), ("nbt_syn_fancy", "g")]


def style_recipe(catalogue):
    return StateCell(catalogue, paint=["hh", "nbt_whole", "nbt_loop", "nbt_array_misc", "nbt_where"],
                     place=["nbt_syn_loop", "nbt_syn_fancy"], ncv=3, clamp=0.15,
                     events=[5.0, 20.0, 21.0, 40.0], weight=0.01, detector=True,
                     density_states=DENSITY_STATES, point_states=POINT_STATES)


@pytest.fixture(scope="module")
def compiled_styles():
    """{class: numba_backend.compile(spec)}: one compile per class for the whole file."""
    return {cls: numba_backend.compile(spec_of(cls), native_library=False) for cls in STYLES}


@pytest.fixture(scope="module")
def style_catalogues(compiled_styles):
    """{backend: catalogue} of every style mechanism (numba reuses the compiled modules)."""
    out = {}
    for backend in ("python", "numba"):
        out[backend] = arbor_pycat.build(*STYLES, backend=backend)
        assert set(arbor_pycat.builder.last_backends.values()) == {backend}
    return out


@pytest.fixture(scope="module")
def style_runs(style_catalogues):
    return {backend: run_probed(style_recipe(catalogue), t_end=60.0)
            for backend, catalogue in style_catalogues.items()}


@pytest.mark.parametrize("cls", STYLES, ids=lambda c: c.__name__)
def test_compiled_forms(compiled_styles, cls):
    compiled = compiled_styles[cls]
    assert compiled.backend == "numba"
    assert compiled.modes == EXPECTED_MODES[cls]
    module = compiled.module
    for method, mode in compiled.modes.items():
        assert hasattr(module, f"__pc_kernel_{method}_{mode}"), sorted(vars(module))
        assert hasattr(module, f"__pc_entry_{method}")


def test_both_forms_match_the_python_backend(style_runs):
    (python, spikes_python), (numba, spikes_numba) = style_runs["python"], style_runs["numba"]
    assert len(spikes_python) >= 1, "the cell should spike"
    assert np.ptp(python["vcell"][1]) > 50.0
    np.testing.assert_allclose(spikes_numba, spikes_python, rtol=0, atol=1e-9)
    for tag in python:
        t_py, x_py = python[tag]
        t_nb, x_nb = numba[tag]
        np.testing.assert_array_equal(t_py, t_nb)
        assert x_py.shape == x_nb.shape and x_py.size > 0, tag
        # exp in compiled code is a call-free rational approximation (~1e-16 relative)
        np.testing.assert_allclose(x_nb, x_py, rtol=1e-9, atol=1e-9, err_msg=tag)
    # the states really moved
    _, count = numba["nbt_loop.count"]
    assert count.shape[1] == 3 and count[-1, 0] > 2000
    _, count = numba["nbt_array_misc.count"]
    bonus = sorted(count[-1] - count[-1].min())      # one instance got 0.5 a step after step 100
    assert bonus[:2] == [0.0, 0.0] and bonus[2] > 1000.0, bonus
    for tag in ("nbt_syn_loop.g", "nbt_syn_fancy.g"):
        assert numba[tag][1].max() > 1e-3, tag
    # the fancy synapse adds half of each weight
    assert numba["nbt_syn_fancy.g"][1].max() < numba["nbt_syn_loop.g"][1].max()


def test_threads_give_identical_traces_with_numba(style_catalogues):
    """threads=1 and threads=2 run the compiled code to the same numbers."""
    runs = [run_probed(style_recipe(style_catalogues["numba"]), t_end=30.0, threads=threads)
            for threads in (1, 2)]
    (one, spikes_one), (two, spikes_two) = runs
    assert spikes_one == spikes_two
    for tag in one:
        np.testing.assert_array_equal(one[tag][1], two[tag][1], err_msg=tag)


# -- no Python during sim.run() ------------------------------------------------

def _python_calls_during_run(catalogue):
    """Names of the Python functions called while sim.run() runs (one thread)."""
    sim = arbor.simulation(style_recipe(catalogue), arbor.context(threads=1))
    calls = []

    def profile(frame, event, arg):
        if event == "call":
            calls.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        sim.run(5 * U.ms, 0.025 * U.ms)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return calls


def test_no_python_runs_during_a_numba_simulation(style_catalogues):
    # the probe works: the python backend's methods show up
    calls = _python_calls_during_run(style_catalogues["python"])
    assert any(c.endswith(":advance_state") for c in calls), calls[:20]
    assert _python_calls_during_run(style_catalogues["numba"]) == []


def test_numba_callbacks_are_native_functions(compiled_styles):
    for cls, compiled in compiled_styles.items():
        assert set(compiled.callbacks) == set(spec_of(cls).methods)
        for method, target in compiled.callbacks.items():
            assert not callable(target), (cls, method)
            assert isinstance(target, int) and target != 0
            assert target == compiled.module._pycat_cfuncs[method].address


def test_compilable_code_builds_with_numba_without_a_warning(compiled_styles):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arbor_pycat.build(*STYLES)             # default backend: auto
    assert not [str(w.message) for w in caught if "backend" in str(w.message)]
    assert arbor_pycat.builder.last_backends == {cls.name: "numba" for cls in STYLES}


class _ScopedProbe(CustomMechanism):
    name = "scoped_probe"
    state_vars = [("m", "", 0.1)]
    parameters = [("gbar", "S/cm2", 0.01)]
    ions = ["na"]

    def advance_state(self, pp):
        pp.m = pp.m + pp.dt * (1.0 / (1.0 + np.exp(-pp.v / 7.3219)) - pp.m)

    def compute_currents(self, pp):
        pp.ina = pp.gbar * pp.m * (pp.v - pp.ena) * 0.98765


def test_piece_loops_tell_llvm_that_arbor_arrays_do_not_overlap(tmp_path, monkeypatch):
    """A scalar entry reads and writes Arbor's arrays through scoped accesses
    (ppack.load_scoped / store_scoped), one scope per storage, so that LLVM
    vectorises the loop over a piece without first checking every written array
    against every other at run time (about a hundred comparisons per piece for HH,
    paid again at each fork of a cell and in each call of a small cell group)."""
    from arbor_pycat import models
    from arbor_pycat.backends.numba import generate
    spec = spec_of(models.HH)
    source, modes, _ = generate._source_for(spec, generate._Messages(spec))
    assert modes["compute_currents"] == "scalar"
    entry = source[source.index("def __pc_entry_compute_currents"):]
    entry = entry[:entry.index("\ndef ")]
    for array in ("_s_v", "_s_m", "_t_vec_i", "_t_current_density0", "_w"):
        assert f"{array}[" not in entry, array        # every element access is scoped
        assert f"__pc_ld({array}, " in entry, array
    assert entry.count("__pc_st(") >= 8              # 4 targets, in the piece loop and the indexed one
    # one scope per storage: the same array keeps its number, another gets another
    assert len(set(re.findall(r"__pc_ld\(_t_vec_i, [^,]+, (\d+)\)", entry))) == 1
    numbers = {re.search(rf"__pc_ld\({a}, [^,]+, (\d+)\)", entry).group(1) for a in ("_s_v", "_s_m", "_t_vec_i", "_w")}
    assert len(numbers) == 4

    # compiled here and now (numba keeps no IR of what it loads from its cache): a
    # mechanism of this test's own, so that no earlier test has compiled it
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("ARBOR_PYCAT_BUILD_HELPER", "0")     # no entry from a helper's cache either
    module = numba_backend.compile(spec_of(_ScopedProbe), native_library=False).module
    ir = module._pycat_cfuncs["compute_currents"].inspect_llvm()
    # <4 x double> with AVX2, <8 x double> where the host has AVX-512 and LLVM uses it
    vector_loads = [line for line in ir.splitlines() if re.search(r"load <\d+ x double>", line)]
    assert vector_loads, "the piece loop is not vectorised"
    assert all("!alias.scope" in line and "!noalias" in line for line in vector_loads)


def test_scratch_buffers_say_when_there_is_no_memory():
    """The copies of a scattered layout's values (ppack.scratch) come from numba's
    allocator as raw pointers: NULL where malloc fails, which the entry turns into
    an error (a message) instead of writing through it."""
    from numba import njit
    from arbor_pycat.backends.numba import ppack

    @njit
    def allocated(n):
        p = ppack.scratch(n)
        ok = ppack.address_of(p) != 0
        if ok:
            p[n - 1] = 1.5
        ppack.release(p)
        return ok
    assert allocated(1000)
    assert not allocated(2 ** 58)          # 2**61 bytes: more than any address space

    @njit
    def gathered(source, index, n, out):
        p = ppack.gathered(ppack.as_f64(source.ctypes.data), ppack.as_i32(index.ctypes.data), n)
        ok = ppack.address_of(p) != 0
        if ok:
            for k in range(min(n, out.size)):
                out[k] = p[k]
        ppack.release(p)
        return ok
    source = np.array([10.0, 11.0, 12.0, 13.0])
    index = np.array([3, 0, 0, 2], dtype=np.int32)
    out = np.zeros(4)
    assert gathered(source, index, 4, out) and list(out) == [13.0, 10.0, 10.0, 12.0]
    assert not gathered(source, index, 2 ** 58, out)      # NULL, and nothing read through it
    from arbor_pycat import models
    from arbor_pycat.backends.numba import generate
    spec = spec_of(models.HH)
    messages = generate._Messages(spec)
    source, _, _ = generate._source_for(spec, messages)
    entry = source[source.index("def __pc_entry_advance_state"):]
    assert "__pc_gathered(_s_v, _node_index, _width)" in entry and "__pc_release(_a_v)" in entry
    assert any("out of memory" in text for text in messages.messages.values())
