"""Errors inside a running simulation.

Every test runs its simulation in a fresh interpreter (``check_snippet``): an
exception that crossed Arbor's C++ badly would crash the process, and must
fail one test rather than kill pytest. Each snippet ends by building and
running another simulation, to show the process stays usable.
"""
import pytest

from pycat_cell import check_snippet

PRELUDE = """
import warnings
import arbor
import numpy as np
import arbor_pycat
from arbor_pycat import CustomMechanism, IonInfo, MechanismError, register
from pycat_cell import OneCell, failure_text, simulate
from checks import assert_trace, trace_time


class Boom(Exception):
    pass


def still_usable():
    '''Build and run a fresh simulation: the process survived the error.'''
    @register
    class AfterLeak(CustomMechanism):
        name = "after_leak"
        parameters = [("g", "S/cm2", 1e-3), ("e", "mV", -50.0)]

        def compute_currents(self, pp):
            pp.i = pp.g * (pp.v - pp.e)
            pp.conductance = pp.g

    catalogue = arbor_pycat.build(AfterLeak, backend="python")
    trace, _, _ = simulate(OneCell(catalogue, paint=["after_leak"], clamp=0.0), t_end=5.0)
    # the leak ran: from rest (-65 mV) towards its e (-50 mV, tau = 1 ms, Arbor's
    # implicit Euler steps of 0.025 ms)
    assert_trace(trace, length=50, differs_from=-65.0, by=10.0, near=-50.0 - 15.0 * 1.025 ** (-trace_time(trace) / 0.025),
                 atol=1e-6)
    print("STILL USABLE")
"""


def run(body, threads=1):
    """Run PRELUDE + body in a subprocess; it must exit cleanly and print STILL USABLE."""
    code = PRELUDE + body.replace("THREADS", str(threads)) + "\nstill_usable()\n"
    result = check_snippet(code)
    assert "STILL USABLE" in result.stdout, result.stdout + result.stderr
    return result


RAISING_MECHANISM = """
METHOD = {method!r}
SKIP = {skip}        # calls of METHOD that succeed before it raises
calls = []


def raise_here(where):
    if where == METHOD:
        calls.append(where)
        if len(calls) > SKIP:
            raise Boom("kaboom 42 in " + where)


@register
class Raiser(CustomMechanism):
    name = "raiser"
    kind = {kind!r}

    def init_mechanism(self, pp):
        raise_here("init_mechanism")

    def compute_currents(self, pp):
        raise_here("compute_currents")
        pp.i = 0.0
        pp.conductance = 0.0

    def advance_state(self, pp):
        raise_here("advance_state")

    def write_ions(self, pp):
        raise_here("write_ions")

    if {kind!r} == "point":      # Arbor delivers events to point mechanisms only
        def apply_events(self, pp, events):
            raise_here("apply_events")

    def post_event(self, pp):
        raise_here("post_event")


catalogue = arbor_pycat.build(Raiser, backend="python")
if Raiser.kind == "point":
    # hh makes the cell spike (post_event); events reach the synapse at 5 ms.
    recipe = OneCell(catalogue, paint=["hh"], place=["raiser"], events=[5.0], detector=True)
else:
    recipe = OneCell(catalogue, paint=["hh", "raiser"])
context = arbor.context(threads=THREADS)
"""

CHECK_ERROR = """
text = str(error)
assert "raiser" in text, text                          # the mechanism
assert "Raiser" in text, text                          # its class
assert METHOD in text, text                            # the method
assert "Boom" in text and "kaboom 42 in " + METHOD in text, text   # the original exception
assert "Traceback" in text and "raise_here" in text, text          # and its traceback
last = arbor_pycat.last_error()
assert isinstance(last, arbor_pycat.MechanismRuntimeError), last
assert isinstance(last.__cause__, Boom), repr(last.__cause__)
assert str(last.__cause__) == "kaboom 42 in " + METHOD
assert last.__cause__.__traceback__ is not None
assert METHOD in str(last)
print("CHECKED", METHOD)
"""


def test_exception_in_init_mechanism_raises_from_simulation():
    body = RAISING_MECHANISM.format(method="init_mechanism", kind="density", skip=0) + """
try:
    sim = arbor.simulation(recipe, context)
except RuntimeError as exc:
    error = exc
else:
    raise AssertionError("arbor.simulation() did not raise")
""" + CHECK_ERROR
    result = run(body)
    assert "CHECKED init_mechanism" in result.stdout


