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
    """The numba backend cannot compile a method; the message says which and why.

    ``method``: the method's name; ``lineno``: the line of the user's file the
    reason is about, when known; ``detail``: numba's full message, if any.
    """

    def __init__(self, message, *, method=None, lineno=None, detail=None):
        super().__init__(message)
        self.method, self.lineno, self.detail = method, lineno, detail


_warned = {}      # the registry of the fallback warnings issued at users' lines


def _reason_location(spec, reason):
    """(method name, Location) that a CannotCompile is about, or (None, None)."""
    import re
    from .. import locations
    text = str(reason)
    method = reason.method or next((name for name in spec.methods
                                    if text.startswith((name + ":", name + " "))), None)
    if method is None:
        return None, None
    method_spec = spec.methods[method]
    lineno = reason.lineno
    if lineno is None:
        found = re.search(r"\(line (\d+)\)", text)      # translate()'s messages: lines of the file
        lineno = int(found.group(1)) if found else _line_of_name(method_spec, text)
    where = locations.of_function(method_spec.function, spec.cls, method)
    if where is not None and lineno is not None:
        where = locations.Location(where.filename, lineno, where.function)
    return method, where


def _line_of_name(method_spec, text):
    """The first line of the method that uses a name the message quotes ('foo', foo())."""
    import ast
    import re
    tree = method_spec.access.tree
    if tree is None:
        return None
    names = re.findall(r"'([A-Za-z_]\w*)'|([A-Za-z_]\w*)\(\)", text.split(":", 1)[-1])
    wanted = [a or b for a, b in names if (a or b) not in ("self", "pp")]
    for name in wanted:
        lines = [node.lineno for node in ast.walk(tree)
                 if (isinstance(node, ast.Name) and node.id == name)
                 or (isinstance(node, ast.Attribute) and node.attr == name)]
        if lines:
            return min(lines)
    return None


def _verbose_hint(reason, verbose):
    if not reason.detail:
        return ""
    if verbose:
        return "\nnumba's message:\n" + reason.detail
    return ("\n(numba's full message: build(..., verbose=True) or the environment variable "
            "ARBOR_PYCAT_VERBOSE=1)")


def compile_mechanism(spec, shim, default="auto", verbose=False):
    """Compile ``spec`` with its backend; the result's ``fallback`` is the reason
    (a CannotCompile) when ``auto`` fell back to the python backend, else None."""
    choice = spec.backend or default or "auto"
    if choice not in ("auto", "numba", "python"):
        raise MechanismError(f"unknown backend {choice!r}; expected auto, numba or python")
    if choice == "python":
        from . import python
        compiled = python.compile(spec, shim)
        compiled.fallback = None
        return compiled
    from . import numba as numba_backend
    try:
        compiled = numba_backend.compile(spec, shim)
        compiled.fallback = None
        return compiled
    except CannotCompile as reason:
        _, where = _reason_location(spec, reason)
        if choice == "numba":
            raise MechanismError(f"{spec.label}: backend='numba' cannot compile it: {reason}"
                                 + _verbose_hint(reason, verbose), location=where) from None
        text = f"{spec.label}: falling back to the python backend: {reason}" + _verbose_hint(reason, verbose)
        if where is not None:   # the warning names the user's line, not build()'s
            warnings.warn_explicit(text, UserWarning, where.filename, where.lineno,
                                   registry=_warned)   # once per text and line, as warnings.warn does
        else:
            warnings.warn(text, stacklevel=3)
        from . import python
        compiled = python.compile(spec, shim)
        compiled.fallback = reason
        return compiled
