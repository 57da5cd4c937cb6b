"""The numerical helpers and the numba backend's call-free math functions.

The numba backend replaces ``np.exp``, ``np.expm1``, ``np.log``, ``**`` and
``exprelr`` by polynomial versions that LLVM can vectorise (numba's own call
libm one element at a time). They must agree with numpy to a few ulp over the
whole double range and keep its special values; ``cnexp`` and
``cnexp_linear`` must give modcc's Padé step.
"""
import math

import numpy as np
import pytest
from numba import njit

from arbor_pycat import cnexp, cnexp_linear, exprelr
from arbor_pycat.backends.numba import mathlib

ULP = np.finfo(float).eps

WIDE = np.concatenate([
    np.linspace(-750.0, 750.0, 30001),
    np.linspace(-2.0, 2.0, 20001),
    np.logspace(-300, 2.85, 3001),
    -np.logspace(-300, 2.85, 3001),
    [0.5, -0.5, np.nextafter(0.5, 1.0), np.nextafter(-0.5, -1.0), 1e-17, -1e-17, 709.78, -708.0],
])
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 710.0, -746.0])


def _compiled(function):
    return njit(lambda x: function(x))


def _relative_error(got, expected):
    scale = np.where(expected == 0.0, 1.0, np.abs(expected))
    return np.abs(got - expected) / scale


def _same(got, expected):
    return np.all((got == expected) | (np.isnan(got) & np.isnan(expected)))


@pytest.mark.parametrize("name, fast, reference, tolerance", [
    ("exp", mathlib.fast_exp, np.exp, 2 * ULP),
    ("expm1", mathlib.fast_expm1, np.expm1, 3 * ULP),
    ("tanh", mathlib.fast_tanh, np.tanh, 3 * ULP),
])
def test_exponentials_match_numpy(name, fast, reference, tolerance):
    f = _compiled(fast)
    with np.errstate(all="ignore"):
        expected = reference(WIDE)
        normal = np.isfinite(expected) & (np.abs(expected) > 1e-300)   # exp flushes below ~3e-308 to 0
        assert _relative_error(f(WIDE)[normal], expected[normal]).max() < tolerance
        assert _same(f(SPECIAL), reference(SPECIAL)), name
    assert math.copysign(1.0, f(np.array([-0.0]))[0]) == math.copysign(1.0, reference(-0.0))


def test_log_and_power_match_numpy():
    log = _compiled(mathlib.fast_log)
    positive = np.concatenate([np.logspace(-320, 308, 20001), np.linspace(0.5, 2.0, 10001)])
    with np.errstate(all="ignore"):
        assert _relative_error(log(positive), np.log(positive)).max() < 2 * ULP
        assert _same(log(np.array([0.0, -1.0, np.inf, np.nan])), np.log([0.0, -1.0, np.inf, np.nan]))
    log1p = _compiled(mathlib.fast_log1p)
    above = np.concatenate([np.logspace(-300, 300, 20001), -np.logspace(-300, -1e-9, 20001),
                            np.linspace(-0.999, 3.0, 20001)])
    special = np.array([0.0, -0.0, -1.0, -2.0, np.inf, np.nan])
    with np.errstate(all="ignore"):
        assert _relative_error(log1p(above), np.log1p(above)).max() < 4 * ULP
        assert _same(log1p(special), np.log1p(special))
    assert math.copysign(1.0, log1p(np.array([-0.0]))[0]) == -1.0
    power = njit(lambda a, b: mathlib.fast_pow(a, b))
    for a, b in ((3.0, 0.97), (0.5, -2.5), (-2.0, 3.0), (-2.0, 2.0), (10.0, 0.1), (0.0, 0.0), (-8.0, 1 / 3)):
        expected = a ** b if not (a < 0 and b != int(b)) else math.nan
        got = power(a, b)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, rel=1e-14), (a, b)


def test_power_special_values_are_numpys():
    """C's (and numpy's) special values of pow, sign of zero included: (-1) ** inf is 1,
    (-inf) ** 2.5 is inf, (-0.0) ** 3 is -0.0, 0 ** nan is nan (the compiled pow once
    gave nan, nan, 0.0 and inf)."""
    power = njit(lambda a, b: mathlib.fast_pow(a, b))
    values = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 2.5, -2.5, np.inf, -np.inf, np.nan,
              1e300, -1e300, 1e-300, 2.0 ** 60, -7.0]
    for a in values:
        for b in values:
            with np.errstate(all="ignore"):
                expected = np.power(np.array([a]), np.array([b]))[0]    # an array exponent: C's pow
            got = power(a, b)
            if np.isnan(expected) or np.isnan(got):
                assert np.isnan(expected) and np.isnan(got), (a, b, got, expected)
            elif np.isfinite(expected) and expected != 0.0:
                assert got == pytest.approx(expected, rel=1e-13), (a, b)
            else:
                assert got == expected and np.signbit(got) == np.signbit(expected), (a, b, got, expected)


