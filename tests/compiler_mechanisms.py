"""Mechanisms written in many everyday numpy styles, for tests/test_compiler.py.

Each density mechanism has states ``s`` (and sometimes ``r``) set from the
membrane potential with one idiom of the element-wise vocabulary, and a
small current, so that the states and the voltage of a run under the numba
backend can be compared with the python backend's (the reference). Not a
test module: pytest collects ``test_*.py`` only.
"""
import functools
import math

import numba
import numpy as np

from arbor_pycat import CustomMechanism, exprelr

DV = 5.0          # the library once used this name for its own conductance step
carray = 3.0      # and this one for its pointer casts
SCALE = 2.0


class Base(CustomMechanism):
    state_vars = [("s", "", 0.0), ("r", "", 0.0)]
    parameters = [("g", "S/cm2", 2e-5)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v + 65.0) * (1.0 + 0.01 * np.tanh(pp.s))


class Where(Base):
    name = "cm_where"

    def advance_state(self, pp):
        pp.s = np.where(pp.v > -60.0, np.exp(pp.v / 20.0), 1.0 - pp.v / 100.0)
        pp.r = np.where(pp.v < -64.0, 1, 2)          # integers, promoted to float


class Select(Base):
    name = "cm_select"

    def advance_state(self, pp):
        pp.s = np.select([pp.v < -70.0, pp.v < -50.0], [1.0, 2.0 + pp.v / 100.0], default=3.0)
        pp.r = np.select([pp.v > 0.0], [pp.v])


def seed_exprelr(x):
    return np.where(np.isclose(x, 0), 1., x / np.expm1(x))


class IsClose(Base):
    name = "cm_isclose"

    def advance_state(self, pp):
        pp.s = seed_exprelr(-0.1 * pp.v - 4.0) + seed_exprelr(pp.v * 0.0)
        pp.r = np.where(np.isclose(pp.v, -65.0, atol=0.5), 1.0, 0.0) + np.isclose(pp.v, np.inf)


class ClipMinMax(Base):
    name = "cm_clip"

    def advance_state(self, pp):
        pp.s = np.clip(pp.v, -70.0, -55.0) + np.maximum(pp.v, -62.0) - np.minimum(pp.v, -66.0)
        pp.r = np.fmax(pp.v, np.nan) + np.fmin(pp.v, -64.5) + pp.v.clip(-64.0) + np.clip(pp.v, None, -66.0)


class Ufuncs(Base):
    name = "cm_ufuncs"

    def advance_state(self, pp):
        tmp = np.empty_like(pp.v)
        np.multiply(pp.v, 0.5, out=tmp)
        np.add(tmp, np.square(pp.v) * 1e-3, out=tmp)
        pp.s = np.divide(tmp, 3.0) + np.negative(np.reciprocal(pp.v)) + np.sign(pp.v + 65.0)
        pp.r = np.sqrt(np.abs(pp.v)) + np.fabs(pp.v) * 1e-2 + np.power(np.abs(pp.v), 0.3) \
            + np.float_power(np.abs(pp.v), 2) * 1e-4 + abs(pp.v) ** 1.5 * 1e-3


def masked_exprelr(x):
    out = np.ones_like(x)
    nz = np.abs(x) > 1e-12
    out[nz] = x[nz] / np.expm1(x[nz])
    return out


class Masks(Base):
    name = "cm_masks"

    def advance_state(self, pp):
        pp.s = masked_exprelr(-0.1 * pp.v - 4.0)
        r = np.zeros_like(pp.v)
        low = pp.v < -64.0
        r[low] = pp.v[low] * 2.0
        r[~low] = 7.0
        r[low & (pp.v > -70.0)] += 1.0
        pp.r = r


class Aliases(Base):
    name = "cm_aliases"

    def advance_state(self, pp):
        m = pp.s
        m += pp.dt                     # in place: pp.s grows by dt
        r = pp.r
        r[:] = pp.v * 0.01             # in place through the alias
        r *= 2.0
        other = pp.s
        other = other + 100.0          # rebinding: pp.s unchanged
        pp.r = pp.r + 0.0 * other


class TupleLoop(Base):
    name = "cm_tuple_loop"

    def advance_state(self, pp):
        for x, k in ((pp.s, 1.0), (pp.r, 2.0)):
            x[:] = x + k * pp.dt
        pp.s[:] = np.minimum(np.maximum(pp.s, 0.0), 50.0)


def _gates(v):
    return np.exp(v / 30.0), 1.0 / (1.0 + np.exp(-v / 10.0))


def _combine(a, b, weight=SCALE, *, shift=0.5):
    return weight * a + b + shift


_scaled = lambda v, k=3.0: k * v / 100.0  # noqa: E731  (a module-level lambda)


