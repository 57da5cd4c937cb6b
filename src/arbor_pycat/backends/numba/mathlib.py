"""Functions the generated numba code calls.

* :func:`fast_exp`, :func:`fast_expm1`, :func:`fast_log`, :func:`fast_pow`,
  :func:`fast_tanh`, :func:`fast_log1p`: call-free versions (Cephes rational
  approximations, relative error below 6e-16 for exp/expm1) so LLVM can vectorise loops
  that use them; PyPI's llvmlite has no vector math library, and a libm call
  per element stops vectorisation.
* numba implementations of :func:`arbor_pycat.exprelr` (for scalars and
  arrays), :func:`arbor_pycat.cnexp` and :func:`arbor_pycat.cnexp_linear`
  (their plain arithmetic), so that a user's own ``@njit`` code can call them.
* :func:`assign_field`: a checked whole-field assignment (no exception can
  escape a C callback, so shape errors become status codes).
* :func:`raise_value`, :func:`raise_count`: the numbers of a computed raise
  message, into the shim's raise record (see messages.py).

The scalar functions are cached by numba (``cache=True``): compiled once per
installation, not in every process that compiles a new mechanism. LLVM still
inlines them into the kernels (numba keeps their IR in the cache).
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from ...abi import contract, rules
from ...helpers import cnexp, cnexp_linear, exprelr
from .lower import EXP_HIGH, EXP_LOW
from .ppack import as_f64, as_i64

def _cached_jit(**options):
    """``njit(cache=True, **options)``; without the cache where numba finds no
    writable place for it (a read-only installation and home): it then
    compiles these functions in every process, slower but the same."""
    def decorate(function):
        try:
            return njit(cache=True, **options)(function)
        except RuntimeError:    # "cannot cache function ...: no locator available"
            return njit(**options)(function)
    return decorate


_LOG2E = 1.4426950408889634
_C1 = 6.93145751953125e-1
_C2 = 1.42860682030941723212e-6


@intrinsic
def _double_from_bits(typingctx, bits):
    if isinstance(bits, types.Integer):
        def codegen(context, builder, signature, args):
            value = context.cast(builder, args[0], signature.args[0], types.int64)
            return builder.bitcast(value, ir.DoubleType())
        return types.float64(bits), codegen


_EXP_LOW, _EXP_HIGH = EXP_LOW, EXP_HIGH   # exp's arguments without overflow or flush


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _exp_core(xc):
    """exp(xc) for xc in [_EXP_LOW, _EXP_HIGH] (NaN in, NaN out)."""
    n = np.floor(xc * _LOG2E + 0.5)
    r = xc - n * _C1 - n * _C2
    rr = r * r
    p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1)
    q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr \
        + 2.00000000000000000009e0
    e = 1.0 + 2.0 * (p / (q - p))
    # 2**(n-1) built from bits (n may be 1024). n is read out of a double with the
    # 1.5 * 2**52 trick: AVX2 has no vector double -> int64 conversion.
    n_int = _bits_from_double(n + 6755399441055744.0) - 0x4338000000000000
    scale = _double_from_bits((n_int + 1022) << 52)
    return e * scale * 2.0


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _exp_scalar(x):
    big = x > _EXP_HIGH
    small = x < _EXP_LOW
    result = _exp_core(min(max(x, _EXP_LOW), _EXP_HIGH))
    if big:
        result = math.inf
    if small:
        result = 0.0   # below exp(-708) ~ 3e-308: flushed to zero (no libm call: vectorisable)
    if x != x:
        result = x
    return result


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _exp_in_range(x):
    """``_exp_scalar(x)`` for an ``x`` known to lie in [_EXP_LOW, _EXP_HIGH] or be NaN
    (an argument clipped to constant bounds there): the same value, without the
    overflow and flush selects."""
    result = _exp_core(x)
    if x != x:
        result = x
    return result


@intrinsic
def _bits_from_double(typingctx, value):
    if isinstance(value, types.Float):
        def codegen(context, builder, signature, args):
            as_double = context.cast(builder, args[0], signature.args[0], types.float64)
            return builder.bitcast(as_double, ir.IntType(64))
        return types.int64(value), codegen


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _log_scalar(x):
    # Cephes' log: x = m * 2**e with m in [sqrt(1/2), sqrt(2)), then a rational approximation.
    subnormal = x < 2.2250738585072014e-308
    bits = _bits_from_double(x * 18014398509481984.0 if subnormal else x)   # 2**54
    e = ((bits >> 52) & 0x7FF) - (1022 + 54 if subnormal else 1022)
    m = _double_from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FE0000000000000)   # in [0.5, 1)
    low = m < 0.70710678118654752440
    e = e - 1 if low else e
    m = (m + m - 1.0) if low else (m - 1.0)
    z = m * m
    p = ((((1.01875663804580931796e-4 * m + 4.97494994976747001425e-1) * m + 4.70579119878881725854e0) * m
          + 1.44989225341610930846e1) * m + 1.79368678507819816313e1) * m + 7.70838733755885391666e0
    q = ((((m + 1.12873587189167450590e1) * m + 4.52279145837532221105e1) * m + 8.29875266912776603211e1) * m
         + 7.11544750618563894466e1) * m + 2.31251620126765340583e1
    fe = _double_from_bits(e + 2048 + 0x4330000000000000) - 4503599627370496.0 - 2048.0   # float(e), vectorisable
    y = m * (z * p / q) - fe * 2.121944400546905827679e-4 - 0.5 * z
    result = m + y + fe * 0.693359375
    # special values (selects, no branches: stays vectorisable)
    if x <= 0.0:
        result = -math.inf if x == 0.0 else math.nan
    if x == math.inf:
        result = math.inf
    if x != x:
        result = x
    return result


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _pow_scalar(a, b):
    """a ** b with C's (and numpy's) special values: exp(b log|a|), its sign for
    a < 0 from b's parity; NaN for a finite a < 0 and a b that is not an integer;
    (-1) ** ±inf, 1 ** b and a ** 0 are 1; 0 ** b keeps a's sign for an odd b."""
    magnitude = _exp_scalar(b * _log_scalar(abs(a)))
    integral = np.floor(b) == b          # ±inf too; NaN not
    odd = integral and (np.floor(b * 0.5) * 2.0 != b)      # not ±inf, nor beyond 2**53
    result = magnitude
    if a < 0.0:
        if odd:
            result = -magnitude
        elif not integral and a != -math.inf:
            result = math.nan
    if a == 0.0:
        if b > 0.0:
            result = a if odd else 0.0
        elif b < 0.0:
            result = math.copysign(math.inf, a) if odd else math.inf
    if a == -1.0 and (b == math.inf or b == -math.inf):
        result = 1.0
    if b == 0.0:
        result = 1.0
    if a == 1.0:
        result = 1.0
    return result


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _expm1_parts(x):
    """(p, q, scale) with expm1(x) = scale (q + p)/(q - p) - 1, for |x| <= 709.78.

    x = n ln2 + g, and 1 + 2p/(q - p) is Cephes' Padé form of exp(g);
    scale = 2**n. n = 0 for |x| <= 1/2, so that near 0 the caller can use
    expm1(x) = 2p/(q - p) with full relative accuracy.
    """
    n = 0.0 if abs(x) <= 0.5 else np.floor(x * _LOG2E + 0.5)
    g = x - n * _C1 - n * _C2
    gg = g * g
    p = g * ((1.26177193074810590878e-4 * gg + 3.02994407707441961300e-2) * gg + 9.99999999999999999910e-1)
    q = ((3.00198505138664455042e-6 * gg + 2.52448340349684104192e-3) * gg + 2.27265548208155028766e-1) * gg \
        + 2.00000000000000000009e0
    n_int = _bits_from_double(n + 6755399441055744.0) - 0x4338000000000000
    half_scale = _double_from_bits((n_int + 1022) << 52)    # 2**(n-1): n may be 1024
    return p, q, half_scale, n == 0.0


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _expm1_scalar(x):
    p, q, half_scale, near = _expm1_parts(min(max(x, -708.0), 709.782712893384))
    r = 2.0 * (p / (q - p))                       # expm1(g)
    result = r if near else (r * half_scale + (half_scale - 0.5)) * 2.0
    if x > 709.782712893384:
        result = math.inf
    if x < -708.0:
        result = -1.0
    if x != x:
        result = x
    return result


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _tanh_scalar(x):
    # tanh(a) = expm1(2a) / (expm1(2a) + 2) for a = |x|; with expm1 = N/D from
    # _expm1_parts that is N / (N + 2D), one division: p/q near 0, and
    # (s(q + p) - (q - p)) / (s(q + p) + (q - p)) with s = 2**n beyond.
    # tanh(20) is 1 in double precision: |x| is capped there.
    a = min(abs(x), 20.0)
    p, q, half_scale, near = _expm1_parts(2.0 * a)
    big = half_scale * 2.0 * (q + p)
    numerator = p if near else big - (q - p)
    denominator = q if near else big + (q - p)
    result = math.copysign(numerator / denominator, x)
    if x != x:
        result = x
    return result


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _log1p_scalar(x):
    # log(1 + x) corrected for the rounding of 1 + x (Goldberg): exact to a
    # few ulp also where 1 + x loses x's low digits.
    u = 1.0 + x
    d = u - 1.0
    result = x if d == 0.0 else _log_scalar(u) * (x / d)
    if x == math.inf:
        result = math.inf
    return result


