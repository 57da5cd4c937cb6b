"""The backends there are, by the names classes and ``build(backend=...)`` use.

``auto`` is not a backend but a choice: numba, falling back to python with a
warning. The spec checks declared names against
:data:`arbor_pycat.spec.kinds.BACKEND_CHOICES`; a test keeps both in step.
"""
import importlib

# name -> module with compile(spec, shim) -> CompiledMechanism (imported when first used)
BACKENDS = {
    "numba": "arbor_pycat.backends.numba",
    "python": "arbor_pycat.backends.python",
}


def backend(name):
    """The module implementing backend ``name``."""
    return importlib.import_module(BACKENDS[name])