class Helpers(Base):
    name = "cm_helpers"

    def advance_state(self, pp):
        pp.s = _combine(*_gates(pp.v))
        pp.r = _combine(1.0, _scaled(pp.v), shift=-1.0) + _scaled(pp.v, k=1.0)


class Methods(Base):
    name = "cm_methods"
    offset = 65.0
    rate_scale = 0.2

    @staticmethod
    def rate(x):
        return np.exp(x / 25.0)

    @classmethod
    def half(cls, x):
        return 0.5 * x * cls.rate_scale

    def both(self, v):
        return self.rate(v + self.offset), self.half(v)

    def advance_state(self, pp):
        a, b = self.both(pp.v)
        pp.s = a + b
        pp.r = self.rate(pp.v) * Methods.rate_scale


def vtrap(x):
    if abs(x) < 1e-6:
        return 1.0
    return x / math.expm1(x)


class InstanceLoop(Base):
    name = "cm_instance_loop"

    def advance_state(self, pp):
        dt = pp.dt
        for k in range(pp.width):
            v = pp.v[k]
            if v > -64.0:
                pp.s[k] = vtrap(-0.1 * v - 4.0) + math.exp(v / 50.0)
            else:
                pp.s[k] = max(v, -66.0) + min(dt, 0.01)
            pp.r[k] += dt * math.tanh(v / 10.0)


class UniformBranches(Base):
    name = "cm_uniform_if"

    def advance_state(self, pp):
        if pp.dt > 0.01:
            k = pp.v * 2.0
        else:
            k = pp.v * 3.0
        pp.s = k
        pp.r = pp.g[0] * 0.0 + pp.v % 7.0 + pp.v // 7.0 + (pp.v > -60.0) * 1


class Hygiene(Base):
    """Locals and globals named like the code the library generates."""
    name = "cm_hygiene"

    def advance_state(self, pp):
        _t1 = pp.v * 2.0
        _f_v = 1.0
        _k = 3.0
        _r = DV * carray
        pp.s = _t1 + _f_v + _k + _r + _shadow_helper(pp.v)
        pp.r = pp.v * 0.0 + DV


def _shadow_helper(v):
    return 0.5 * v


class Booleans(Base):
    name = "cm_booleans"

    def advance_state(self, pp):
        a = (pp.v > -66.0) & ~(pp.v > -60.0)
        b = np.logical_or(pp.v < -70.0, np.logical_not(a))
        pp.s = np.where(a, 1.0, 0.0) + np.where(b, 10.0, 0.0) + np.logical_xor(a, b)
        pp.r = a * 2.0 + exprelr(pp.v / 10.0 + 6.5)


def plain_decorator(function):
    """A decorator that does not use functools.wraps (its wrapper is compiled as written)."""
    def wrapper(x):
        return function(x) + 1.0
    return wrapper


@plain_decorator
def decorated_rate(x):
    return x * 2.0


class Decorated(Base):
    name = "cm_decorated"

    def advance_state(self, pp):
        pp.s = decorated_rate(pp.v)


class DefaultArguments(Base):
    """A method's default argument is a constant, even if a global has its name."""
    name = "cm_defaults"

    def advance_state(self, pp, SCALE=7.0):
        pp.s = SCALE * pp.v
        pp.r = _combine(pp.v, 1.0)


PARAMS = {"vshift": 5.0, "q10": 3.0}


def gate_rates(v):
    return {"alpha": 0.1 * exprelr(-0.1 * v - 4.0), "beta": 4.0 * np.exp(-(v + 65.0) / 18.0)}


class Dicts(Base):
    """Rates and parameters in dicts (the style of several channel libraries)."""
    name = "cm_dicts"
    constants = {"scale": 2.0}

    def advance_state(self, pp):
        rates = gate_rates(pp.v - PARAMS["vshift"])
        scaled = {}
        for key, value in rates.items():
            scaled[key] = value * self.constants["scale"]
        pp.s = scaled["alpha"] / (scaled["alpha"] + scaled["beta"]) + PARAMS.get("missing", 1.0)
        pp.r = sum_of(*scaled.values()) * PARAMS["q10"]


def sum_of(a, b):
    return a + b


# A table of rate functions: lambdas in the middle of a statement over several
# lines, two on one line, tuples of functions as module constants.
RATE_TABLE = {
    "m": (lambda v: 0.1 * exprelr(-0.1 * v - 4.0),
          lambda v: 4.0 * np.exp(-(v + 65.0) / 18.0)),
    "h": (lambda v: 0.07 * np.exp(-(v + 65.0) / 20.0), lambda w: 1.0 / (1.0 + np.exp(-(w + 35.0) / 10.0))),
}
GATE_FUNCTIONS = (np.tanh, lambda v: v * 0.5, seed_exprelr)


