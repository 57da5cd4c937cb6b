"""The numba backend: when it compiles and when it falls back.

``auto`` falls back to the python backend, with one warning naming the
mechanism, the method and the reason, for code numba cannot compile;
``backend="numba"`` refuses such code at ``build()``.
"""
import decimal
import warnings

import numpy as np
import pytest

import arbor_pycat
from arbor_pycat import CustomMechanism, MechanismError
from pycat_cell import StateCell, run_probed


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


# -- fallback and forced numba ------------------------------------------

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
