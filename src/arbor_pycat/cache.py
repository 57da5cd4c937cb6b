"""Where arbor_pycat keeps what it generates: numba's compiled code, imported NMODL files."""
import os
from pathlib import Path


def cache_dir() -> Path:
    """``$ARBOR_PYCAT_CACHE_DIR``, else ``$XDG_CACHE_HOME/arbor_pycat`` (``~/.cache/arbor_pycat``)."""
    root = os.environ.get("ARBOR_PYCAT_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "arbor_pycat"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a private temporary name renamed into place:
    a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
