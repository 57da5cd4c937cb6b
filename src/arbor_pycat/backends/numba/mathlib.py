"""Functions the generated numba code calls.

* :func:`fast_exp`, :func:`fast_expm1`: call-free ``exp``/``expm1`` (Cephes
  rational approximations, relative error ~2e-16) so LLVM can vectorise loops
  that use them; PyPI's llvmlite has no vector math library, and a libm call
  per element stops vectorisation.
* numba implementations of :func:`arbor_pycat.exprelr` and
  :func:`arbor_pycat.cnexp`, for scalars and arrays.
* :func:`assign_field`: a checked whole-field assignment (no exception can
  escape a C callback, so shape errors become status codes).
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from ...helpers import cnexp, exprelr

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


@njit(error_model="numpy")
def _exp_scalar(x):
    big = x > 709.782712893384
    small = x < -708.0
    xc = min(max(x, -708.0), 709.782712893384)
    n = math.floor(xc * _LOG2E + 0.5)
    r = xc - n * _C1 - n * _C2
    rr = r * r
    p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1)
    q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr \
        + 2.00000000000000000009e0
    e = 1.0 + 2.0 * (p / (q - p))
    scale = _double_from_bits((np.int64(n) + 1022) << 52)   # 2**(n-1): n may be 1024
    result = e * scale * 2.0
    if big:
        result = math.inf
    if small:
        result = math.exp(x) if x == x else x   # underflow range: rare, exact libm
    if x != x:
        result = x
    return result


@njit(error_model="numpy")
def _expm1_scalar(x):
    rr = x * x
    p = x * ((1.2617719307481059087798e-4 * rr + 3.0299440770744196129956e-2) * rr
             + 9.9999999999999999991025e-1)
    q = ((3.0019850513866445504159e-6 * rr + 2.5244834034968410419224e-3) * rr
         + 2.2726554820815502876593e-1) * rr + 2.0000000000000000000897e0
    near = 2.0 * (p / (q - p))
    far = _exp_scalar(x) - 1.0
    return near if abs(x) <= 0.5 else far


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


overload(fast_exp)(_elementwise(_exp_scalar))
overload(fast_expm1)(_elementwise(_expm1_scalar))


@njit(error_model="numpy")
def _exprelr_scalar(x):
    if 1.0 + x == 1.0:
        return 1.0
    return x / _expm1_scalar(x)


overload(exprelr)(_elementwise(_exprelr_scalar))


@overload(cnexp)
def _cnexp(x, x_inf, tau, dt):
    def impl(x, x_inf, tau, dt):
        a = dt / tau
        return x_inf + (x - x_inf) * ((2.0 - a) / (2.0 + a))
    return impl


def assign_field(target, value):
    """``target[:] = value`` if ``value`` is a scalar or has target's length; else False."""


@overload(assign_field)
def _assign_field(target, value):
    if isinstance(value, (types.Number, types.Boolean)):
        def impl(target, value):
            for k in range(target.shape[0]):
                target[k] = value
            return True
        return impl
    if isinstance(value, types.Array):
        if value.ndim == 0:
            def impl(target, value):
                v = value[()]
                for k in range(target.shape[0]):
                    target[k] = v
                return True
            return impl
        if value.ndim == 1:
            def impl(target, value):
                n = value.shape[0]
                if n == target.shape[0]:
                    if value.ctypes.data != target.ctypes.data:
                        for k in range(n):
                            target[k] = value[k]
                    return True
                if n == 1:
                    v = value[0]
                    for k in range(target.shape[0]):
                        target[k] = v
                    return True
                return False
            return impl
        return lambda target, value: False
