"""Shared test configuration.

``BACKENDS`` lists the arbor_pycat backends that the equivalence tests run
every port on; tests take the backend as a parameter and pass it on to
``arbor_pycat.build(..., backend=backend)`` / ``arbor_pycat.compare(...)``.
"""
import pytest

from arbor_pycat import declarations

# Test modules import their helpers (this BACKENDS, pycat_cell, checks) by
# name: pyproject.toml puts the tests folder on pytest's ``pythonpath``.
BACKENDS = ["python", "numba"]


@pytest.fixture(autouse=True)
def _restore_registry():
    """Classes a test registers must not leak into other tests' build()."""
    saved = dict(declarations._registry)
    yield
    declarations._registry.clear()
    declarations._registry.update(saved)
