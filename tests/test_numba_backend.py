"""The numba backend: when it compiles, what it compiles to, and how it fails.

* ``auto`` falls back to the python backend, with one warning naming the
  mechanism, the method and the reason, for code numba cannot compile;
  ``backend="numba"`` refuses such code at ``build()``.
* Element-wise code compiles to the "scalar" form, code that indexes ``pp``
  fields across instances or loops over events to the "array" form; both give
  the python backend's results.
* Errors inside compiled code stop ``sim.run()`` with a clear message, and
  the process stays usable.
* Generated modules are cached on disk: a second process loads them, and a
  change of a helper or of a constant gives a new module (no stale code).
* No Python runs during ``sim.run()``.
* The method and the helpers it calls (from any module) each keep their own
  globals, or the mechanism is not compiled.

Numba compiles take seconds: the mechanisms of this file are small, and the
builds are shared by module-scoped fixtures.
"""
import decimal
import importlib.util
import json
import sys
import threading
import warnings
from pathlib import Path

import arbor
import numpy as np
import pytest
from arbor import units as U

import arbor_pycat
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat import CustomMechanism, MechanismError, cnexp
from arbor_pycat.declarations import spec_of
from pycat_cell import OneCell, check_snippet

# -- mechanisms numba cannot compile ---------------------------------------------


class _Doubler:
    """A plain Python object: numba cannot call its methods."""

    def scale(self, x):
        return 2.0 * x


DOUBLER = _Doubler()


class PrintsDir(CustomMechanism):
    """Prints and inspects pp: fine in Python, not in numba."""
    name = "nbt_prints_dir"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        print(dir(pp))
        pp.m = pp.m + pp.dt                 # m(t) = t


class CallsObject(CustomMechanism):
    """Calls a method of a plain Python object."""
    name = "nbt_calls_object"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + DOUBLER.scale(pp.dt)  # m(t) = 2 t


class UsesDecimal(CustomMechanism):
    """Uses a standard-library module numba knows nothing about."""
    name = "nbt_uses_decimal"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + pp.dt * float(decimal.Decimal("3"))   # m(t) = 3 t


class UsesSelf(CustomMechanism):
    """Reads an attribute that __init__ sets (the compiler sees class attributes only)."""
    name = "nbt_uses_self"
    state_vars = [("m", "", 0.0)]

    def __init__(self):
        super().__init__()
        self.factor = 4.0

    def advance_state(self, pp):
        pp.m = pp.m + self.factor * pp.dt   # m(t) = 4 t


# class -> slope of m(t)
UNCOMPILABLE = {PrintsDir: 1.0, CallsObject: 2.0, UsesDecimal: 3.0, UsesSelf: 4.0}


class StateCell(OneCell):
    """OneCell that also probes state variables of its mechanisms, with events to every synapse.

    ``density_states``/``point_states``: ``[(mechanism, state), ...]``; each is
    sampled under the tag ``"mechanism.state"``. Voltage: every CV (tag "vcell").
    """

    def __init__(self, catalogue, density_states=(), point_states=(), **options):
        super().__init__(catalogue, **options)
        self.density_states = list(density_states)
        self.point_states = list(point_states)

    def event_generators(self, gid):
        """The events go to every synapse, not only syn0."""
        if not self.event_times:
            return []
        schedule = arbor.explicit_schedule([t * U.ms for t in self.event_times])
        return [arbor.event_generator(f"syn{k}", self.weight, schedule) for k in range(len(self.place))]

    def probes(self, gid):
        probes = [arbor.cable_probe_membrane_voltage_cell("vcell")]
        probes += [arbor.cable_probe_density_state_cell(m, s, f"{m}.{s}") for m, s in self.density_states]
        probes += [arbor.cable_probe_point_state_cell(m, s, f"{m}.{s}") for m, s in self.point_states]
        return probes


