"""Turn compiled mechanisms into an ``arbor.catalogue`` through the C shim.

Each :func:`load_catalogue` call copies the shim shared object to a new file
(``dlopen`` caches by path, so copies would otherwise share their tables),
fills its tables with the mechanisms' ``arb_mechanism_type`` and callbacks,
and loads it with ``arbor.load_catalogue``. Arbor copies the type structs but
keeps pointing at their strings and tables, and calls the callbacks for as
long as the process lives: everything is kept alive in :data:`_alive`.
The copy's file is deleted as soon as Arbor has loaded it (the mapping stays),
and its temporary folder when the process exits.
"""
import atexit
import ctypes
import importlib.machinery
import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import abi
from .compat import check_arbor
from .errors import MechanismError

_alive = []          # every object a loaded catalogue may still point to
_workdir = None
_counter = 0


def shim_path():
    """The compiled shim that ships with the package."""
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = here / f"_shim{suffix}"
        if candidate.exists():
            return candidate
    raise ImportError("arbor_pycat's compiled shim (_shim*.so) is missing: reinstall the package "
                      "(pip install .) so that it is built")


def _fresh_copy():
    global _workdir, _counter
    if _workdir is None:
        _workdir = tempfile.mkdtemp(prefix="arbor_pycat_")
        atexit.register(shutil.rmtree, _workdir, ignore_errors=True)
    _counter += 1
    target = os.path.join(_workdir, f"catalogue_{os.getpid()}_{_counter}.so")
    shutil.copyfile(shim_path(), target)
    return target


def _load_shim(path):
    lib = ctypes.CDLL(path)
    missing = [name for name in ("pycat_layout", "pycat_set_mechanism", "pycat_set_callback",
                                 "pycat_set_python_callback", "pycat_set_message", "pycat_set_error",
                                 "pycat_last_failure", "get_catalogue") if not hasattr(lib, name)]
    if missing:
        raise ImportError(f"arbor_pycat's compiled shim is out of date (no {', '.join(missing)}): "
                          "reinstall the package (pip install .) to rebuild it")
    lib.pycat_layout.restype = ctypes.c_ulong
    lib.pycat_layout.argtypes = [ctypes.c_int]
    lib.pycat_abi_version_major.restype = ctypes.c_int
    lib.pycat_abi_version_minor.restype = ctypes.c_int
    lib.pycat_set_mechanism.argtypes = [ctypes.c_int, ctypes.POINTER(abi.MechanismType)]
    lib.pycat_set_callback.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    lib.pycat_set_message.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p]
    lib.pycat_set_python_callback.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.py_object]
    lib.pycat_set_error.argtypes = [ctypes.c_char_p]
    lib.pycat_set_error.restype = None
    lib.pycat_last_failure.restype = ctypes.c_ulong
    lib.pycat_last_failure.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_longlong)]
    found = tuple(lib.pycat_layout(k) for k in range(len(abi.EXPECTED_LAYOUT)))
    if found != abi.EXPECTED_LAYOUT:
        raise ImportError("arbor_pycat's mirror of Arbor's mechanism ABI does not match the "
                          f"compiled shim (layout {found} != {abi.EXPECTED_LAYOUT})")
    version = (lib.pycat_abi_version_major(), lib.pycat_abi_version_minor())
    if version != abi.ABI_VERSION[:2]:
        raise ImportError(f"the shim was compiled against mechanism ABI {version}, "
                          f"arbor_pycat mirrors {abi.ABI_VERSION[:2]}")
    return lib


def arbor_units(units):
    """Units as modcc writes them into Arbor's field tables: 'S/cm2' -> 'S / cm2',
    '/ms' -> '/ ms', 'mV ms' unchanged."""
    import re
    return re.sub(r"\s*/\s*", " / ", " ".join(units.split())).strip()


def _fields(entries):
    # Ranges as modcc writes them (the largest finite doubles). State defaults
    # stay as declared, where modcc writes NaN: Arbor fills the state arrays
    # with them before init_mechanism, which is what the declared default means.
    table = (abi.FieldInfo * max(1, len(entries)))()
    for row, entry in zip(table, entries):
        row.name = entry.name.encode()
        row.unit = arbor_units(entry.units).encode()
        row.default_value = entry.default
        row.range_low = -sys.float_info.max
        row.range_high = sys.float_info.max
    return table


