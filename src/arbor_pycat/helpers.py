"""Numerical helpers that reproduce what Arbor's modcc generates.

All accept scalars or numpy arrays (a float in, a float out; an array in, an
array out), and all compile with the numba backend. They carry no type
annotations on purpose: numba's ``overload`` of each (the numba backend's mathlib)
requires the Python function's parameters to equal its typing stub's, and an
annotation makes them differ.
"""
import numpy as np


def exprelr(x):
    """``x / (exp(x) - 1)``, with the removable singularity at 0 filled with 1.

    The same function as NMODL's ``exprelr`` in Arbor (``arb::math::exprelr``):
    exact 1 where ``1 + x == 1``. ``x`` is dimensionless (e.g. ``(v + 40) / 10``
    with v in mV).
    """
    x = np.asarray(x, dtype=np.float64)
    small = (1.0 + x) == 1.0
    safe = np.where(small, 1.0, x)
    out = np.where(small, 1.0, safe / np.expm1(safe))
    return out if out.ndim else float(out)


def cnexp(x, x_inf, tau, dt):
    """One step of ``x' = (x_inf - x) / tau`` as modcc's ``METHOD cnexp`` takes it.

    modcc does not use ``exp(-dt/tau)`` but its (2,2) Padé form::

        x_new = x_inf + (x - x_inf) * (2 - dt/tau) / (2 + dt/tau)

    computed here as ``x + (x_inf - x) * 2 dt / (2 tau + dt)``: the same value
    (to rounding) with one division. ``tau = inf`` leaves ``x`` unchanged;
    ``tau = 0`` gives the scheme's limit ``2 x_inf - x`` (modcc: NaN).
    ``tau`` and ``dt`` in the same unit (ms). Returns the new value; assign it
    (``pp.m = cnexp(pp.m, minf, mtau, pp.dt)``).
    """
    return x + (x_inf - x) * (2.0 * dt / (2.0 * tau + dt))


def cnexp_linear(x, a, b, dt):
    """One cnexp step of the linear equation ``x' = a x + b``, as modcc takes it.

    The form of an NMODL ``DERIVATIVE`` block, e.g. Hodgkin-Huxley's
    ``m' = (alpha - m (alpha + beta)) q10`` is ``a = -(alpha + beta) q10``,
    ``b = alpha q10``. modcc's Padé step ``x_new = (x + b/a) (2 + a dt) /
    (2 - a dt) - b/a`` is computed as ``x + (a x + b) 2 dt / (2 - a dt)``:
    the same value (to rounding), one division, and exact for ``a = 0``.
    ``a`` in 1/ms, ``b`` in units of ``x`` per ms, ``dt`` in ms.
    """
    return x + (a * x + b) * (2.0 * dt / (2.0 - a * dt))