@pytest.mark.parametrize("method, kind, skip", [
    ("compute_currents", "density", 0),
    ("compute_currents", "density", 100),
    ("advance_state", "density", 0),
    ("write_ions", "density", 0),       # Arbor calls it at initialisation: simulation() raises
    ("write_ions", "density", 100),     # later: sim.run() raises
    ("init_mechanism", "point", 0),
    ("compute_currents", "point", 0),
    ("apply_events", "point", 0),
    ("post_event", "point", 0),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_exception_in_a_method(method, kind, skip, threads):
    body = RAISING_MECHANISM.format(method=method, kind=kind, skip=skip) + """
# Arbor calls init_mechanism and write_ions while it builds the simulation, the
# others only in sim.run().
at_init = METHOD == "init_mechanism" or (METHOD == "write_ions" and SKIP == 0)
try:
    sim = arbor.simulation(recipe, context)
except RuntimeError as exc:
    assert at_init, "arbor.simulation() raised for " + METHOD
    error = exc
else:
    assert not at_init, "arbor.simulation() did not raise"
    sim.record(arbor.spike_recording.local)
    try:
        sim.run(100 * arbor.units.ms, 0.025 * arbor.units.ms)
    except RuntimeError as exc:
        error = exc
    else:
        raise AssertionError("sim.run() did not raise")
""" + CHECK_ERROR
    result = run(body, threads=threads)
    assert f"CHECKED {method}" in result.stdout


def test_last_error_is_none_before_any_failure():
    run("""
assert arbor_pycat.last_error() is None
""")


def test_error_raised_by_numpy_inside_a_method():
    result = run("""
@register
class Divides(CustomMechanism):
    name = "divides"
    state_vars = [("x", "", 0.0)]

    def advance_state(self, pp):
        with np.errstate(divide="raise"):
            pp.x = 1.0 / np.zeros(pp.width)

cat = arbor_pycat.build(Divides, backend="python")
text = failure_text(OneCell(cat, paint=["divides"]))
assert "divides" in text and "advance_state" in text and "FloatingPointError" in text
assert isinstance(arbor_pycat.last_error().__cause__, FloatingPointError)
print("RAISED")
""")
    assert "RAISED" in result.stdout


# -- what pp refuses at run time ---------------------------------------------------

def test_wrong_shape_assignment_names_the_field():
    result = run("""
@register
class WrongShape(CustomMechanism):
    name = "wrong_shape"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = np.zeros(pp.width + 1)

cat = arbor_pycat.build(WrongShape, backend="python")
text = failure_text(OneCell(cat, paint=["wrong_shape"], ncv=4))
assert "wrong_shape" in text and "advance_state" in text, text
assert "pp.m" in text and "(5,)" in text and "(4,)" in text, text
assert isinstance(arbor_pycat.last_error().__cause__, MechanismError)
print("RAISED")
""")
    assert "RAISED" in result.stdout


def test_wrong_shape_current_names_the_field():
    result = run("""
@register
class WrongCurrent(CustomMechanism):
    name = "wrong_current"

    def compute_currents(self, pp):
        pp.i = np.zeros((pp.width, 2))
        pp.conductance = 0.0

cat = arbor_pycat.build(WrongCurrent, backend="python")
text = failure_text(OneCell(cat, paint=["wrong_current"], ncv=3))
assert "wrong_current" in text and "compute_currents" in text and "pp.i" in text, text
print("RAISED")
""")
    assert "RAISED" in result.stdout


def test_scalar_assignment_broadcasts():
    result = run("""
@register
class Scalar(CustomMechanism):
    name = "scalar_state"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = 0.5
        assert pp.m.shape == (pp.width,) and np.all(pp.m == 0.5)

cat = arbor_pycat.build(Scalar, backend="python")
simulate(OneCell(cat, paint=["scalar_state"], ncv=3), t_end=1.0)
print("BROADCAST")
""")
    assert "BROADCAST" in result.stdout


def test_float32_assignment_warns_once():
    result = run("""
@register
class Single(CustomMechanism):
    name = "single"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = np.full(pp.width, 0.25, dtype=np.float32)

cat = arbor_pycat.build(Single, backend="python")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    simulate(OneCell(cat, paint=["single"], ncv=2), t_end=2.0)    # 80 steps
    simulate(OneCell(cat, paint=["single"], ncv=2), t_end=2.0)    # and a second simulation
relevant = [w for w in caught if "float32" in str(w.message)]
assert len(relevant) == 1, [str(w.message) for w in caught]
text = str(relevant[0].message)
assert "single" in text and "pp.m" in text, text
print("WARNED ONCE")
""")
    assert "WARNED ONCE" in result.stdout


def test_opaque_write_of_an_undeclared_ion_field_at_run_time():
    """pp passed to a helper: the library cannot see the write before running it."""
    result = run("""
def set_eka(pp):
    pp.eka = 80.0


@register
class Hidden(CustomMechanism):
    name = "hidden_eka"
    ions = [IonInfo("ca")]

    def write_ions(self, pp):
        set_eka(pp)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    cat = arbor_pycat.build(Hidden, backend="python")
try:
    # Arbor runs write_ions during initialisation too: the error may come from either
    sim = arbor.simulation(OneCell(cat, paint=["hidden_eka"]))
    sim.run(1 * arbor.units.ms, 0.025 * arbor.units.ms)
except RuntimeError as exc:
    text = str(exc)
    assert "hidden_eka" in text and "write_ions" in text and "eka" in text, text
    assert isinstance(arbor_pycat.last_error().__cause__, MechanismError)
    print("RAISED")
""")
    assert "RAISED" in result.stdout


def test_opaque_write_of_v_in_a_density_mechanism_at_run_time():
    result = run("""
def clamp(pp):
    pp.v = -70.0


@register
class HiddenV(CustomMechanism):
    name = "hidden_v"

    def advance_state(self, pp):
        clamp(pp)

cat = arbor_pycat.build(HiddenV, backend="python")
text = failure_text(OneCell(cat, paint=["hidden_v"]))
assert "hidden_v" in text and "advance_state" in text and "pp.v" in text, text
print("RAISED")
""")
    assert "RAISED" in result.stdout


def test_opaque_current_write_from_a_reversal_potential_mechanism_at_run_time():
    result = run("""
def nernst(pp):
    pp.eca = 12.5 * np.log(pp.cao / pp.cai)
    pp.i = 0.0


@register
class HiddenRev(CustomMechanism):
    name = "hidden_rev"
    kind = "reversal_potential"
    ions = [IonInfo("ca", write_rev_potential=True)]

    def compute_currents(self, pp):
        nernst(pp)


@register
class UsesCa(CustomMechanism):
    name = "uses_ca"          # Arbor instantiates the ca method only where ca is used
    ions = [IonInfo("ca")]

    def compute_currents(self, pp):
        pp.ica = 0.0 * (pp.v - pp.eca)
        pp.conductance = 0.0

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    cat = arbor_pycat.build(HiddenRev, UsesCa, backend="python")
text = failure_text(OneCell(cat, paint=["uses_ca"], ions={"ca": "hidden_rev"}))
assert "hidden_rev" in text and "compute_currents" in text and "pp.i" in text, text
print("RAISED")
""")
    assert "RAISED" in result.stdout


def test_simulation_can_be_rebuilt_after_a_failed_run():
    """The same catalogue, after an error, still gives a working simulation."""
    result = run("""
FAIL = [True]


@register
class Flaky(CustomMechanism):
    name = "flaky"
    parameters = [("g", "S/cm2", 1e-3)]

    def compute_currents(self, pp):
        if FAIL[0]:
            raise Boom("first time")
        pp.i = pp.g * (pp.v + 50.0)
        pp.conductance = pp.g

cat = arbor_pycat.build(Flaky, backend="python")
try:
    simulate(OneCell(cat, paint=["flaky"], clamp=0.0), t_end=1.0)
except RuntimeError:
    pass
else:
    raise AssertionError("no error")
FAIL[0] = False
trace, _, _ = simulate(OneCell(cat, paint=["flaky"], clamp=0.0), t_end=5.0)
assert_trace(trace, length=50, differs_from=-65.0, by=10.0, near=-50.0 - 15.0 * 1.025 ** (-trace_time(trace) / 0.025),
             atol=1e-6)
print("REBUILT")
""")
    assert "REBUILT" in result.stdout