def fast_exp(x):
    """``exp`` for the numba backend (scalars and arrays)."""
    return np.exp(x)


def fast_expm1(x):
    """``expm1`` for the numba backend (scalars and arrays)."""
    return np.expm1(x)


def _elementwise(scalar_impl):
    def typer(x):
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return lambda x: scalar_impl(float(x))
        if isinstance(x, types.Array):
            def impl(x):
                out = np.empty(x.shape)
                flat_in = x.ravel()
                flat_out = out.ravel()
                for k in range(flat_in.size):
                    flat_out[k] = scalar_impl(float(flat_in[k]))
                return out
            return impl
    return typer


def fast_log(x):
    """``log`` for the numba backend (scalars and arrays)."""
    return np.log(x)


def fast_pow(a, b):
    """``a ** b`` for an exponent that is not an integer constant: exp(b log a) for scalars."""
    return a ** b


@overload(fast_pow)
def _fast_pow(a, b):
    if all(isinstance(t, (types.Float, types.Integer)) for t in (a, b)):
        return lambda a, b: _pow_scalar(float(a), float(b))
    if isinstance(a, types.Array) and isinstance(b, types.Float):
        # numpy's array ** scalar takes np.sqrt for 0.5 (-0.0 and -inf differ from pow)
        return lambda a, b: np.sqrt(a) if b == 0.5 else a ** b
    return lambda a, b: a ** b     # arrays: numpy's own power


