"""Shared test configuration.

``BACKENDS`` lists the arbor_pycat backends that the equivalence tests run
every port on; tests take the backend as a parameter and pass it on to
``arbor_pycat.build(..., backend=backend)`` / ``arbor_pycat.compare(...)``.
"""
import sys
from pathlib import Path

import pytest

from arbor_pycat import declarations

# Test modules import their helpers (conftest's BACKENDS, pycat_cell) by name.
_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

BACKENDS = ["python", "numba"]


@pytest.fixture(autouse=True)
def _restore_registry():
    """Classes a test registers must not leak into other tests' build()."""
    saved = dict(declarations._registry)
    yield
    declarations._registry.clear()
    declarations._registry.update(saved)