class RateTables(Base):
    name = "cm_rate_tables"

    def compute_currents(self, pp):
        # No current: the cell's voltage, and with it the other spellings' states
        # (some discontinuous in v, such as cm_uniform_if's v % 7), stays as it was.
        pp.i = 0.0 * pp.v

    @staticmethod
    def steady(v, gate):
        alpha, beta = RATE_TABLE[gate]
        a, b = alpha(v), beta(v)
        return a / (a + b)

    def advance_state(self, pp):
        squash, half, guarded = GATE_FUNCTIONS
        pp.s = self.steady(pp.v, "m") + self.steady(pp.v, "h")
        pp.r = squash(half(pp.v) / 100.0) + guarded(-0.1 * pp.v - 4.0)


# Fields named by strings: getattr/setattr on pp in loops over names (a module
# tuple, a dict's items, a class constant), unpacked generators, sum().
NAMES = ("s", "r")
SHIFTS = {"s": 1.0, "r": -2.0}


class NamedFields(Base):
    name = "cm_named_fields"
    STATES = ("s", "r")

    def advance_state(self, pp):
        for gate in NAMES:
            setattr(pp, gate, 0.5 * getattr(pp, gate) + 0.01 * np.tanh(pp.v / 30.0))
        for gate, shift in SHIFTS.items():
            getattr(pp, gate)[:] = getattr(pp, gate) + shift * 1e-3
        s, r = (getattr(pp, g) for g in self.STATES)      # views of pp.s and pp.r
        total = sum(getattr(pp, g) * w for g, w in zip(self.STATES, (0.5, 0.25)))
        pp.r = total + 0.1 * s - 0.05 * r + sum([getattr(pp, "s") for _ in range(2)])


def guarded_vtrap(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):     # numpy's warnings only
        return np.where(np.abs(x / y) < 1e-6, y * (1 - x / y / 2), x / (np.exp(x / y) - 1))


class Idioms(Base):
    """np.errstate, asserts, annotations, np.asarray, np.float64, np.heaviside."""
    name = "cm_idioms"

    def advance_state(self, pp) -> None:
        assert pp.dt > 0.0, "dt must be positive"
        assert np.all(pp.v > -500.0), "v out of range"
        v: np.ndarray = np.asarray(pp.v)
        with np.errstate(over="ignore"):
            pp.s = guarded_vtrap(-(v + 40.0), 10.0) * np.float64(0.1) + np.heaviside(v + 60.0, 0.5)
        pp.r = pp.v > -62.0         # a boolean into a state: 1.0 or 0.0
        pp.r += np.heaviside(np.floor(v) + 65.0, 0.25) + np.float64(pp.s > 1.0) + float(pp.dt > 0.01)


class TemperatureState(Base):
    """A state assigned a temperature-only value next to a gate (the temperature
    prelude once took it as a second parameter of the same name: a SyntaxError)."""
    name = "cm_temperature_state"

    def advance_state(self, pp):
        pp.r = 3.0 ** ((pp.temperature - 6.3) / 10.0)
        pp.s = pp.s + pp.dt * pp.r * (1.0 / (1.0 + np.exp(-pp.v / 10.0)) - pp.s)


class NegativePowers(Base):
    """``x ** -n`` of a zero x is numpy's inf (numba's power raised ZeroDivisionError,
    which the C entry swallowed: every output of the method stayed 0)."""
    name = "cm_negative_powers"

    def advance_state(self, pp):
        zero = pp.v * 0.0 + 0.0
        pp.r = zero ** -1.0 + zero ** -2 + np.power(zero, -3) + np.float_power(zero, -1)
        pp.s = pp.v ** -2 * 1e3 + (pp.v / 10.0) ** -3.0 + 1.0 / np.square(pp.v)


@numba.njit
def jitted_gate(v):
    """Element-wise: inlined into the scalar form."""
    return 1.0 / (1.0 + np.exp(-(v + 40.0) / 5.0))


@numba.njit
def jitted_normalised(v):
    """Across instances: the python backend calls it with the whole array, and so must
    the compiled code (called per instance, as it once was, it gave 1 or -1 everywhere)."""
    return v / np.max(np.abs(v))


class UserJit(Base):
    name = "cm_user_jit"

    def advance_state(self, pp):
        pp.s = jitted_gate(pp.v)


class UserJitAcross(Base):
    name = "cm_user_jit_across"

    def advance_state(self, pp):
        pp.s = jitted_normalised(pp.v)


class StateInCurrents(Base):
    """compute_currents counts its calls and records v in states, and assigns no
    conductance: the numeric conductance runs it again at v + DV, whose state writes
    the python backend once kept (r = 2 (v + DV), every call counted twice)."""
    name = "cm_state_in_currents"

    def compute_currents(self, pp):
        pp.s = pp.s + 1.0
        pp.r = pp.v * 2.0
        pp.i = pp.g * (pp.v + 65.0)