def run_probed(recipe, t_end, dt=0.025, every=0.1, threads=1):
    """Run ``recipe``; return ({tag: (times, values)}, spike times)."""
    sim = arbor.simulation(recipe, arbor.context(threads=threads))
    sim.record(arbor.spike_recording.local)
    tags = ["vcell"] + [f"{m}.{s}" for m, s in recipe.density_states + recipe.point_states]
    handles = {tag: sim.sample((0, tag), arbor.regular_schedule(every * U.ms)) for tag in tags}
    sim.run(t_end * U.ms, dt * U.ms)
    out = {}
    for tag, handle in handles.items():
        data, _ = sim.samples(handle)[0]
        out[tag] = (data[:, 0], data[:, 1:])
    return out, [float(s[1]) for s in sim.spikes()]


# -- 1 and 2: fallback and forced numba ------------------------------------------

@pytest.fixture(scope="module")
def fallback_build():
    """build() (default backend: auto) of the four uncompilable mechanisms, with its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalogue = arbor_pycat.build(*UNCOMPILABLE)
    backends = dict(arbor_pycat.builder.last_backends)
    return catalogue, backends, [str(w.message) for w in caught]


@pytest.mark.parametrize("cls", list(UNCOMPILABLE), ids=lambda c: c.__name__)
def test_auto_falls_back_with_one_warning(fallback_build, cls):
    _, backends, messages = fallback_build
    assert backends[cls.name] == "python"
    mine = [m for m in messages if cls.name in m]
    assert len(mine) == 1, messages
    text = mine[0]
    assert cls.__name__ in text and "advance_state" in text and "python backend" in text, text
    # the reason, in a few words
    reason = {PrintsDir: "pp", CallsObject: "DOUBLER", UsesDecimal: "Decimal", UsesSelf: "self"}[cls]
    assert reason in text, text
    # no method name repeated as "advance_state: advance_state"
    assert "advance_state: advance_state" not in text, text


def test_fallen_back_mechanisms_give_correct_results(fallback_build, capsys):
    catalogue, _, _ = fallback_build
    names = [cls.name for cls in UNCOMPILABLE]
    recipe = StateCell(catalogue, paint=names, clamp=0.0, density_states=[(n, "m") for n in names])
    traces, _ = run_probed(recipe, t_end=1.0, every=0.25)
    for cls, slope in UNCOMPILABLE.items():
        times, m = traces[f"{cls.name}.m"]
        assert m.shape == (4, 1)
        # m grows by slope * dt each step: m(t) = slope * t, within one step
        np.testing.assert_allclose(m[:, 0], slope * times, rtol=0, atol=slope * 0.025 * 1.01)
        assert m[-1, 0] > 0.5 * slope
    assert "'width'" in capsys.readouterr().out      # print(dir(pp)) ran


def test_compilable_code_builds_with_numba_without_a_warning(compiled_styles):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arbor_pycat.build(*STYLES)             # default backend: auto
    assert not [str(w.message) for w in caught if "backend" in str(w.message)]
    assert arbor_pycat.builder.last_backends == {cls.name: "numba" for cls in STYLES}


@pytest.mark.parametrize("cls", list(UNCOMPILABLE), ids=lambda c: c.__name__)
def test_forced_numba_refuses_uncompilable_code(cls):
    with pytest.raises(MechanismError) as info:
        arbor_pycat.build(cls, backend="numba")
    text = str(info.value)
    assert cls.name in text and cls.__name__ in text and "advance_state" in text, text
    assert "numba" in text, text


def test_forced_numba_on_the_class_refuses_too():
    class Forced(UsesSelf):
        name = "nbt_forced"
        backend = "numba"
    with pytest.raises(MechanismError, match="nbt_forced.*advance_state"):
        arbor_pycat.build(Forced)     # the class's choice wins over build()'s default (auto)


# -- 3: the two compiled forms give the python backend's results -------------------

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
    return {cls: numba_backend.compile(spec_of(cls)) for cls in STYLES}


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


# -- 6: no Python during sim.run() ------------------------------------------------

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


# -- 4: errors inside compiled code ---------------------------------------------------

def test_runtime_errors_in_compiled_code_raise():
    result = check_snippet("""