def floor_divide(a, b):
    """``a // b`` and ``np.floor_divide`` in the array form, element by element with
    the scalar ``//`` (CPython's algorithm, which numpy's is: 1.0 // 0.1 is 9.0), where
    numba's array version takes floor(a / b) (10.0)."""
    return a // b


@overload(floor_divide)
def _floor_divide(a, b):
    from numba.np.numpy_support import as_dtype
    scalar = (types.Number, types.Boolean)
    if isinstance(a, scalar) and isinstance(b, scalar):
        return lambda a, b: a // b
    arrays = [t for t in (a, b) if isinstance(t, types.Array)]
    if any(t.ndim != 1 for t in arrays) or not all(isinstance(t, scalar) or t in arrays for t in (a, b)):
        return None
    # numpy's result type (float64 for the fields' float64 values), decided when typing
    dtype = np.result_type(*(as_dtype(t.dtype if isinstance(t, types.Array) else t) for t in (a, b))).type
    if isinstance(b, scalar):
        def impl(a, b):
            out = np.empty(a.shape[0], dtype)
            for k in range(a.shape[0]):
                out[k] = a[k] // b
            return out
        return impl
    if isinstance(a, scalar):
        def impl(a, b):
            out = np.empty(b.shape[0], dtype)
            for k in range(b.shape[0]):
                out[k] = a // b[k]
            return out
        return impl

    def impl(a, b):
        n = a.shape[0] if a.shape[0] != 1 else b.shape[0]
        if (a.shape[0] != n and a.shape[0] != 1) or (b.shape[0] != n and b.shape[0] != 1):
            raise ValueError("operands could not be broadcast together")
        out = np.empty(n, dtype)
        for k in range(n):
            out[k] = a[k if a.shape[0] != 1 else 0] // b[k if b.shape[0] != 1 else 0]
        return out
    return impl


def _is_boolean(t):
    return isinstance(t, types.Boolean) or (isinstance(t, types.Array) and isinstance(t.dtype, types.Boolean))


def add(a, b):
    """``a + b`` in the array form: numpy's 'or' where both are booleans and one is an
    array (numba adds them as integers: mask + mask is 2 there, numpy's True). Two
    single booleans have no implementation: Python's True + True is 2, numpy's
    np.True_ + np.True_ True, and the array form cannot tell which it has."""
    return a + b