class DictInPlace(Base):
    """``d["s"] *= ...`` with a field in d updates the field in place, as in Python
    (it once rebound the dict's item and left pp.s alone)."""
    name = "cm_dict_in_place"

    def advance_state(self, pp):
        pp.s = pp.v * 1.0
        d = {"s": pp.s}
        d["s"] *= 0.5
        pp.r = d["s"] + 1.0


class ChosenAlias(Base):
    """``x = pp.s if c else pp.r; x *= 0.5`` halves the field chosen (once a copy)."""
    name = "cm_chosen_alias"

    def advance_state(self, pp):
        pp.s = pp.v * 1.0
        pp.r = pp.v * 2.0
        x = pp.s if pp.dt > 0.01 else pp.r
        x *= 0.5


class BooleanArithmetic(Base):
    """numpy's arithmetic on booleans: + is 'or', * is 'and', the maximum and minimum of
    two masks are masks, numbers stored into a boolean array are tested against 0
    (the compiled code once added them as numbers: True + True was 2)."""
    name = "cm_boolean_arithmetic"

    def advance_state(self, pp):
        a = pp.v > -64.0
        b = pp.v < -60.0
        c = a + b
        c += a
        m = np.zeros_like(a)
        m[:] = pp.v + 65.0
        pp.s = c * 1.0 + (a * b) * 2.0 + np.maximum(a, b) * 4.0 + np.minimum(a, b) * 8.0 + m * 16.0
        pp.r = a * 1.0 + np.fmax(a, b) * 2.0


class OverlappingViews(Base):
    """In-place updates whose value is a view of the array written (x[1:] += x[:-1],
    m += m[::-1]): numpy reads the view before writing; numba's in-place loops once
    read elements they had already changed."""
    name = "cm_overlapping_views"

    def advance_state(self, pp):
        pp.s = pp.v * 1.0
        pp.s[1:] += pp.s[:-1]
        m = pp.r
        m[:] = pp.v * 0.5
        m += m[::-1]
        x = pp.s
        x *= pp.s[::-1] * 1e-3 + 1.0


class IntegerFull(Base):
    """np.full(pp.width, 2) is an integer array in numpy: the floats stored into it are
    truncated (the scalar form, computing in float64, once kept them)."""
    name = "cm_integer_full"

    def advance_state(self, pp):
        x = np.full(pp.width, 2)
        x[:] = pp.v / 10.0
        pp.s = x * 1.0


def above(v, threshold):
    """A Python bool from either branch (for Python floats)."""
    if v > threshold:
        return True
    return False


class PythonScalars(Base):
    """Python's numbers and numpy's: Python's bools (pp.dt > 0.01, float(pp.v[k]) > -70,
    math.isfinite(x)) are the integers 1 and 0, ~True is -2 and True + True is 2;
    numpy's (pp.v[k] > -70) add as 'or'. (The compiled code once took every boolean
    for numpy's.)"""
    name = "cm_python_scalars"
    parameters = [("g", "S/cm2", 0.0)]      # no current: the cell as without it

    def advance_state(self, pp):
        coarse = pp.dt > 0.01
        for k in range(pp.width):
            v = float(pp.v[k])
            count = (v > -70.0) + (v > -64.0) + math.isfinite(v) * 2
            either = (pp.v[k] > -70.0) + (pp.v[k] > -64.0)
            pp.s[k] = count + 10.0 * either + 100.0 * (~coarse) + v * 1e-3 \
                + 1000.0 * (above(v, -70.0) + above(v, -64.0))
        pp.r = pp.v * 0.01 + (-coarse) + (~(pp.dt > 1.0)) * 1000.0


class SequenceItems(Base):
    """items[i] += x on a list: an array item is updated in place (Python's +=), a number
    item rebound (the compiled code once dropped both)."""
    name = "cm_sequence_items"
    parameters = [("g", "S/cm2", 0.0)]      # no current: the cell as without it

    def advance_state(self, pp):
        a = pp.v * 0.0
        items = [a, pp.r, 1.5]
        items[0] += 1.0
        items[1] *= 0.5
        items[-1] += 2.0
        items[1] += pp.v * 1e-3
        scratch = pp.v * 3.0
        del scratch                      # (and bound again below)
        scratch = items[2]
        pp.s = a + scratch + pp.v * 1e-2