import arbor
import numpy as np
import arbor_pycat
from arbor_pycat import CustomMechanism
from pycat_cell import OneCell, failure_text, simulate
from checks import assert_trace


class WrongShape(CustomMechanism):
    name = "nbt_wrong_shape"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = np.zeros(pp.width + 1)


class OutOfRange(CustomMechanism):
    name = "nbt_out_of_range"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m[pp.width + 5] = 1.0


class EventOutOfRange(CustomMechanism):
    name = "nbt_event_out_of_range"
    kind = "point"
    state_vars = [("g", "uS", 0.0)]

    def apply_events(self, pp, events):
        for target, weight in events:
            pp.g[target + 3] += weight


class Fine(CustomMechanism):
    name = "nbt_fine"
    state_vars = [("m", "", 0.0)]
    parameters = [("g", "S/cm2", 1e-3), ("e", "mV", -65.0)]

    def advance_state(self, pp):
        for k in range(pp.width):
            pp.m[k] += 1.0

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g


catalogue = arbor_pycat.build(WrongShape, OutOfRange, EventOutOfRange, backend="numba")
assert set(arbor_pycat.builder.last_backends.values()) == {"numba"}
assert arbor_pycat.last_error() is None
for name, method, expected in (("nbt_wrong_shape", "advance_state",
                                ["pp.m", "shape", "got an array of shape (5,) for 4 instances"]),
                               ("nbt_out_of_range", "advance_state", ["out of range"]),
                               ("nbt_event_out_of_range", "apply_events", ["out of range"])):
    for threads in (1, 2):
        if method == "apply_events":
            recipe = OneCell(catalogue, place=[name], events=[0.5])
        else:
            recipe = OneCell(catalogue, paint=[name], ncv=4)
        text = failure_text(recipe, threads=threads)
        assert name in text and method in text and "numba" in text, text
        for word in expected:
            assert word in text, text
        last = arbor_pycat.last_error()      # the same message, kept for later
        assert isinstance(last, arbor_pycat.MechanismRuntimeError), last
        assert str(last) == text and last.__cause__ is None, (str(last), text)
        assert arbor_pycat.last_error() is last
        print("RAISED", name, threads)

# the process is still usable: a new numba build runs
catalogue = arbor_pycat.build(Fine, backend="numba")
trace, _, _ = simulate(OneCell(catalogue, paint=["nbt_fine"], clamp=0.05), t_end=20.0)
# it ran: the clamp (from 10 ms) moves v off rest, against the leak (e = -65 mV)
assert_trace(trace, length=200, differs_from=-65.0, by=1.0)
assert np.all(np.abs(trace[:90] + 65.0) < 1e-9), trace[:90]
# and so is the catalogue that failed, with a mechanism that works
sim = arbor.simulation(OneCell(catalogue, paint=["nbt_fine"], clamp=0.0))
sim.run(1 * arbor.units.ms, 0.025 * arbor.units.ms)
print("STILL USABLE")
""")
    for name in ("nbt_wrong_shape", "nbt_out_of_range", "nbt_event_out_of_range"):
        for threads in (1, 2):
            assert f"RAISED {name} {threads}" in result.stdout, result.stdout
    assert "STILL USABLE" in result.stdout


def test_last_error_is_the_latest_of_either_backend():
    result = check_snippet("""
import arbor
import numpy as np
import arbor_pycat
from arbor_pycat import CustomMechanism
from pycat_cell import OneCell, failure_text


class Flat(CustomMechanism):
    name = "nbt_flat"
    backend = "numba"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = np.zeros((pp.width, 2))


class Loud(CustomMechanism):
    name = "nbt_loud"
    backend = "python"

    def advance_state(self, pp):
        raise ValueError("loud")


catalogue = arbor_pycat.build(Flat, Loud)
assert arbor_pycat.builder.last_backends == {"nbt_flat": "numba", "nbt_loud": "python"}


