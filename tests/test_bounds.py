"""np.clip, np.maximum and np.minimum against constants, compiled to one select
each (``mathlib.above`` ...), and ``exp`` of a value clipped within exp's range
(without the overflow selects): the compiled scalar kernel must give numpy's
result bit for bit, NaN and infinities included, for every value; a zero may
differ from numpy's in its sign (README: numpy's own choice on ties depends on
its loops, e.g. ``np.clip(-20.0, -0.0, 0.0)`` is -0.0 with both bounds and
``np.clip(-0.0, None, 0.0)`` is 0.0 with one).

The kernel the numba backend generates is called directly on single values
(no Arbor), and compared with numpy on one-element arrays, which is what the
python backend computes for one instance.
"""
import numpy as np
import pytest

from arbor_pycat import CustomMechanism
from arbor_pycat.declarations import spec_of

CASES = {
    "a": lambda v: np.clip(v, -20.0, 20.0),
    "b": lambda v: np.clip(v, 0.0, None),
    "c": lambda v: np.clip(v, None, -0.0),
    "d": lambda v: np.clip(v, -0.0, 0.0),
    "e": lambda v: np.maximum(v, 0.0),
    "f": lambda v: np.maximum(0.0, v),
    "g": lambda v: np.minimum(v, -0.0),
    "h": lambda v: np.minimum(-0.0, v),
    "p": lambda v: np.maximum(v, 3),
    "j": lambda v: np.minimum(2.5, v),
    "k": lambda v: np.clip(v, -3, 7),
    "l": lambda v: np.maximum(v, -0.0),
}


class Bounds(CustomMechanism):
    name = "bounds_selects"
    state_vars = [(name, "", 0.0) for name in CASES]

    def advance_state(self, pp):
        pp.a = np.clip(pp.v, -20.0, 20.0)
        pp.b = np.clip(pp.v, 0.0, None)
        pp.c = np.clip(pp.v, None, -0.0)
        pp.d = np.clip(pp.v, -0.0, 0.0)
        pp.e = np.maximum(pp.v, 0.0)
        pp.f = np.maximum(0.0, pp.v)
        pp.g = np.minimum(pp.v, -0.0)
        pp.h = np.minimum(-0.0, pp.v)
        pp.p = np.maximum(pp.v, 3)
        pp.j = np.minimum(2.5, pp.v)
        pp.k = np.clip(pp.v, -3, 7)
        pp.l = np.maximum(pp.v, -0.0)


VALUES = [np.nan, -np.nan, 0.0, -0.0, np.inf, -np.inf, -20.0, 20.0, 3.0, 2.5, -3.0, 7.0,
          5e-324, -5e-324, 1e308, -30.5, 30.5, 1.0]


def _bits(x):
    x = np.float64(x)
    if np.isnan(x):
        return "nan"
    return "zero" if x == 0 else np.array(x).view(np.int64).item()


@pytest.fixture(scope="module")
def kernel():
    from arbor_pycat.backends import numba as numba_backend
    compiled = numba_backend.compile(spec_of(Bounds), native_library=False)
    assert compiled.forms["advance_state"] == "scalar"
    return getattr(compiled.module, "__pc_kernel_advance_state_scalar")


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_compiled_bounds_equal_numpy_bit_for_bit(kernel, value):
    names = sorted(CASES)
    got = dict(zip(names, kernel(*([0.0] * len(names)), value)))
    for name in names:
        expected = CASES[name](np.array([value]))[0]
        assert _bits(got[name]) == _bits(expected), (name, value, got[name], expected)


# -- exp of a clipped value ------------------------------------------------------
def test_exp_in_range_is_exp_bit_for_bit():
    """mathlib._exp_in_range (taken for exp of an argument clipped within exp's range)
    is _exp_scalar without the overflow and flush selects: the same value there."""
    from numba import njit
    from arbor_pycat.backends.numba import mathlib

    @njit
    def both(x, a, b):
        for k in range(x.size):
            a[k] = mathlib._exp_scalar(x[k])
            b[k] = mathlib._exp_in_range(x[k])

    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(mathlib._EXP_LOW, mathlib._EXP_HIGH, 200_000), rng.uniform(-30, 30, 200_000),
                        [mathlib._EXP_LOW, mathlib._EXP_HIGH, 0.0, -0.0, 5e-324, -20.0, 20.0, np.nan]])
    a, b = np.empty_like(x), np.empty_like(x)
    both(x, a, b)
    assert np.array_equal(a.view(np.int64), b.view(np.int64))     # NaN: both return the argument


class ClippedExp(CustomMechanism):
    name = "bounds_clipped_exp"
    state_vars = [("a", "", 0.0), ("b", "", 0.0), ("c", "", 0.0), ("d", "", 0.0), ("e", "", 0.0)]

    def advance_state(self, pp):
        pp.a = np.exp(np.clip(pp.v, -20.0, 20.0))              # within exp's range: no selects
        pp.b = np.exp(np.minimum(np.maximum(pp.v, -50), 50))    # the same, spelled out
        pp.c = np.exp(np.clip(pp.v, -800.0, 20.0))             # below -708: exp flushes, keep the selects
        pp.d = np.exp(np.maximum(pp.v, -20.0))                  # one bound only
        pp.e = np.exp(np.clip(pp.v, 709.0, -800.0))            # bounds crossed: the result is -800


def test_exp_of_a_clipped_value_skips_the_range_checks_only_where_it_may():
    import inspect
    from arbor_pycat.backends import numba as numba_backend
    compiled = numba_backend.compile(spec_of(ClippedExp), native_library=False)
    assert compiled.forms["advance_state"] == "scalar"
    source = inspect.getsource(compiled.module).split("def __pc_kernel_advance_state_scalar")[1].split("\n\n")[0]
    lines = {line.split("=")[0].strip()[len("__pc_f_"):]: line for line in source.splitlines() if "__pc_f_" in line
             and "=" in line and "return" not in line}
    assert "s_exp_in_range" in lines["a"] and "s_exp_in_range" in lines["b"], source
    for name in "cde":
        assert "s_exp(" in lines[name] and "s_exp_in_range" not in lines[name], (name, source)
    kernel = getattr(compiled.module, "__pc_kernel_advance_state_scalar")
    for v in (np.nan, -1e300, -900.0, -30.0, -1.5, 0.0, 1.5, 30.0, 700.0, 1e300):
        got = kernel(0.0, 0.0, 0.0, 0.0, 0.0, v)
        with np.errstate(over="ignore"):
            expected = [f(np.array([v]))[0] for f in (lambda x: np.exp(np.clip(x, -20.0, 20.0)),
                                                      lambda x: np.exp(np.minimum(np.maximum(x, -50), 50)),
                                                      lambda x: np.exp(np.clip(x, -800.0, 20.0)),
                                                      lambda x: np.exp(np.maximum(x, -20.0)),
                                                      lambda x: np.exp(np.clip(x, 709.0, -800.0)))]
        for name, g, e in zip("abcde", got, expected):
            assert (np.isnan(g) and np.isnan(e)) or np.isclose(g, e, rtol=1e-15, atol=0.0) \
                or (e < 3e-308 and g == 0.0), (name, v, g, e)