def test_exprelr_matches_its_definition():
    f = _compiled(exprelr)
    x = WIDE[WIDE <= 709.78]
    with np.errstate(all="ignore"):
        expected = np.where(1.0 + x == 1.0, 1.0, x / np.expm1(x))
    assert _relative_error(f(x), expected).max() < 3 * ULP
    assert _relative_error(exprelr(x), expected).max() < ULP   # the python helper is the definition
    assert np.all(f(np.array([0.0, -0.0, 1e-17])) == 1.0)
    assert f(np.array([-800.0]))[0] == 800.0
    assert f(np.array([800.0]))[0] == 0.0        # below 4e-306: flushed to zero
    assert np.isnan(f(np.array([np.nan]))[0])
    with np.errstate(all="ignore"):
        assert np.isnan(f(np.array([np.inf]))[0]) and np.isnan(exprelr(np.inf))     # inf / inf
    assert _compiled(exprelr)(2.0) == pytest.approx(2.0 / math.expm1(2.0), rel=3 * ULP)   # scalars too


def _modcc_pade(x, a, b, dt):
    """What modcc generates for ``x' = a x + b`` with METHOD cnexp."""
    ba = b / a
    ll = a * dt
    return (x + ba) * (2.0 + ll) / (2.0 - ll) - ba


def test_cnexp_is_modccs_pade_step():
    rng = np.random.default_rng(1)
    x, x_inf = rng.uniform(-1, 1, 1000), rng.uniform(-1, 1, 1000)
    tau, dt = rng.uniform(0.05, 50.0, 1000), 0.025
    expected = _modcc_pade(x, -1.0 / tau, x_inf / tau, dt)
    assert np.abs(cnexp(x, x_inf, tau, dt) - expected).max() < 1e-14
    a, b = -rng.uniform(0.01, 20.0, 1000), rng.uniform(-5.0, 5.0, 1000)
    assert np.abs(cnexp_linear(x, a, b, dt) - _modcc_pade(x, a, b, dt)).max() < 1e-14
    # not the exponential step: that is what makes ports drift
    assert np.abs(cnexp(x, x_inf, tau, dt) - (x_inf + (x - x_inf) * np.exp(-dt / tau))).max() > 1e-12


def test_cnexp_limits():
    assert cnexp(0.3, 1.0, math.inf, 0.025) == 0.3            # no decay at all
    assert cnexp_linear(0.3, 0.0, 2.0, 0.025) == pytest.approx(0.3 + 2.0 * 0.025)   # a = 0: Euler, exact
    assert cnexp(0.3, 1.0, 0.0, 0.025) == pytest.approx(1.7)  # tau = 0: the Padé limit 2 x_inf - x


def test_compiled_helpers_agree_with_python():
    rng = np.random.default_rng(2)
    x, x_inf, tau = rng.uniform(-1, 1, 100), rng.uniform(-1, 1, 100), rng.uniform(0.1, 10.0, 100)
    compiled_cnexp = njit(lambda x, x_inf, tau: cnexp(x, x_inf, tau, 0.025))
    compiled_linear = njit(lambda x, a, b: cnexp_linear(x, a, b, 0.025))
    np.testing.assert_allclose(compiled_cnexp(x, x_inf, tau), cnexp(x, x_inf, tau, 0.025), rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(compiled_linear(x, -tau, x_inf), cnexp_linear(x, -tau, x_inf, 0.025),
                               rtol=1e-15, atol=1e-16)
    assert compiled_cnexp(0.5, 1.0, 2.0) == pytest.approx(cnexp(0.5, 1.0, 2.0, 0.025), rel=1e-15)


def test_math_functions_compile_where_numba_cannot_cache_them():
    """numba refuses cache=True where it finds no writable place for the cache
    (here: a function without a source file); the library then compiles
    without it instead of failing to import."""
    namespace = {}
    exec("def twice(x):\n    return 2.0 * x\n", namespace)
    with pytest.raises(RuntimeError, match="cannot cache"):
        njit(cache=True)(namespace["twice"])
    assert mathlib._cached_jit(error_model="numpy")(namespace["twice"])(1.5) == 3.0


@njit
def _power_loop(a, b):
    out = np.empty(a.size)
    for k in range(a.size):
        out[k] = mathlib.fast_pow(a[k], b[k])
    return out


def test_power_error_grows_with_the_exponent_as_documented():
    """``pow(a, b)`` is ``exp(b ln a)`` in double precision: within 4 ulp of numpy
    while |b ln a| < 1; beyond, the rounding of b ln a is magnified by the
    exponential: at most 2 |b ln a| + 4 ulp (README, Backends). Measured
    (400 000 draws per band, a in [e^-5, e^5]): 2 ulp below 1, 17 below 10,
    157 in [50, 100), 535 in [200, 300), 1179 up to 709."""
    rng = np.random.default_rng(7)
    for low, high in ((0.0, 1.0), (1.0, 10.0), (10.0, 100.0), (100.0, 300.0), (300.0, 700.0)):
        n = 100_000
        y = rng.uniform(low, high, n) * rng.choice([-1.0, 1.0], n)
        a = np.exp(rng.uniform(-5.0, 5.0, n))
        b = y / np.log(a)
        expected = np.power(a, b)
        got = _power_loop(a, b)
        ulps = np.abs(got - expected) / np.spacing(np.abs(expected))
        bound = 4.0 if high <= 1.0 else 2.0 * np.abs(b * np.log(a)) + 4.0
        worst = int(np.argmax(ulps - bound))
        assert np.all(ulps <= bound), (low, high, a[worst], b[worst], ulps[worst])
        if high > 100.0:     # the bound is not loose: the error does grow
            assert ulps.max() > 0.5 * low, (low, ulps.max())