def mechanism_type(spec):
    """The ``arb_mechanism_type`` of ``spec`` and the objects it points to."""
    t = abi.MechanismType()
    keep = [t]
    t.fingerprint = b"<arbor_pycat>"
    t.name = spec.name.encode()
    t.kind = abi.MECHANISM_KINDS[spec.kind]
    t.is_linear = spec.linear   # lets Arbor coalesce identical synapses (multiplicity)
    t.has_post_events = spec.has_post_events
    for attribute, entries in (("globals", spec.globals), ("state_vars", spec.state_vars),
                               ("parameters", spec.parameters)):
        table = _fields(entries)
        keep.append(table)
        setattr(t, attribute, ctypes.cast(table, ctypes.POINTER(abi.FieldInfo)) if entries else None)
        setattr(t, "n_" + attribute, len(entries))
    ions = (abi.IonInfo * max(1, len(spec.ions)))()
    for row, ion in zip(ions, spec.ions):
        row.name = ion.name.encode()
        for flag in ("write_int_concentration", "write_ext_concentration", "read_int_concentration",
                     "read_ext_concentration", "use_diff_concentration", "write_rev_potential",
                     "read_rev_potential", "read_valence", "verify_valence"):
            setattr(row, flag, getattr(ion, flag))
        row.expected_valence = ion.expected_valence
    keep.append(ions)
    t.ions = ctypes.cast(ions, ctypes.POINTER(abi.IonInfo)) if spec.ions else None
    t.n_ions = len(spec.ions)
    randoms = (abi.RandomVariableInfo * max(1, len(spec.random)))()
    for row, r in zip(randoms, spec.random):
        row.name = r.name.encode()
        row.index = r.slot
    keep.append(randoms)
    t.random_variables = ctypes.cast(randoms, ctypes.POINTER(abi.RandomVariableInfo)) if spec.random else None
    t.n_random_variables = len(spec.random)
    return t, keep


class Shim:
    """One loaded copy of the shim: the tables of one catalogue."""

    def __init__(self):
        self.path = _fresh_copy()
        self.lib = _load_shim(self.path)
        self.capacity = self.lib.pycat_max_mechanisms()
        self.count = 0
        _alive.append(self)
        self.keep = []

    def last_failure(self):
        """(time in ns of time.monotonic_ns(), message) of the latest failure of a
        compiled callback of this catalogue, or None."""
        when = ctypes.c_longlong(0)
        size = self.lib.pycat_last_failure(None, 0, ctypes.byref(when))
        if size == 0:
            return None
        buffer = ctypes.create_string_buffer(size + 1)
        self.lib.pycat_last_failure(buffer, size + 1, ctypes.byref(when))
        return when.value, buffer.value.decode("utf-8", "replace")

    def set_error(self, message):
        """Hand the trampoline the message to throw (thread-local in the shim)."""
        self.lib.pycat_set_error(message.encode("utf-8", "replace"))

    def add(self, spec, compiled):
        """Register one mechanism: its type, its callbacks, its error messages."""
        if self.count >= self.capacity:
            raise MechanismError(f"a catalogue holds at most {self.capacity} mechanisms")
        k = self.count
        t, keep = mechanism_type(spec)
        self.keep += keep
        self.keep.append(compiled)
        self.lib.pycat_set_mechanism(k, ctypes.byref(t))
        for code, message in compiled.messages.items():
            data = message.encode("utf-8", "replace")
            self.keep.append(data)
            self.lib.pycat_set_message(k, code, data)
        for method, target in compiled.callbacks.items():
            if callable(target):     # python backend: f(ppack, events, fingerprint) -> int
                self.lib.pycat_set_python_callback(k, abi.METHODS.index(method), target)
            else:                    # native: the address of a C function
                self.lib.pycat_set_callback(k, abi.METHODS.index(method), target)
        self.count += 1

    def load(self):
        import arbor
        check_arbor(arbor)
        try:
            return arbor.load_catalogue(self.path)
        finally:
            # Loaded (or failed): the mapping outlives the file, and no copy is
            # ever opened twice, so the file can go now.
            try:
                os.unlink(self.path)
            except OSError:
                pass


def native_failures():
    """(time, message) of the latest failure of compiled code, per loaded catalogue."""
    return [failure for failure in (shim.last_failure() for shim in _alive) if failure is not None]
