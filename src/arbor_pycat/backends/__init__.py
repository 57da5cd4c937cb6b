"""Backends turn a :class:`~arbor_pycat.spec.MechanismSpec` into callbacks for the shim.

A backend's ``compile(spec, shim)`` returns an object with

* ``callbacks``: ``{method name: target}``, one per method the class
  defines; a target is either the address of a C function
  ``int64 f(arb_mechanism_ppack*, arb_deliverable_event_stream*, uint64
  layout_flags)``, or a Python callable ``f(ppack, events, fingerprint)`` taking
  the addresses and the ppack's fingerprint as integers (see ``_shim.cpp``);
  both return 0, or non-zero on error;
* ``messages``: ``{code: text}``, what the shim throws when a callback
  returns that positive code;
* ``backend``: the backend's name.

``python`` calls the methods through Python with numpy views; ``numba``
compiles them to native code. ``auto`` tries ``numba`` and falls back to
``python`` with one warning saying why.
"""
import warnings

from ..errors import MechanismError


class CannotCompile(Exception):
    """The numba backend cannot compile a method; the message says which and why."""


def compile_mechanism(spec, shim, default="auto"):
    choice = spec.backend or default or "auto"
    if choice not in ("auto", "numba", "python"):
        raise MechanismError(f"unknown backend {choice!r}; expected auto, numba or python")
    if choice == "python":
        from . import python
        return python.compile(spec, shim)
    from . import numba as numba_backend
    try:
        return numba_backend.compile(spec, shim)
    except CannotCompile as reason:
        if choice == "numba":
            raise MechanismError(f"{spec.label}: backend='numba' cannot compile it: {reason}") from None
        warnings.warn(f"{spec.label}: falling back to the python backend: {reason}",
                      stacklevel=3)
        from . import python
        return python.compile(spec, shim)
