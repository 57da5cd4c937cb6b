"""Where arbor_pycat keeps what it generates: numba's compiled code, imported NMODL files."""
import os
from pathlib import Path


def cache_dir() -> Path:
    """``$ARBOR_PYCAT_CACHE_DIR``, else ``$XDG_CACHE_HOME/arbor_pycat`` (``~/.cache/arbor_pycat``)."""
    root = os.environ.get("ARBOR_PYCAT_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "arbor_pycat"