class NumpySpecials(Base):
    """numpy's values where the compiled code once differed: np.full_like of a mask is a
    mask (2.5 is True), x / 1e-310 is not x * inf, array ** 0.5 is np.sqrt (sqrt(-inf)
    is NaN, sqrt(-0.0) is -0.0, where pow gives inf and 0.0), pow with an array
    exponent keeps C's special values ((-inf) ** 2.5 is inf, (-1) ** inf is 1), and
    np.floor_divide(1.0, 0.1) is 9.0."""
    name = "cm_numpy_specials"
    parameters = [("g", "S/cm2", 0.0)]      # no current: the cell as without it

    def advance_state(self, pp):
        mask = pp.v > -64.0
        minus_inf = pp.v * 0.0 - np.inf
        e = pp.v * 0.0 + 2.5
        s = np.full_like(mask, 2.5) * 1.0 + np.isnan(minus_inf ** 0.5) * 2.0
        s += np.signbit((pp.v * 0.0 - 0.0) ** 0.5) * 4.0
        s += np.isinf(np.power(minus_inf, e)) * 8.0 + (np.power(pp.v * 0.0 - 1.0, e * np.inf) == 1.0) * 16.0
        s += np.floor_divide(pp.v * 0.0 + 1.0, 0.1) * 32.0
        pp.s = s + pp.v * 1e-3
        pp.r = (pp.v + 66.0) * 1e-300 / 1e-310 * 1e-10


class RateBase(Base):
    K = 10.0

    def rate(self, v):
        return np.exp((v + 65.0) / self.K)

    def advance_state(self, pp):
        pp.s = self.rate(pp.v)


class SuperCalls(RateBase):
    """super().method(...) (Python's zero-argument form: the classes after the one the
    method is written in), and Base.method(self, ...) called on the class."""
    name = "cm_super_calls"
    parameters = [("g", "S/cm2", 0.0)]      # no current: the cell as without it
    K = 20.0

    def rate(self, v):
        return 2.0 * super().rate(v) + RateBase.rate(self, v + 1.0)

    def advance_state(self, pp):
        super().advance_state(pp)
        pp.r = pp.s * 0.5 + RateBase.K


class UfuncsOfPythonNumbers(Base):
    """numpy's ufuncs give numpy's values even of Python numbers: np.divide(1.0, 0.0) is
    inf, np.add(True, True) is True, np.power(-8.0, 1/3) NaN, np.reciprocal(2) the integer
    0, np.float64(1.0) / 0.0 inf, np.abs(mask) a mask (the compiled code once took them
    for Python's operators: ZeroDivisionError, 2, a complex, 0.5, ZeroDivisionError, 2)."""
    name = "cm_ufuncs_of_python_numbers"
    parameters = [("g", "S/cm2", 0.0)]      # no current: the cell as without it
    globals = [("zero", "", 0.0)]

    def advance_state(self, pp):
        with np.errstate(all="ignore"):
            inf = np.divide(1.0, pp.zero)                  # a global: a Python number
            both = np.add(pp.dt > 0.01, pp.dt > 0.001)     # True, not 2
            nan = np.power(-8.0, 1.0 / 3.0) + np.remainder(1.0, pp.zero)
            big = np.power(10.0, 400.0) + np.floor_divide(1.0, pp.zero) + np.reciprocal(pp.zero)
            pp.s = np.minimum(pp.v, inf) * 1e-3 + both * 10.0 + np.isnan(nan) * 100.0 \
                + np.isinf(big) * 1000.0 + np.square(True) * 1e4
            pp.r = pp.v * 1e-2 + np.isinf(np.true_divide(pp.dt, pp.zero)) * 3.0 + np.multiply(True, True) \
                + np.reciprocal(2) * 5.0 + np.reciprocal(pp.v * 0.0 + 4.0) \
                + np.isinf(np.float64(1.0) / pp.zero) * 7.0 \
                + (np.abs(pp.v > -70.0) + np.abs(pp.v > -64.0)) * 11.0     # numpy's: 'or', a bool


ELEMENTWISE = [Idioms, NamedFields, RateTables, Dicts, Where, Select, IsClose, ClipMinMax, Ufuncs, Masks, Aliases, TupleLoop, Helpers,
               Methods, InstanceLoop, UniformBranches, Hygiene, Booleans, Decorated, DefaultArguments,
               TemperatureState, NegativePowers, UserJit, StateInCurrents,
               DictInPlace, BooleanArithmetic, PythonScalars, SequenceItems, NumpySpecials,
               SuperCalls, UfuncsOfPythonNumbers]


# -- not element-wise, or not provably equivalent: refused by the scalar form ----
def logged(function):
    @functools.wraps(function)
    def wrapper(x):
        return function(x) * 10.0     # the decorator changes the result
    return wrapper


@logged
def wrapped_rate(x):
    return x * 2.0


class WrappedHelper(Base):
    name = "cm_wrapped"

    def advance_state(self, pp):
        pp.s = wrapped_rate(pp.v)


def recurse(x, n):
    return x if n == 0 else recurse(x, n - 1) + 1.0


class Recursive(Base):
    name = "cm_recursive"

    def advance_state(self, pp):
        pp.s = recurse(pp.v, 3)


