"""Turn compiled mechanisms into an ``arbor.catalogue`` through the C shim.

The shim shared object is copied to a new file (``dlopen`` caches by path,
so catalogues loaded from one file would share its tables) that serves many
catalogues: each :class:`Shim` (one catalogue) takes the next unused slots of
the current copy, fills them with the mechanisms' ``arb_mechanism_type`` and
callbacks, and loads them with ``arbor.load_catalogue`` (the shim's
``get_catalogue`` returns just those slots). A new copy is made only when the
current one's slots run out, so that many builds in one process cost few
memory maps (see :func:`check_map_budget`). Arbor copies the type structs but
keeps pointing at their strings and tables, and calls the callbacks for as
long as the process lives: everything is kept alive in :data:`_alive`. A
copy's file is deleted once its slots are used up (the mapping stays), and
the temporary folder when the process exits.
"""
import atexit
import ctypes
import importlib.machinery
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from .. import abi
from ..abi import contract
from ..compat import check_arbor
from ..errors import MechanismError, add_failure_source
from ..backends.base import interrupted_in_python
from ..spec.units import arbor_units

_alive = []          # every object a loaded catalogue may still point to
_workdir = None
_counter = 0
_library = None      # the copy of the shim whose free slots the next catalogue takes
_first = None        # the first copy: its Ctrl-C flag is every copy's
_lock = threading.Lock()
_MAP_RESERVE = 0.10  # refuse a build once fewer than this share of the kernel's maps remain


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
                                 "pycat_set_formatter",
                                 "pycat_last_failure", "pycat_method_name", "get_catalogue")
               if not hasattr(lib, name)]
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
    lib.pycat_set_formatter.argtypes = [ctypes.c_int, ctypes.py_object]
    lib.pycat_set_error.argtypes = [ctypes.c_char_p]
    lib.pycat_set_error.restype = None
    lib.pycat_last_failure.restype = ctypes.c_ulong
    lib.pycat_last_failure.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_longlong)]
    lib.pycat_method_name.restype = ctypes.c_char_p
    lib.pycat_method_name.argtypes = [ctypes.c_int]
    found = tuple(lib.pycat_layout(k) for k in range(len(contract.EXPECTED_LAYOUT)))
    if found != contract.EXPECTED_LAYOUT:
        raise ImportError("arbor_pycat's mirror of Arbor's mechanism ABI or of its contract with "
                          f"the shim does not match the compiled shim (layout {found} != "
                          f"{contract.EXPECTED_LAYOUT}): reinstall the package (pip install .)")
    methods = tuple((lib.pycat_method_name(k) or b"").decode() for k in range(len(contract.METHODS)))
    if methods != contract.METHODS or lib.pycat_method_name(len(contract.METHODS)) is not None:
        raise ImportError(f"the compiled shim numbers the interface methods {methods}, "
                          f"arbor_pycat {contract.METHODS}: reinstall the package (pip install .)")
    version = (lib.pycat_abi_version_major(), lib.pycat_abi_version_minor())
    if version != abi.ABI_VERSION[:2]:
        raise ImportError(f"the shim was compiled against mechanism ABI {version}, "
                          f"arbor_pycat mirrors {abi.ABI_VERSION[:2]}")
    return lib


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
        for flag in abi.ION_FLAGS:
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


class _Library:
    """One copy of the shim, loaded once, whose slots successive catalogues take."""

    def __init__(self):
        self.path = _fresh_copy()
        self.lib = _load_shim(self.path)
        self.lib.pycat_set_window.argtypes = [ctypes.c_int, ctypes.c_int]
        self.lib.pycat_interrupt_flag.restype = ctypes.c_void_p
        self.lib.pycat_share_interrupt.argtypes = [ctypes.c_void_p]
        self.lib.pycat_share_interrupt.restype = None
        self.lib.pycat_clear_interrupt.restype = None
        self.capacity = self.lib.pycat_max_mechanisms()
        self.used = 0
        global _first
        if _first is None:
            _first = self
        else:
            self.lib.pycat_share_interrupt(_first.lib.pycat_interrupt_flag())
        _alive.append(self)

    def last_failure(self):
        """(time in ns of time.monotonic_ns(), message) of the latest failure of a
        compiled callback of this copy, or None."""
        when = ctypes.c_longlong(0)
        size = self.lib.pycat_last_failure(None, 0, ctypes.byref(when))
        if size == 0:
            return None
        buffer = ctypes.create_string_buffer(size + 1)
        self.lib.pycat_last_failure(buffer, size + 1, ctypes.byref(when))
        return when.value, buffer.value.decode("utf-8", "replace")

    def retire(self):
        """No slot left: the file can go (the mapping stays)."""
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _slots(count):
    """(library, first slot) for a catalogue of ``count`` mechanisms."""
    global _library
    with _lock:
        if _library is not None and _library.used + count > _library.capacity:
            _library.retire()
            _library = None
        if _library is None:
            check_map_budget()
            _library = _Library()
        if count > _library.capacity:
            raise MechanismError(f"a catalogue holds at most {_library.capacity} mechanisms "
                                 f"(build() got {count})")
        first = _library.used
        _library.used += count
        return _library, first


