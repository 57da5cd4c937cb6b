"""Errors inside numba-compiled code stop ``sim.run()`` with a clear message,
and the process stays usable."""
from pycat_cell import check_snippet


# -- errors inside compiled code ---------------------------------------------------

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