class NestedFunction(Base):
    """A function defined in the method, with a late-bound closure: compiled once to
    one returning 0 (s stayed 0, Python gives 10)."""
    name = "cm_nested_function"

    def advance_state(self, pp):
        c = 1.0

        def f(x):
            return x * 0.0 + c
        c = 10.0
        pp.s = f(pp.v)


def counter():
    n = 0.0

    def bump():
        nonlocal n
        n = n + 1.0
        return n
    return bump


class NestedInHelper(Base):
    """A helper returning a closure over a nonlocal counter."""
    name = "cm_nested_in_helper"

    def advance_state(self, pp):
        bump = counter()
        bump()
        pp.s = pp.v * 0.0 + bump()


class CurrentDirect(Base):
    name = "cm_current_direct"

    def advance_state(self, pp):
        pp.s = pp.v / 10.0


class CurrentAlias(CurrentDirect):
    """The same current written through a name it was read into: the python backend
    once dropped it (no current at all); the compiled code refuses it."""
    name = "cm_current_alias"

    def compute_currents(self, pp):
        i = pp.i
        i += pp.g * (pp.v + 65.0) * (1.0 + 0.01 * np.tanh(pp.s))


class UnstableArgsort(Base):
    """numpy's default argsort may order ties otherwise than numba's: refused."""
    name = "cm_unstable_argsort"

    def advance_state(self, pp):
        pp.s = np.argsort(np.round(pp.v)) * 1.0


class StableArgsort(Base):
    """Ties (every CV at -65 mV at first, rounded voltages later) in a stable order."""
    name = "cm_stable_argsort"

    def advance_state(self, pp):
        pp.s = np.argsort(np.round(pp.v), kind="stable") * 1.0
        pp.r = np.round(pp.v).argsort(kind="mergesort") * 1.0


class ChainedComparison(Base):
    """-70 < v < -50 is (-70 < v) and (v < -50): numpy raises for arrays."""
    name = "cm_chained_comparison"

    def advance_state(self, pp):
        pp.s = -70.0 < pp.v < -50.0


class UniformAnd(Base):
    """x and y tests x only: with a uniform x, the value is the array y (numba cannot
    type a value that is a bool or an array)."""
    name = "cm_uniform_and"

    def advance_state(self, pp):
        pp.s = pp.dt > 0.0 and pp.v * 0.01


class NamedUnknown(Base):
    name = "cm_named_unknown"

    def advance_state(self, pp):
        which = "s" if np.mean(pp.v) > -60.0 else "r"
        setattr(pp, which, pp.v * 0.0)


class IfOnArray(Base):
    name = "cm_if_array"

    def advance_state(self, pp):
        if pp.v > -60.0:
            pp.s = pp.v


class Depolarised(ValueError):
    """A user's own exception class."""


class Raises(Base):
    """Raises once v passes 0 mV (the clamp makes the cell spike)."""
    name = "cm_raises"

    def advance_state(self, pp):
        pp.s = pp.v * 2.0
        if np.any(pp.v > 0.0):
            raise Depolarised("depolarised!")
        pp.r = pp.s + 1.0


class Asserts(Base):
    name = "cm_asserts"

    def advance_state(self, pp):
        assert pp.dt > 0.0, "dt must be positive"
        pp.s = pp.v * 2.0
        assert np.all(pp.v <= 0.0), "v above 0 mV"
        pp.r = pp.s + 1.0


@numba.njit
def jitted_rate(v):
    """A numba function of the user's, which raises above 0 mV."""
    if np.any(v > 0.0):
        raise ValueError("jitted: above 0 mV")
    return v * 2.0


class RaisesInUserJit(Base):
    """Calls the user's numba function: its exception must fail the run (called per
    instance from the scalar form, it once escaped into the C entry, which printed it
    and reported success)."""
    name = "cm_raises_user_jit"

    def advance_state(self, pp):
        pp.s = jitted_rate(pp.v)
        pp.r = pp.s + 1.0


class RaisesInArrayForm(Base):
    """The user's raise in a method of the array form (a mean over the instances)."""
    name = "cm_raises_array"

    def advance_state(self, pp):
        pp.s = pp.v - np.mean(pp.v)
        if np.max(pp.v) > 0.0:
            raise Depolarised("depolarised in the array form!")


class RaisesInLoop(Base):
    name = "cm_raises_loop"

    def advance_state(self, pp):
        for k in range(pp.width):
            if pp.v[k] > 0.0:
                raise ValueError("instance above 0 mV")
            pp.s[k] = pp.v[k]


