"""Choosing a backend for a spec: ``auto`` tries numba and falls back to python
with one warning that names the user's line and says why.
"""
import warnings

from ..errors import MechanismError
from ..spec.kinds import BACKEND_CHOICES
from .base import CannotCompile
from .registry import backend


_warned = {}      # the registry of the fallback warnings issued at users' lines


def _reason_location(spec, reason):
    """(method name, Location) that a CannotCompile is about, or (None, None)."""
    import re
    from ..spec import locations
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
    if choice not in BACKEND_CHOICES:
        raise MechanismError(f"unknown backend {choice!r}; expected {', '.join(BACKEND_CHOICES)}")
    if choice not in ("auto", "numba"):      # auto: numba, else python with a warning
        return backend(choice).compile(spec, shim)
    try:
        return backend("numba").compile(spec, shim)
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
        compiled = backend("python").compile(spec, shim)
        compiled.fallback = reason
        return compiled
