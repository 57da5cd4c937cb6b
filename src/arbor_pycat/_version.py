"""The version of arbor_pycat (one place: pyproject.toml reads it too, if it can)."""
__version__ = "0.1.0"
