"""np.clip, np.maximum and np.minimum against constants, compiled to one select
each (``mathlib.above`` ...): the compiled scalar kernel must give numpy's
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
    compiled = numba_backend.compile(spec_of(Bounds))
    assert compiled.forms["advance_state"] == "scalar"
    return getattr(compiled.module, "__pc_kernel_advance_state_scalar")


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_compiled_bounds_equal_numpy_bit_for_bit(kernel, value):
    names = sorted(CASES)
    got = dict(zip(names, kernel(*([0.0] * len(names)), value)))
    for name in names:
        expected = CASES[name](np.array([value]))[0]
        assert _bits(got[name]) == _bits(expected), (name, value, got[name], expected)
