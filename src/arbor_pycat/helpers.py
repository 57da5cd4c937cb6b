"""Numerical helpers that reproduce what Arbor's modcc generates.

Both accept scalars or numpy arrays, and both compile with the numba backend.
"""
import numpy as np


def exprelr(x):
    """``x / (exp(x) - 1)``, with the removable singularity at 0 filled with 1.

    The same function as NMODL's ``exprelr`` in Arbor (``arb::math::exprelr``):
    exact 1 where ``1 + x == 1``.
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

    ``tau`` and ``dt`` in the same unit (ms). Returns the new value; assign it
    (``pp.m = cnexp(pp.m, minf, mtau, pp.dt)``).
    """
    a = dt / tau
    return x_inf + (x - x_inf) * ((2.0 - a) / (2.0 + a))