def install_interrupt_handler():
    """Let Ctrl-C stop a simulation at any thread count, with either backend.

    Wraps Python's SIGINT handler (so that handling the KeyboardInterrupt
    clears the shim's flag) and chains the shim's C handler in front of it
    (it sets the flag that every callback checks; see _shim.cpp). Done at each
    build(): a handler installed later with signal.signal replaces both until
    the next build(). Nothing changes where SIGINT is ignored or not handled
    by Python, or outside the main thread (signal handlers belong to it)."""
    import signal
    if _first is None or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGINT)
    if not getattr(current, "_arbor_pycat", False):
        if not callable(current):
            return
        clear, pending = _first.lib.pycat_clear_interrupt, _first.lib.pycat_interrupt_pending

        def handler(signum, frame, previous=current):
            stopped_a_run = pending()
            python_run, interrupted_in_python[0] = interrupted_in_python[0], False
            if not _in_a_method(frame):     # the run is over (or none was running)
                clear()
                if (stopped_a_run or python_run) and frame is None:
                    # Python is printing the error of the run this Ctrl-C stopped
                    # (it says so) on its way out: do not interrupt the printing.
                    return None
            return previous(signum, frame)
        handler._arbor_pycat = True
        signal.signal(signal.SIGINT, handler)
    _first.lib.pycat_chain_sigint()


def _in_a_method(frame):
    """True if ``frame`` runs inside a python-backend method (a simulation runs)."""
    python = sys.modules.get("arbor_pycat.backends.python")
    if python is None:
        return False
    target = python.MethodRunner.__call__.__code__
    depth = 0
    while frame is not None and depth < 200:
        if frame.f_code is target:
            return True
        frame, depth = frame.f_back, depth + 1
    return False


def _map_count():
    try:
        with open("/proc/self/maps", "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return None


def _map_limit():
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def check_map_budget():
    """Raise MechanismError well before this process runs out of memory maps.

    The kernel limits how many memory mappings a process may have
    (``vm.max_map_count``, 65530 by default); at the limit, loading code or
    starting a thread aborts the process. Loaded catalogues and compiled code
    are never unloaded (Arbor may call them for as long as the process lives),
    so a process that builds without end would get there."""
    used, limit = _map_count(), _map_limit()
    if used is None or not limit:
        return
    if used > (1.0 - _MAP_RESERVE) * limit:
        raise MechanismError(
            f"this process already uses {used} of its {limit} memory maps (the kernel's "
            "vm.max_map_count): building more catalogues could exhaust them and abort the "
            "process. Catalogues and compiled mechanisms stay loaded for the life of the process: "
            "build once and reuse the catalogue for many simulations, or run batches of builds "
            "in separate processes")


class Shim:
    """The tables of one catalogue: a window of slots in a loaded copy of the shim."""

    def __init__(self, capacity=None):
        library, self.first = _slots(capacity or 1)
        self.library = library
        self.path = library.path
        self.lib = library.lib
        self.capacity = capacity or 1
        self.count = 0
        _alive.append(self)
        self.keep = []

    def last_failure(self):
        """(time in ns of time.monotonic_ns(), message) of the latest failure of a
        compiled callback of this catalogue's copy of the shim, or None."""
        return self.library.last_failure()

    def set_error(self, message):
        """Hand the trampoline the message to throw (thread-local in the shim)."""
        self.lib.pycat_set_error(message.encode("utf-8", "replace"))

    def add(self, spec, compiled):
        """Register one mechanism: its type, its callbacks, its error messages."""
        if self.count >= self.capacity:
            raise MechanismError(f"this catalogue was made for {self.capacity} mechanisms")
        k = self.first + self.count
        t, keep = mechanism_type(spec)
        self.keep += keep
        self.keep.append(compiled)
        self.lib.pycat_set_mechanism(k, ctypes.byref(t))
        for code, message in compiled.messages.items():
            data = message.encode("utf-8", "replace")
            self.keep.append(data)
            self.lib.pycat_set_message(k, code, data)
        formatter = getattr(compiled, "formatter", None)
        if formatter is not None:    # computed raise messages (numba backend)
            self.keep.append(formatter)
            self.lib.pycat_set_formatter(k, formatter)
        for method, target in compiled.callbacks.items():
            if callable(target):     # python backend: f(ppack, events, fingerprint) -> int
                self.lib.pycat_set_python_callback(k, contract.METHODS.index(method), target)
            else:                    # native: the address of a C function
                self.lib.pycat_set_callback(k, contract.METHODS.index(method), target)
        self.count += 1
        self.lib.pycat_set_window(self.first, self.count)

    def load(self):
        import arbor
        check_arbor(arbor)
        with _lock:     # the window and the load go together
            self.lib.pycat_set_window(self.first, self.count)
            return arbor.load_catalogue(self.path)


def native_failures():
    """(time, message) of the latest failure of compiled code, per loaded copy of the shim."""
    return [failure for failure in (library.last_failure() for library in _alive
                                    if isinstance(library, _Library)) if failure is not None]


add_failure_source(native_failures)
