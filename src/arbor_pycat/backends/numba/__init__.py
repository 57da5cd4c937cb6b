"""The numba backend: mechanism methods compiled to native C callbacks.

For each method, :mod:`.translate` rewrites the user's code into a kernel and
:mod:`.entry_scalar` or :mod:`.entry_array` writes the entry function that Arbor
calls through the shim, from the fields' decode (:mod:`.access`).
The generated module is written to a cache folder under a name that hashes
its source (and everything it depends on), so that numba's on-disk cache
makes a second process's build fast; next to it :mod:`.native` keeps the
compiled entries as a shared library, which a new process loads without
starting numba at all. No Python runs during a simulation.
"""
import threading

from ...spec.inspection import always_raises, stale_source
from ..base import CannotCompile, CompiledMechanism

_lock = threading.Lock()


def compile(spec, shim=None, *, native_library=True) -> CompiledMechanism:
    """The compiled callbacks of ``spec`` (see :func:`.generate.build`)."""
    import importlib.util
    if importlib.util.find_spec("numba") is None:   # pragma: no cover - numba is a dependency
        raise CannotCompile("numba is not available (not installed)")
    from . import generate
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
        return generate.build(spec, native_library)