def fail(name):
    return failure_text(OneCell(catalogue, paint=[name], ncv=4))


fail("nbt_loud")
assert isinstance(arbor_pycat.last_error().__cause__, ValueError)
text = fail("nbt_flat")
assert "got a 2-d array of 8 values for 4 instances" in text, text
assert str(arbor_pycat.last_error()) == text
fail("nbt_loud")
assert isinstance(arbor_pycat.last_error().__cause__, ValueError)
print("ORDER OK")
""")
    assert "ORDER OK" in result.stdout


# -- 5: the disk cache ------------------------------------------------------------

CACHE_SNIPPET = """
import json
import arbor
import arbor_pycat
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat import CustomMechanism
from arbor_pycat.declarations import spec_of
from pycat_cell import OneCell, simulate

SCALE = 2.0


def bump(x):
    return SCALE * x


class Cached(CustomMechanism):
    name = "nbt_cached"
    state_vars = [("m", "", 0.0)]
    parameters = [("g", "S/cm2", 1e-3)]

    def init_mechanism(self, pp):           # array form (a while loop)
        k = 0
        while k < pp.width:
            pp.m[k] = 0.0
            k += 1

    def advance_state(self, pp):            # scalar form
        pp.m = pp.m + bump(pp.dt)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v + 65.0) * (1.0 + 0.0 * pp.m)
        pp.conductance = pp.g


compiled = numba_backend.compile(spec_of(Cached))
catalogue = arbor_pycat.build(Cached, backend="numba")
trace, _, _ = simulate(OneCell(catalogue, paint=["nbt_cached"], clamp=0.0), t_end=2.0)
print("RESULT " + json.dumps({
    "file": compiled.module.__file__,
    "modes": compiled.modes,
    "cache_hits": {m: f.cache_hits for m, f in compiled.module._pycat_cfuncs.items()},
    "trace": [float(x) for x in trace],
}))
"""


def _result(output):
    line = [line for line in output.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _numba_cache_files(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in Path(folder).rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_second_process_loads_from_the_disk_cache(tmp_path):
    env = {"ARBOR_PYCAT_CACHE_DIR": str(tmp_path)}
    first = _result(check_snippet(CACHE_SNIPPET, env=env).stdout)
    assert Path(first["file"]).parent == tmp_path
    assert first["modes"] == {"init_mechanism": "array", "advance_state": "scalar",
                              "compute_currents": "scalar"}
    assert first["cache_hits"] == {m: 0 for m in first["modes"]}, first["cache_hits"]
    files = _numba_cache_files(tmp_path)
    assert any(name.endswith(".nbi") for name in files), files
    assert any(name.endswith(".nbc") for name in files), files

    second = _result(check_snippet(CACHE_SNIPPET, env=env).stdout)
    assert second["file"] == first["file"]
    assert all(hits >= 1 for hits in second["cache_hits"].values()), second["cache_hits"]
    assert _numba_cache_files(tmp_path) == files       # nothing compiled, nothing rewritten
    assert second["trace"] == first["trace"]


MECHANISM_MODULE = """
import numpy as np
from arbor_pycat import CustomMechanism
import {config} as config

SCALE = {scale}


def bump(x):
    return {bump}


class Stale(CustomMechanism):
    name = "nbt_stale"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + bump(pp.dt) + config.OFFSET * pp.dt
"""


def _import_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _slope(cls, backend="numba"):
    """d m / d t of ``cls`` built with ``backend``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # a fallback warns again; the tests check it elsewhere
        catalogue = arbor_pycat.build(cls, backend=backend)
    recipe = StateCell(catalogue, paint=[cls.name], clamp=0.0, density_states=[(cls.name, "m")])
    traces, _ = run_probed(recipe, t_end=1.0, every=0.25)
    times, m = traces[f"{cls.name}.m"]
    return (m[-1, 0] - m[-2, 0]) / (times[-1] - times[-2])


