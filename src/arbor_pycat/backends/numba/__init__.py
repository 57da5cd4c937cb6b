"""The numba backend: mechanism methods compiled to native C callbacks.

For each method, :mod:`.translate` rewrites the user's code into a kernel and
:mod:`.codegen` writes the entry function that Arbor calls through the shim.
The generated module is written to a cache folder under a name that hashes
its source (and everything it depends on), so that numba's on-disk cache
makes a second process's build fast. No Python runs during a simulation.
"""
import hashlib
import importlib.util
import os
import sys
import threading
from pathlib import Path

from .. import CannotCompile
from ... import fields as F

_lock = threading.Lock()


def cache_dir():
    """Where generated modules and numba's compiled code are kept."""
    root = os.environ.get("ARBOR_PYCAT_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "arbor_pycat"


class NumbaMechanism:
    backend = "numba"

    def __init__(self, spec, callbacks, messages, module, modes):
        self.spec = spec
        self.callbacks = callbacks
        self.messages = messages
        self.module = module      # keeps the cfuncs (and their code) alive
        self.modes = modes        # {method: "scalar" | "array"}


def compile(spec, shim=None):
    try:
        import numba  # noqa: F401
    except ImportError as exc:   # pragma: no cover - numba is a dependency
        raise CannotCompile(f"numba is not available ({exc})") from None
    from . import generate
    from ...inspection import always_raises, stale_source
    problem = stale_source([method.function for method in spec.methods.values()])
    if problem:
        raise CannotCompile(problem)
    for name, method in spec.methods.items():
        raised = always_raises(method.function)
        if raised:
            raise CannotCompile(f"{name} always raises {raised[0]} (line {raised[1]}): Arbor calls "
                                "every method a mechanism defines, so every simulation would stop "
                                "there; implement it, or delete it while it is a placeholder")
    with _lock:
        return generate.build(spec)