class RaisesComputed(Base):
    """A message computed in the loop over instances: the index, format specs, repr
    (numpy's boolean prints as np.True_), a comparison, a constant string, a state
    updated in place (the compiled code computes the message from the values
    before the step, as Python does)."""
    name = "cm_raises_computed"

    def advance_state(self, pp):
        for i in range(pp.width):
            pp.s[i] = pp.v[i] * 2.0
            pp.r[i] = pp.r[i] + 1.0          # the steps so far, counted in place
            if pp.v[i] > 0.0:
                label = "mV"
                raise Depolarised(f"instance {i}: v = {pp.v[i]:+.6f} {label}, s > 0: {pp.s[i] > 0.0!r}, "
                                  f"above 1 mV: {pp.v[i] > 1.0}, {SCALE:>{5}}, step {pp.r[i]:.0f}")


class RaisesComputedWithTemperature(Base):
    """A computed message of a value of the temperature alone (the entry computes it
    once, hoist.py) and of a state updated in place by it."""
    name = "cm_raises_computed_temperature"

    def advance_state(self, pp):
        for i in range(pp.width):
            q = 3.0 ** ((pp.temperature[i] - 6.3) / 10.0)
            pp.s[i] = pp.v[i] * q
            pp.r[i] = pp.r[i] + q
            if pp.v[i] > 0.0:
                raise ValueError(f"q = {q:.6f}, r = {pp.r[i]:.4f} at {i}")


class RaisesComputedInCurrents(Base):
    """A computed message in compute_currents (a current written through the index)."""
    name = "cm_raises_computed_currents"

    def compute_currents(self, pp):
        for i in range(pp.width):
            pp.i[i] = pp.g[i] * (pp.v[i] + 65.0)
            if pp.v[i] > 0.0:
                raise ValueError(f"i = {pp.i[i]:.4e} A/m2 at instance {i}")


class RaisesComputedUniform(Base):
    """A message of shared values in vectorised code: %-formatting, str(), +, str.format."""
    name = "cm_raises_computed_uniform"

    def advance_state(self, pp):
        pp.s = pp.v * 2.0
        if np.any(pp.v > 0.0):
            raise ValueError("dt = %.4f ms, " % pp.dt + str(pp.width) + " instances, "
                             + "{:>8}|{!r}".format(SCALE * pp.dt, pp.dt > 0.01))


class RaisesComputedArrayForm(Base):
    """A computed message in the array form: reductions."""
    name = "cm_raises_computed_array"

    def advance_state(self, pp):
        pp.s = pp.v - np.mean(pp.v)
        if np.max(pp.v) > 0.0:
            raise Depolarised(f"max v {np.max(pp.v):.5f} mV at instance {int(np.argmax(pp.v))}, "
                              f"mean {np.mean(pp.v):.3e}")


class RaisesInOrder(Base):
    """Two raises of vectorised code that trip on different instances in the same
    step (``a`` is 0 on the first half of the cable, instances 0 and 1, and 1 on the
    other): Python raises the first in the code, whichever instance trips it."""
    name = "cm_raises_in_order"
    parameters = [("g", "S/cm2", 2e-5), ("a", "", 0.0)]

    def advance_state(self, pp):
        pp.s = pp.v * 2.0
        if np.any(pp.a > 0.5):
            raise ValueError(f"first in the code, dt {pp.dt}")
        if np.any(pp.a < 0.5):
            raise ValueError("second in the code")


class RaisesInLoopOrder(RaisesInOrder):
    """The same in a loop over instances: Python raises for the first instance that
    trips either, instance 0."""
    name = "cm_raises_in_loop_order"

    def advance_state(self, pp):
        for i in range(pp.width):
            pp.s[i] = pp.v[i]
            if pp.a[i] < 0.5:
                raise ValueError(f"first in the code, instance {i}")
            if pp.a[i] > 0.5:
                raise ValueError(f"second in the code, instance {i}")


class FormatsWholeArray(Base):
    """A message that formats a whole per-instance array: the compiled code can only
    hand numbers over."""
    name = "cm_formats_whole_array"

    def advance_state(self, pp):
        pp.s = pp.v * 2.0
        if np.any(pp.v > 0.0):
            raise ValueError(f"v = {pp.v}")


class MessageNotMade(Base):
    """A message Python cannot make (str + float: TypeError in the python backend)."""
    name = "cm_message_not_made"

    def advance_state(self, pp):
        for i in range(pp.width):
            pp.s[i] = pp.v[i]
            if pp.v[i] > 0.0:
                raise ValueError("v = " + pp.v[i])


class DividesByZero(Base):
    """A Python float divided by zero once v passes 0 mV: Python raises ZeroDivisionError
    (numpy's inf would run on)."""
    name = "cm_divides_by_zero"

    def advance_state(self, pp):
        for k in range(pp.width):
            below = 1.0 - float(pp.v[k] > 0.0)
            pp.s[k] = 1.0 / below


