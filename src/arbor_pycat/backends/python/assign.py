"""Assignments to ``pp`` fields: checked for values numpy would silently change."""
import warnings

import numpy as np

from ...errors import MechanismError


_float32_warned = set()


_REAL_KINDS = frozenset("fiub")


def check_real(value, label, name):
    """Refuse values that numpy would turn into NaN (None) or cut (complex) silently."""
    kind = None
    if value is None:
        kind = "None"
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in _REAL_KINDS:
            kind = value.dtype
    elif isinstance(value, (complex, np.complexfloating)):
        kind = "complex"
    elif not isinstance(value, (bool, int, float, np.number, np.bool_)):
        try:
            dtype = np.asarray(value).dtype
        except Exception:
            return          # numpy's own error follows, with the shapes
        if dtype.kind not in _REAL_KINDS:
            kind = "None" if dtype.kind == "O" and _has_none(value) else dtype
    if kind is None:
        return
    if kind == "None":
        why = "None (numpy would store NaN)"
    elif kind == "complex" or getattr(kind, "kind", "") == "c":
        why = "complex values (numpy would keep the real part only)"
    else:
        why = f"values of type {kind}, which are not real numbers"
    raise MechanismError(f"{label}: pp.{name} was assigned {why}: assign real numbers "
                         "(one per instance, or a scalar)")


def _has_none(value):
    try:
        return any(item is None for item in np.asarray(value, dtype=object).ravel())
    except Exception:
        return False


def assign(target, value, label, name):
    if type(value) is not float:
        check_real(value, label, name)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype == np.float32:
        key = (label, name)
        if key not in _float32_warned:
            _float32_warned.add(key)
            warnings.warn(f"{label}: pp.{name} assigned float32 values; arbor computes in float64 "
                          "(with JAX, enable x64: jax.config.update('jax_enable_x64', True))",
                          stacklevel=3)
    try:
        target[...] = value
    except (ValueError, TypeError) as exc:
        raise MechanismError(f"{label}: cannot assign a value of shape {np.shape(value)} to "
                             f"pp.{name}, which has shape {target.shape} (one value per instance, "
                             f"or a scalar): {exc}") from None