def test_changed_helpers_and_constants_give_new_modules(tmp_path, monkeypatch):
    """A changed helper, module constant or constant of another module is never served stale."""
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path / "cache"))
    config_name = f"nbt_config_{tmp_path.name}"
    (tmp_path / f"{config_name}.py").write_text("OFFSET = 0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = importlib.import_module(config_name)

    variants = {
        "base": dict(scale="2.0", bump="SCALE * x"),            # slope 2
        "constant": dict(scale="3.0", bump="SCALE * x"),        # slope 3
        "helper": dict(scale="2.0", bump="SCALE * x + 3.0 * x"),   # slope 5
    }
    files, slopes = {}, {}
    for label, options in variants.items():
        path = tmp_path / f"nbt_mechanisms_{label}.py"
        path.write_text(MECHANISM_MODULE.format(config=config_name, **options))
        module = _import_file(path, f"nbt_mechanisms_{label}_{tmp_path.name}")
        compiled = numba_backend.compile(spec_of(module.Stale))
        files[label] = compiled.module.__file__
        slopes[label] = _slope(module.Stale)
    # a constant of another module, changed in place (a notebook editing its settings)
    config.OFFSET = 10.0
    compiled = numba_backend.compile(spec_of(module.Stale))
    files["other module"] = compiled.module.__file__
    slopes["other module"] = _slope(module.Stale)

    assert len(set(files.values())) == len(files), files
    assert all(Path(f).parent == tmp_path / "cache" for f in files.values())
    assert "3.0 * " in Path(files["helper"]).read_text()
    expected = {"base": 2.0, "constant": 3.0, "helper": 5.0, "other module": 15.0}
    for label, slope in expected.items():
        assert slopes[label] == pytest.approx(slope, rel=1e-9), (label, slopes)


def test_closure_values_are_part_of_the_fingerprint(tmp_path, monkeypatch):
    """Classes made by a factory differ only in a closure value: two modules, two results."""
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path))

    def make(scale):
        class Made(CustomMechanism):
            name = "nbt_made"
            state_vars = [("m", "", 0.0)]

            def advance_state(self, pp):
                pp.m = pp.m + scale * pp.dt
        return Made

    two, three = make(2.0), make(3.0)
    files = {numba_backend.compile(spec_of(cls)).module.__file__ for cls in (two, three)}
    assert len(files) == 2
    assert _slope(two) == pytest.approx(2.0, rel=1e-9)
    assert _slope(three) == pytest.approx(3.0, rel=1e-9)


# -- one namespace for the method and its helpers ------------------------------------

OTHER_LIBRARY = """
SCALE = 3.0
TAU = 4.0


def rate(x):
    return SCALE * x


def twice(x):
    return 2.0 * x


def rate2(x):
    return twice(x)


def relax(x):
    return x / TAU
"""

CLASHING_MECHANISMS = """
from arbor_pycat import CustomMechanism
from {library} import rate, rate2, relax

SCALE = 2.0
TAU = 4.0


def twice(x):
    return 5.0 * x


class SameConstantName(CustomMechanism):
    name = "nbt_same_constant_name"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + rate(pp.dt) + 0.0 * SCALE          # slope 3 (rate uses its own SCALE)


class SameHelperName(CustomMechanism):
    name = "nbt_same_helper_name"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + twice(pp.dt) + rate2(pp.dt)        # slope 5 + 2


class EqualConstants(CustomMechanism):
    name = "nbt_equal_constants"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + relax(pp.dt) * TAU * 8.0           # slope 8 (both TAU are 4.0)
"""