class ArrayFormSpecials(Base):
    """The array form (np.mean), where numba's own versions differ from numpy's:
    np.floor_divide and // (numba: floor(a / b), 10.0 for 1.0 // 0.1), array ** 0.5
    (numpy: np.sqrt), x / 1e-310."""
    name = "cm_array_form_specials"

    def advance_state(self, pp):
        centred = pp.v - np.mean(pp.v)
        s = np.floor_divide(pp.v * 0.0 + 1.0, 0.1) + (pp.v * 0.0 + 7.0) // 0.7
        s += np.isnan((pp.v * 0.0 - np.inf) ** 0.5) * 100.0 + np.signbit((pp.v * 0.0 - 0.0) ** 0.5) * 200.0
        pp.s = s + centred * 1e-3
        pp.r = (pp.v + 66.0) * 1e-300 / 1e-310 * 1e-10


class MaskArithmetic(Base):
    """Masks added and multiplied in the array form (np.mean): numpy's mask + mask is
    'or' and mask * mask 'and', booleans (numba's are integers: once 2 here)."""
    name = "cm_mask_arithmetic"

    def advance_state(self, pp):
        above, below = pp.v > -64.0, pp.v < -66.0
        either = above + below + (pp.v > -70.0)
        both = (above * (pp.v > -80.0)) + (above * (pp.v > -80.0))
        pp.s = either * 1.0 + both * 10.0 + (pp.v - np.mean(pp.v)) * 1e-3
        pp.r = (above + True) * 1.0


class MixedBooleans(Base):
    """A boolean that is Python's on one path and numpy's on the other (max(False,
    np.True_) is np.True_, so c + c is True; with True first, 2): refused in both forms."""
    name = "cm_mixed_booleans"

    def advance_state(self, pp):
        for k in range(pp.width):
            c = max(pp.dt > 1.0, pp.v[k] > -70.0)
            pp.s[k] = c + c


class SingleBooleansArrayForm(Base):
    """True + True of two single booleans in the array form (np.mean): numba cannot tell
    Python's (2) from numpy's (True)."""
    name = "cm_single_booleans_array"

    def advance_state(self, pp):
        centred = pp.v - np.mean(pp.v)
        for k in range(pp.width):
            c = pp.v[k] > -70.0
            pp.s[k] = c + c + centred[k]


class InvertsPythonBool(Base):
    """~ of one boolean in the array form: Python's ~True is -2, numpy's ~np.True_ False."""
    name = "cm_inverts_bool"

    def advance_state(self, pp):
        pp.s = pp.v - np.mean(pp.v) + (~(pp.dt > 0.01))


class TupleItemUpdate(Base):
    """items[0] += 1 on a tuple: Python updates the array, then raises TypeError."""
    name = "cm_tuple_item"

    def advance_state(self, pp):
        items = (pp.v * 1.0, pp.v * 2.0)
        items[0] += 1.0
        pp.s = items[0]


class ListItemUpdateArrayForm(Base):
    name = "cm_list_item_array"

    def advance_state(self, pp):
        items = [pp.v - np.mean(pp.v), pp.v * 2.0]
        items[0] += 1.0
        pp.s = items[0]


class MathOfArray(Base):
    """math.exp of an array: numpy 2 raises (only 0-d arrays convert), for one instance too."""
    name = "cm_math_of_array"

    def advance_state(self, pp):
        pp.s = math.exp(pp.v[0] * 0.0) + math.exp(pp.v / 100.0) - np.mean(pp.v)


class SetInInit(Base):
    """self.K set in __init__ shadows the class's K in the python backend's instance."""
    name = "cm_set_in_init"
    K = 1.0

    def __init__(self):
        self.K = 5.0

    def advance_state(self, pp):
        pp.s = pp.v * self.K


class CustomGetattribute(Base):
    name = "cm_getattribute"
    K = 1.0

    def __getattribute__(self, name):
        return 7.0 if name == "K" else object.__getattribute__(self, name)

    def advance_state(self, pp):
        pp.s = pp.v * self.K


class Meta(type(Base)):
    K = 3.0     # an instance does not see its class's metaclass attributes


class MetaclassAttribute(Base, metaclass=Meta):
    name = "cm_metaclass_attribute"

    def advance_state(self, pp):
        pp.s = pp.v * self.K


class ShortCircuitDivision(Base):
    """Python evaluates 1.0 / x only where x is not 0 here: the check cannot run first."""
    name = "cm_short_circuit_division"

    def advance_state(self, pp):
        for k in range(pp.width):
            x = 1.0 if pp.v[k] > 0.0 else 0.0
            pp.s[k] = 1.0 if (x == 0.0 or 1.0 / x > 0.5) else 0.0


class UsedAfterDel(Base):
    """SCALE is a local name of the method (Python: UnboundLocalError after del), not the
    module's SCALE."""
    name = "cm_used_after_del"

    def advance_state(self, pp):
        SCALE = pp.v * 1.0
        del SCALE
        pp.s = pp.v * SCALE
