"""The numba backend: mechanism methods compiled to native C callbacks.

For each method, :mod:`.translate` rewrites the user's code into a kernel and
:mod:`.entry_scalar` or :mod:`.entry_array` writes the entry function that Arbor
calls through the shim, from the fields' decode (:mod:`.access`).
The generated module is written to a cache folder under a name that hashes
its source (and everything it depends on), so that numba's on-disk cache
makes a second process's build fast. No Python runs during a simulation.
"""
import threading

from ...spec.inspection import always_raises, stale_source
from ..base import CannotCompile, CompiledMechanism

_lock = threading.Lock()


def compile(spec, shim=None) -> CompiledMechanism:
    try:
        import numba  # noqa: F401
    except ImportError as exc:   # pragma: no cover - numba is a dependency
        raise CannotCompile(f"numba is not available ({exc})") from None
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
        return generate.build(spec)