def test_names_meaning_different_objects_in_helpers_are_not_mixed_up(tmp_path, monkeypatch):
    """A helper from another module keeps its own globals (the compiled code once used the method's)."""
    library = f"nbt_library_{tmp_path.name}"
    (tmp_path / f"{library}.py").write_text(OTHER_LIBRARY)
    (tmp_path / f"nbt_clashing_{tmp_path.name}.py").write_text(CLASHING_MECHANISMS.format(library=library))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(f"nbt_clashing_{tmp_path.name}")
    expected = {module.SameConstantName: ("numba", None, 3.0),
                module.SameHelperName: ("numba", None, 7.0),
                module.EqualConstants: ("numba", None, 8.0)}
    for cls, (backend, word, slope) in expected.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            arbor_pycat.build(cls)
        assert arbor_pycat.builder.last_backends == {cls.name: backend}
        messages = [str(w.message) for w in caught if "backend" in str(w.message)]
        if word is None:
            assert not messages, messages
        else:
            assert len(messages) == 1 and word in messages[0] and cls.name in messages[0], messages
        assert _slope(cls, backend="auto") == pytest.approx(slope, rel=1e-9), cls.__name__


NJIT_MODULE = """
from numba import njit
from arbor_pycat import CustomMechanism


@njit
def inner(x):
    return {factor} * x


@njit
def outer(x):
    return inner(x)


class CallsNjit(CustomMechanism):
    name = "nbt_calls_njit"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + outer(pp.dt)
"""


def test_a_users_njit_function_is_keyed_by_what_it_calls(tmp_path, monkeypatch):
    """Two modules whose @njit ``outer`` is the same text but calls a different
    ``inner``: numba's cache sees only ``outer``; arbor_pycat must not mix them up."""
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path / "cache"))
    slopes, files = {}, {}
    for factor in ("2.0", "3.0"):
        path = tmp_path / f"nbt_njit_{factor[0]}.py"
        path.write_text(NJIT_MODULE.format(factor=factor))
        module = _import_file(path, f"nbt_njit_{factor[0]}_{tmp_path.name}")
        files[factor] = numba_backend.compile(spec_of(module.CallsNjit)).module.__file__
        slopes[factor] = _slope(module.CallsNjit)
        assert arbor_pycat.builder.last_backends["nbt_calls_njit"] == "numba"
    assert files["2.0"] != files["3.0"]
    assert slopes["2.0"] == pytest.approx(2.0, rel=1e-9)
    assert slopes["3.0"] == pytest.approx(3.0, rel=1e-9)


RATES_MODULE = """
import numpy as np


def rate(v):
    return 0.5 * np.exp(-v / 20.0) + offset(v)


def offset(v):
    return 0.01 * v / 4.0
"""

USES_MODULE = """
import numpy as np
from arbor_pycat import CustomMechanism
import {rates} as rates


class ViaModule(CustomMechanism):
    name = "nbt_via_module"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):            # scalar form
        pp.m = pp.m + pp.dt * rates.rate(pp.v)


class ViaModuleLoop(CustomMechanism):
    name = "nbt_via_module_loop"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):            # array form (a while loop)
        k = 0
        while k < pp.width:
            pp.m[k] += pp.dt * rates.rate(pp.v[k])
            k += 1
"""


def test_functions_called_through_their_module_compile(tmp_path, monkeypatch):
    """``rates.rate(v)`` (a function of the user's own module, called through the
    module) compiles like a function called by its name, in both forms."""
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    rates = f"nbt_rates_{tmp_path.name}"
    (tmp_path / f"{rates}.py").write_text(RATES_MODULE)
    path = tmp_path / "nbt_uses_module.py"
    path.write_text(USES_MODULE.format(rates=rates))
    module = _import_file(path, f"nbt_uses_module_{tmp_path.name}")
    expected = 0.5 * np.exp(65.0 / 20.0) + 0.01 * -65.0 / 4.0     # dm/dt at rest (v = -65 mV)
    for cls, form in ((module.ViaModule, "scalar"), (module.ViaModuleLoop, "array")):
        compiled = numba_backend.compile(spec_of(cls))
        assert compiled.modes["advance_state"] == form
        assert _slope(cls, backend="numba") == pytest.approx(expected, rel=1e-9)
        assert arbor_pycat.builder.last_backends[cls.name] == "numba"