@overload(add)
def _add(a, b):
    if _is_boolean(a) and _is_boolean(b):
        if isinstance(a, types.Array) or isinstance(b, types.Array):
            return lambda a, b: np.logical_or(a, b)
        return None     # two single booleans: Python's or numpy's? (refused: generate._numba_reason)
    return lambda a, b: a + b


def multiply(a, b):
    """``a * b`` in the array form: numpy's 'and' (a boolean) where both are booleans
    and one is an array (numba's is an integer, which a later + would add as such)."""
    return a * b


@overload(multiply)
def _multiply(a, b):
    if _is_boolean(a) and _is_boolean(b):
        if isinstance(a, types.Array) or isinstance(b, types.Array):
            return lambda a, b: np.logical_and(a, b)
        return None
    return lambda a, b: a * b


def raise_value(address, j, x):
    """Number ``x`` as value ``j`` of the raise record at ``address`` (an int64
    address; see abi.contract): its kind and 64 bits, for a message the
    formatter makes in Python (messages.py). Anything but a number (an array,
    a string the code computes) has no implementation: the message formats
    it, which the compiled code cannot (generate._numba_reason says so)."""


@overload(raise_value)
def _raise_value(address, j, x):
    if isinstance(x, types.Boolean):
        def impl(address, j, x):
            words = as_i64(address)
            words[1 + 2 * j] = contract.RAISE_BOOL
            words[2 + 2 * j] = 1 if x else 0
        return impl
    if isinstance(x, types.Integer):
        def impl(address, j, x):
            words = as_i64(address)
            words[1 + 2 * j] = contract.RAISE_INT
            words[2 + 2 * j] = np.int64(x)
        return impl
    if isinstance(x, types.Float):
        def impl(address, j, x):
            as_i64(address)[1 + 2 * j] = contract.RAISE_FLOAT
            as_f64(address)[2 + 2 * j] = np.float64(x)
        return impl
    return None


def raise_count(address, n):
    """The count of values of the raise record at ``address`` (see raise_value)."""
    as_i64(address)[0] = n


raise_count = njit(raise_count)


def invert(x):
    """``~x`` in the array form: an array's or integer's ``~``. A scalar boolean has
    no implementation (the compiler refuses): Python's ``~True`` is -2, numpy's
    ``~np.True_`` False, and numba cannot tell which of the two it is."""
    return ~x


@overload(invert)
def _invert(x):
    if isinstance(x, (types.Array, types.Integer)):
        return lambda x: ~x
    return None


def fast_tanh(x):
    """``tanh`` for the numba backend (scalars and arrays)."""
    return np.tanh(x)


def fast_log1p(x):
    """``log1p`` for the numba backend (scalars and arrays)."""
    return np.log1p(x)


overload(fast_exp)(_elementwise(_exp_scalar))
overload(fast_tanh)(_elementwise(_tanh_scalar))
overload(fast_log1p)(_elementwise(_log1p_scalar))
overload(fast_log)(_elementwise(_log_scalar))
overload(fast_expm1)(_elementwise(_expm1_scalar))


@_cached_jit(error_model="numpy", fastmath={"contract"})
def _exprelr_scalar(x):
    # x / expm1(x) with one division: with expm1(x) = (s (q + p) - (q - p)) / (q - p),
    # s = 2**n, it is x (q - p) / 2 / (s/2 (q + p) - (q - p)/2) (halves: s (q + p)
    # may overflow where expm1 does not); near 0 (n = 0) the denominator is p,
    # without the cancellation. Above 709.78 (exprelr < 4e-306) it flushes to 0.
    p, q, half_scale, near = _expm1_parts(min(max(x, -708.0), 709.782712893384))
    half_denominator = p if near else half_scale * (q + p) - 0.5 * (q - p)
    tiny = 1.0 + x == 1.0
    result = 0.5 * x * (q - p) / (1.0 if tiny else half_denominator)   # selects, not branches: vectorisable
    if tiny:
        result = 1.0
    if x > 709.782712893384:
        result = 0.0 if x != math.inf else math.nan     # inf / inf
    if x < -708.0:
        result = -x
    return result


overload(exprelr)(_elementwise(_exprelr_scalar))
overload(cnexp)(lambda x, x_inf, tau, dt: cnexp)
overload(cnexp_linear)(lambda x, a, b, dt: cnexp_linear)


def assign_field(target, value):
    """``target[:] = value`` if ``value`` is a scalar or has target's length.

    Returns 0, or, when the shape is wrong, ``1 + 4 size + min(ndim, 3)`` of
    ``value``: the shim turns that into its error message.
    """


# The detail of a wrong-shape status (abi.contract.shape_detail), compiled.
_wrong_shape = _cached_jit()(contract.shape_detail)


@overload(assign_field)
def _assign_field(target, value):
    if isinstance(value, (types.Number, types.Boolean)):
        def impl(target, value):
            for k in range(target.shape[0]):
                target[k] = value
            return 0
        return impl
    if isinstance(value, types.Array):
        ndim = value.ndim
        if ndim == 0:
            def impl(target, value):
                v = value[()]
                for k in range(target.shape[0]):
                    target[k] = v
                return 0
            return impl
        if ndim == 1:
            def impl(target, value):
                n = value.shape[0]
                if n == target.shape[0]:
                    if value.ctypes.data != target.ctypes.data:
                        for k in range(n):
                            target[k] = value[k]
                    return 0
                if n == 1:
                    v = value[0]
                    for k in range(target.shape[0]):
                        target[k] = v
                    return 0
                return _wrong_shape(n, 1)
            return impl
        return lambda target, value: _wrong_shape(value.size, ndim)



# The range test of the field decode (arbor_pycat.abi.rules), compiled.
is_range = _cached_jit()(rules.is_range)


# numpy's element-wise functions on one value each, with numpy's rules (the
# scalar kernels of :mod:`.lower` call them; LLVM inlines them into selects).
@_cached_jit(error_model="numpy")
def np_maximum(a, b):
    """``np.maximum``: NaN if either is NaN; the first on ties."""
    return a if (a >= b or a != a) else b


@_cached_jit(error_model="numpy")
def np_minimum(a, b):
    """``np.minimum``: NaN if either is NaN; the first on ties."""
    return a if (a <= b or a != a) else b


@_cached_jit(error_model="numpy")
def np_fmax(a, b):
    """``np.fmax``: the other value where one is NaN."""
    return a if (a >= b or b != b) else b


@_cached_jit(error_model="numpy")
def np_fmin(a, b):
    """``np.fmin``: the other value where one is NaN."""
    return a if (a <= b or b != b) else b


@_cached_jit(error_model="numpy")
def np_clip_lo(x, lo):
    """The lower bound of ``np.clip``: x where x is NaN, else max(x, lo) (lo on NaN lo)."""
    return x if x != x else (x if x > lo else lo)


@_cached_jit(error_model="numpy")
def np_clip_hi(x, hi):
    """The upper bound of ``np.clip``: x where x is NaN, else min(x, hi)."""
    return x if x != x else (x if x < hi else hi)


# The same with one side a constant c that is not NaN: one select, which LLVM
# makes one vmaxpd/vminpd where c is not zero (x86's max(c, x) is c > x ? c : x,
# x where x is NaN). Each equals the numpy rule above for every x, NaN and
# signed zeros included (the generated code picks the variant, see lower.py).
@_cached_jit(error_model="numpy")
def above(x, c):
    """c where c > x, else x."""
    return c if c > x else x


@_cached_jit(error_model="numpy")
def above_or_at(x, c):
    """c where c >= x, else x."""
    return c if c >= x else x


@_cached_jit(error_model="numpy")
def below(x, c):
    """c where c < x, else x."""
    return c if c < x else x


@_cached_jit(error_model="numpy")
def below_or_at(x, c):
    """c where c <= x, else x."""
    return c if c <= x else x


@_cached_jit(error_model="numpy")
def np_sign(x):
    """``np.sign`` of a float: -1, 0 or 1, NaN for NaN."""
    if x != x:
        return x
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


@_cached_jit(error_model="numpy")
def np_heaviside(x, h0):
    """``np.heaviside(x, h0)``: 0 below zero, h0 at zero (either sign), 1 above, NaN for NaN."""
    if x != x:
        return x
    return 1.0 if x > 0 else (0.0 if x < 0 else h0)


@_cached_jit(error_model="numpy")
def np_isclose(a, b, rtol, atol):
    """``np.isclose(a, b, rtol, atol)``: |a - b| <= atol + rtol |b| where b is finite; a == b else."""
    return (a == b) or (np.isfinite(b) and abs(a - b) <= atol + rtol * abs(b))


@_cached_jit(error_model="numpy")
def np_isclose_nan(a, b, rtol, atol):
    """``np.isclose(..., equal_nan=True)``."""
    return (a != a and b != b) or (a == b) or (np.isfinite(b) and abs(a - b) <= atol + rtol * abs(b))


@_cached_jit()
def const_nan():
    return np.nan


@_cached_jit()
def const_inf():
    return np.inf
