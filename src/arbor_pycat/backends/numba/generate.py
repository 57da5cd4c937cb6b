"""Assemble, cache and compile the generated module of one mechanism."""
import functools
import hashlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

from ...abi import contract, rules
from ...cache import cache_dir, write_atomically
from ...spec.inspection import source_lines
from ..base import CannotCompile, CompiledMechanism
from . import ahead, native
from .entry import module_prelude
from .entry_array import ArrayEntry
from .entry_scalar import ScalarEntry
from .lower import PREFIX
from .messages import Formatter, Template
from .translate import translate

_VERSION = "4"   # bump when the generated code changes meaning

# Only fused multiply-add (as gcc does for Arbor's own kernels): every other
# IEEE rule stays, so results match modcc's to rounding.
_CONTRACT = {"contract"}


class _Messages:
    """Status codes (1 .. contract.MAX_MESSAGES - 1) and the messages the shim throws for them."""

    def __init__(self, spec):
        self.spec = spec
        self.codes = {}
        self.messages = {}
        self.templates = {}         # code -> messages.Template of a computed raise message
        self.scalar_reasons = {}    # method -> why it did not get the scalar form

    def prefix(self, method):
        return f"arbor_pycat: {self.spec.label} failed in {method} (numba backend): "

    def code(self, method, key, text, template=None):
        if (method, key) not in self.codes:
            code = len(self.codes) + 1
            if code >= contract.MAX_MESSAGES:
                raise CannotCompile("too many distinct error checks")
            self.codes[(method, key)] = code
            self.messages[code] = self.prefix(method) + text
            if template is not None:
                self.templates[code] = (method, template)
        return self.codes[(method, key)]

    def formatter(self):
        """The shim's formatter of this mechanism's computed messages, or None."""
        if not self.templates:
            return None
        return Formatter({code: t for code, (_, t) in self.templates.items()},
                         {code: self.prefix(method) for code, (method, _) in self.templates.items()})


def _with_scalar_reason(text, messages, method, lineno, detail=None):
    """The CannotCompile of a method that neither form takes: the array form's reason,
    and, where that names no line of the user's, why the scalar form did not take it
    (which does)."""
    reason = messages.scalar_reasons.get(method)
    if lineno is None and reason is not None and getattr(reason, "lineno", None) is not None:
        why = str(reason)
        why = why[len(method) + 2:] if why.startswith(method + ": ") else why
        text, lineno = f"{text} (and not element-wise: {why})", reason.lineno
    return CannotCompile(text, method=method, lineno=lineno, detail=detail)


def _texts(method, key):
    if isinstance(key, Template):
        return (f"{key.cls.__name__}: (a message the compiled code computes, which could not be "
                f"made: run it with backend='python' to see it) (raised at {key.place})")
    if key == "raised":
        return ("an exception was raised in compiled code (for example an index out of range); "
                "run it with backend='python' to see the Python traceback")
    if key.startswith("raise:"):
        return key[len("raise:"):]
    if key.startswith("index:"):
        _, name, index = key.split(":")
        return f"pp.{name}[{index}] is out of range (IndexError in the python backend)"
    if key.startswith("null:"):
        return f"Arbor passed no array for pp.{key[5:]} (declare the access in IonInfo)"
    if key == "memory":
        return "out of memory for a copy of the instances' values (MemoryError in the python backend)"
    return (f"pp.{key} was assigned a value of the wrong shape (it takes one value per instance, "
            "or a scalar)")


def _source_for(spec, messages, forced_array=frozenset()):
    """(module source, {method: mode}, globals) for every method of ``spec``.

    Methods in ``forced_array`` are translated in array form even when their
    code looks element-wise (numba could not type the scalar form).
    """
    pieces, modes, namespace, helpers = [], {}, {}, {}
    for name, method in spec.methods.items():
        plan = spec.fields[name]
        numeric = name == "compute_currents" and spec.needs_numeric_conductance()

        def error_code(key, method_name=name):
            template = key if isinstance(key, Template) else None
            return messages.code(method_name, key, _texts(method_name, key), template)
        kernel = None
        for mode in ("array",) if name in forced_array else ("scalar", "array"):
            try:
                kernel = translate(spec, method, plan, mode, lambda field, m=name: error_code(field, m))
                break
            except CannotCompile as reason:     # not element-wise: try the array form
                if mode == "scalar":
                    messages.scalar_reasons[name] = reason
                    continue
                text = str(reason)   # translate() may already name the method
                text = text if text.startswith(name) else f"{name}: {text}"
                raise _with_scalar_reason(text, messages, name, getattr(reason, "lineno", None)) from None
        form = ScalarEntry if kernel.mode == "scalar" else ArrayEntry
        entry = form(spec, method, plan, kernel, numeric, error_code).text()
        for helper, text in kernel.helpers.items():
            if helpers.get(helper, text) != text:
                raise CannotCompile(f"two different helper functions are both named {helper!r}")
            helpers[helper] = text
        for key, value in kernel.globals.items():
            if key in namespace and namespace[key] is not value:
                raise CannotCompile(f"two different global objects are both named {key!r}")
            namespace[key] = value
        decorator = PREFIX + ("njit_scalar" if kernel.mode == "scalar" else "njit_array")
        pieces.append(kernel.source + f"\n{kernel.name} = {decorator}({kernel.name})\n")
        if kernel.prelude is not None:
            prelude = kernel.prelude
            pieces.append(prelude.source + f"\n{prelude.name} = {decorator}({prelude.name})\n")
        pieces.append(entry + "\n")
        modes[name] = kernel.mode
    helper_text = "".join(f"{text}\n{name} = {PREFIX}njit_helper({name})\n\n" for name, text in sorted(helpers.items()))
    source = module_prelude() + "\n" + helper_text + "\n".join(pieces)
    return source, modes, namespace


@functools.lru_cache(maxsize=None)
def _library_digest():
    """A hash of the sources the generated code calls into (math functions,
    pointer casts, helpers): numba's cache does not see changes there. (Read as
    files: importing mathlib and ppack would import numba.)"""
    from ... import helpers
    here = Path(__file__).parent
    abi = sorted(Path(contract.__file__).parent.glob("*.py"))     # the ppack's layout among them
    h = hashlib.sha256()
    for path in (here / "mathlib.py", here / "ppack.py", here / "access.py", Path(helpers.__file__), *abi):
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _compiler_versions():
    """numba's and llvmlite's versions, without importing numba (a cached build loads
    without it): read from the ``_version.py`` of the very packages Python imports,
    else from importlib.metadata, else from the packages themselves."""
    import importlib.util
    import re
    found = []
    for package, pattern in (("numba", r'"version":\s*"([^"]+)"'), ("llvmlite", r"version_version\s*=\s*'([^']+)'")):
        version = None
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            try:
                match = re.search(pattern, (Path(spec.origin).parent / "_version.py").read_text())
                version = match.group(1) if match else None
            except OSError:
                pass
        if version is None:
            from importlib import metadata
            try:
                version = metadata.version(package)
            except metadata.PackageNotFoundError:    # not installed as a distribution
                version = importlib.import_module(package).__version__
        found.append(f"{package} {version}")
    return ", ".join(found)


def _fingerprint(source, namespace):
    """A hash of everything the compiled code depends on."""
    from ..._version import __version__
    h = hashlib.sha256()
    h.update(f"{__version__}/{_VERSION}/{_compiler_versions()}/{np.__version__}\n".encode())
    h.update(" ".join(_LLVM_OPTIONS).encode())
    h.update(_library_digest().encode())
    h.update(source.encode())
    # only a user's module (a global such as ``consts`` in ``consts.K``) is hashed
    # by what is read through it: parse the source only when there is one
    user_module = any(isinstance(v, types.ModuleType) and not _is_library(v.__name__)
                      for v in namespace.values())
    attributes = _attributes_used(source) if user_module else {}
    seen = set()
    for name in sorted(namespace):
        h.update(name.encode())
        _hash_value(namespace[name], h, seen, attributes.get(name, frozenset()))
    return h.hexdigest()[:24]


def _attributes_used(source):
    """{global name: attribute names read through it} in ``source``
    (``consts.K`` and ``pkg.sub.K`` give consts: {K}, pkg: {sub, K})."""
    import ast
    out = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if chain and isinstance(node, ast.Name):
            out.setdefault(node.id, set()).update(chain)
    return out


# Modules whose content is keyed by their version (in the fingerprint) or
# never changes: not hashed attribute by attribute.
_LIBRARIES = frozenset({"numpy", "numba", "llvmlite", "math", "cmath", "builtins", "arbor_pycat",
                        "scipy", "arbor"})


def _is_library(module_name):
    top = (module_name or "").partition(".")[0]
    return top in _LIBRARIES or top in getattr(sys, "stdlib_module_names", ())


def _hash_value(value, h, seen, attributes=frozenset()):
    """Feed what ``value`` (a global of the generated code) means into ``h``.

    For a module, what counts is what is used through it: each attribute in
    ``attributes`` that it has (``inner.f``, ``consts.K``), hashed in turn."""
    if isinstance(value, types.ModuleType):
        h.update(b"module:" + value.__name__.encode())
        if _is_library(value.__name__):
            h.update(str(getattr(value, "__version__", "")).encode())
            return
        key = ("module", id(value), frozenset(attributes))
        if key in seen:
            return
        seen.add(key)
        for attribute in sorted(attributes):
            if attribute in getattr(value, "__dict__", {}):
                h.update(b"." + attribute.encode())
                _hash_value(value.__dict__[attribute], h, seen, attributes)
    elif isinstance(value, np.ndarray):
        h.update(value.tobytes() + str(value.dtype).encode() + str(value.shape).encode())
    elif isinstance(value, (bool, int, float, complex, str, np.generic, type(None))):
        h.update(repr(value).encode())
    elif isinstance(value, tuple):
        h.update(b"tuple")
        for item in value:
            _hash_value(item, h, seen)
    elif isinstance(getattr(value, "py_func", value), types.FunctionType):
        _hash_function(getattr(value, "py_func", value), h, seen)
    else:
        h.update(f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}".encode())


def _hash_function(function, h, seen):
    """A function compiled as is (a user's own ``@njit`` function): its code and,
    recursively, the globals and closure values it uses, through modules too
    (``inner.f(v)``, ``consts.K``). numba's disk cache only looks at the
    function's own source, not at what it calls."""
    if id(function) in seen:
        h.update(b"seen:" + function.__qualname__.encode())
        return
    seen.add(id(function))
    h.update(f"function:{function.__module__}.{function.__qualname__}".encode())
    if _is_library(function.__module__):
        return
    names = set()

    def code(c):
        h.update(c.co_code)
        names.update(c.co_names)
        for constant in c.co_consts:
            if isinstance(constant, types.CodeType):
                code(constant)
            else:
                h.update(repr(constant).encode())
    code(function.__code__)
    for name in sorted(names):
        if name in function.__globals__:
            h.update(name.encode())
            _hash_value(function.__globals__[name], h, seen, names)
    for cell in function.__closure__ or ():
        try:
            contents = cell.cell_contents
        except ValueError:       # an empty cell
            continue
        _hash_value(contents, h, seen, names)


def _runtime_globals():
    from numba import carray, njit
    from . import mathlib, ppack
    from ...helpers import cnexp, cnexp_linear, exprelr
    jit = dict(cache=True, error_model="numpy", fastmath=_CONTRACT)
    names = {
        "carray": carray,
        "as_f64": ppack.as_f64, "as_i32": ppack.as_i32, "as_u64": ppack.as_u64,
        "as_ion": ppack.as_ion, "as_event": ppack.as_event, "address_of": ppack.address_of,
        "record": ppack.record_at, "release": ppack.release,
        "gathered": ppack.gathered, "scale_by": ppack.scale_by, "piece_count": ppack.piece_count,
        "stack_i64": ppack.stack_i64, "stack_f64": ppack.stack_f64,
        "ld": ppack.load_scoped, "st": ppack.store_scoped,
        "fast_exp": mathlib.fast_exp, "fast_expm1": mathlib.fast_expm1,
        "fast_log": mathlib.fast_log, "fast_pow": mathlib.fast_pow,
        "fast_tanh": mathlib.fast_tanh, "fast_log1p": mathlib.fast_log1p,
        "exprelr": exprelr, "cnexp": cnexp, "cnexp_linear": cnexp_linear,
        # the scalar kernels call the scalar implementations directly (typing an
        # overload at every call site is what makes numba slow to compile)
        "s_exp": mathlib._exp_scalar, "s_exp_in_range": mathlib._exp_in_range, "s_expm1": mathlib._expm1_scalar, "s_log": mathlib._log_scalar,
        "s_pow": mathlib._pow_scalar, "s_tanh": mathlib._tanh_scalar, "s_log1p": mathlib._log1p_scalar,
        "s_exprelr": mathlib._exprelr_scalar,
        "np_maximum": mathlib.np_maximum, "np_minimum": mathlib.np_minimum,
        "np_fmax": mathlib.np_fmax, "np_fmin": mathlib.np_fmin, "np_sign": mathlib.np_sign,
        "np_heaviside": mathlib.np_heaviside,
        "np_clip_lo": mathlib.np_clip_lo, "np_clip_hi": mathlib.np_clip_hi,
        "above": mathlib.above, "above_or_at": mathlib.above_or_at,
        "below": mathlib.below, "below_or_at": mathlib.below_or_at,
        "np_isclose": mathlib.np_isclose, "np_isclose_nan": mathlib.np_isclose_nan,
        "nan": mathlib.const_nan, "inf": mathlib.const_inf,
        "assign_field": mathlib.assign_field, "is_range": mathlib.is_range, "invert": mathlib.invert,
        "floor_divide": mathlib.floor_divide, "add": mathlib.add, "multiply": mathlib.multiply,
        "bits_of": mathlib._bits_from_double,
        "raise_value": mathlib.raise_value, "raise_count": mathlib.raise_count,
        # a scalar kernel is inlined into its entry by numba itself: LLVM would inline it
        # anyway, but a kernel compiled on its own is optimised, turned into machine
        # code and saved to numba's cache for nothing (a sixth of a cold build)
        "njit_scalar": njit(inline="always", **jit),
        "njit_array": njit(boundscheck=True, **jit),
        "njit_helper": njit(**jit),
    }
    return {PREFIX + name: value for name, value in names.items()}


_fallback_dir = None


def _folder_problem(folder):
    """Why ``folder`` may not hold code this process will run, or None.

    It must be a folder owned by this user that nobody else can write:
    numba's cache files are pickles, and loading one runs code."""
    import os
    import stat
    try:
        info = os.stat(folder)
    except OSError as exc:
        return f"cannot read it ({exc})"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"it belongs to another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"others can write it (mode {stat.filemode(info.st_mode)}; "
                f"'chmod go-w {folder}' makes it private)")
    return None


def _writable_cache_dir():
    """The cache folder, or a private temporary one (once per process, with a
    warning) when the cache folder cannot be written or is not safe to load code from."""
    import atexit
    import os
    import shutil
    import tempfile
    import warnings
    from pathlib import Path
    global _fallback_dir
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        problem = _folder_problem(folder)
        pycache = folder / "__pycache__"
        if problem is None and pycache.exists():
            problem = _folder_problem(pycache)
            problem = problem and f"its __pycache__ folder: {problem}"
        if problem is None:
            probe = folder / f".write_test_{os.getpid()}_{os.urandom(4).hex()}"
            probe.write_text("")
            probe.unlink()
            return folder
    except OSError as exc:
        problem = f"cannot write it ({exc})"
    if _fallback_dir is None:
        # Private and unpredictable (mkdtemp: mode 0700, a random name), for
        # this process only, removed at exit.
        _fallback_dir = Path(tempfile.mkdtemp(prefix="arbor_pycat_cache_"))
        atexit.register(shutil.rmtree, _fallback_dir, ignore_errors=True)
        warnings.warn(f"arbor_pycat: not using the cache folder {folder}: {problem}; compiled code "
                      f"goes to the private folder {_fallback_dir} for this process only (set "
                      "ARBOR_PYCAT_CACHE_DIR to a folder of yours)", stacklevel=5)
    return _fallback_dir


class _Entry:
    """One cache entry: the generated module ``<name>.py``, numba's files for it
    and ``<name>.sums``, the SHA-256 of each of them, written once they are
    complete. Processes sharing the folder take ``<name>.lock`` (an exclusive
    ``flock``) around checking, compiling and recording an entry, so that none
    reads a half-written one; every file is written to a private temporary
    name and renamed into place."""

    def __init__(self, digest):
        self.name = f"arbor_pycat_generated_{digest}"
        self.digest = digest
        self.folder = _writable_cache_dir()
        self.path = self.folder / f"{self.name}.py"
        self.sums = self.folder / f"{self.name}.sums"
        self.lock_file = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:     # not POSIX: no locking (atomic renames still hold)
            return self
        self.lock_file = open(self.folder / f"{self.name}.lock", "a")
        fcntl.flock(self.lock_file.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.lock_file is not None:
            self.lock_file.close()      # releases the lock
        return False

    def numba_files(self, module):
        """numba's index and data files for this module (wherever numba keeps them)."""
        from pathlib import Path
        folders = {Path(d._cache._cache_path) for d in _dispatchers(module)}
        return sorted(f for folder in folders if folder.is_dir()
                      for f in folder.glob(f"{self.name}.*") if f.suffix in (".nbi", ".nbc"))

    def discard(self, module, why=None):
        import warnings
        for f in self.numba_files(module) + [self.sums]:
            try:
                f.unlink()
            except FileNotFoundError:
                pass
        if why:
            warnings.warn(f"arbor_pycat: discarded the corrupt cache entry {self.path.name} in "
                          f"{self.folder} ({why}); compiling it again", stacklevel=6)

    def prepare(self, source):
        """Write the module if it is missing or not what it should be; True if rewritten."""
        data = source.encode()
        try:
            found = self.path.read_bytes()
        except FileNotFoundError:
            found = None
        if found == data:
            return None
        write_atomically(self.path, data)
        return "missing" if found is None else "its module's source is not the one its name hashes"

    def verify(self, module):
        """Check numba's files against the sums recorded with them: discard them
        all (numba then compiles afresh) if any differs, is missing or is unlisted."""
        import json
        files = self.numba_files(module)
        try:
            recorded = json.loads(self.sums.read_text())
            listed = recorded["files"]
        except FileNotFoundError:
            if files:               # left by an interrupted build or another version
                self.discard(module)
            return
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            self.discard(module, f"unreadable checksums: {exc}")
            return
        if recorded.get("key") != self.digest or recorded.get("source") != _sha256(self.path.read_bytes()):
            self.discard(module, "its checksums belong to another entry")
            return
        found = {f.name: f for f in files}
        if set(found) != set(listed):
            self.discard(module, "numba's files differ from those recorded")
            return
        for name, digest in listed.items():
            if _sha256(found[name].read_bytes()) != digest:
                self.discard(module, f"{name} does not match its checksum")
                return

    def record(self, module):
        import json
        files = {f.name: _sha256(f.read_bytes()) for f in self.numba_files(module)}
        data = {"key": self.digest, "source": _sha256(self.path.read_bytes()), "files": files}
        write_atomically(self.sums, json.dumps(data, indent=1, sort_keys=True).encode())


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _dispatchers(module):
    """The numba functions of a generated module that keep a disk cache."""
    out = [value for value in vars(module).values()
           if getattr(getattr(value, "_cache", None), "_cache_path", None) is not None]
    out += [c for c in (getattr(module, "_pycat_cfuncs", None) or {}).values()
            if getattr(getattr(c, "_cache", None), "_cache_path", None) is not None]
    return out


def _load(source, namespace, digest, entry=None):
    """The generated module of ``source`` (from this process, or the cache)."""
    import warnings
    name = f"arbor_pycat_generated_{digest}"
    module = sys.modules.get(name)
    if module is not None:
        return module
    entry = entry or _Entry(digest)
    rewritten = entry.prepare(source)
    path = entry.path
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(_runtime_globals())
    module.__dict__.update(namespace)
    # Run the module body with our globals in place (decorators need them).
    code = compile(source, str(path), "exec")
    exec(code, module.__dict__)
    if rewritten and rewritten != "missing":
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            entry.discard(module, rewritten)
    elif rewritten:
        entry.discard(module)
    else:
        entry.verify(module)
    sys.modules[name] = module
    return module


# LLVM options for every module (see _tune_llvm); part of the fingerprint.
_LLVM_OPTIONS = (
    # Each array a loop writes needs a runtime overlap check against the others
    # where LLVM cannot rule out overlap (the array form; the scalar form tells it,
    # ppack.load_scoped); LLVM's default budget (8 checks) is too small for a channel.
    "--runtime-memory-check-threshold=256",
    "--memory-check-merge-threshold=256",
    # Helpers and kernels are separate numba functions: LLVM must inline them
    # into the loops (numba's own IR inlining is far too slow to compile).
    "--inline-threshold=100000",
    # The last 1-3 instances of a piece: two at a time in SSE registers rather than
    # one by one (a branched cell has a short piece and a remainder per fork).
    "--epilogue-vectorization-force-VF=2",
)


def _tune_llvm():
    """Set _LLVM_OPTIONS (process-wide options of llvmlite's LLVM)."""
    import llvmlite.binding as llvm
    for option in _LLVM_OPTIONS:
        llvm.set_option("", option)


def build(spec, native_library=True):
    """Compile every method of ``spec``; raise CannotCompile with numba's reason.

    The result also tells how it was obtained: ``cache`` is ``"memory"`` (built
    before in this process), ``"disk"`` (the native library or numba's cache of
    an earlier process, see :mod:`.native`) or ``"compiled"``, and ``seconds``
    the time it took. Its ``module`` is the generated module, or with a native
    library loaded, the :class:`.native.NativeLibrary`; ``native_library=False``
    always goes through numba (the generated module and its kernels, for tests
    and benchmarks that look inside).
    """
    import time
    start = time.perf_counter()
    forced_array, first_name = set(), None
    while True:
        messages = _Messages(spec)
        source, modes, namespace = _source_for(spec, messages, frozenset(forced_array))
        digest = _fingerprint(source, namespace)
        name = f"arbor_pycat_generated_{digest}"
        if first_name is None:
            first_name = name
            forced = _forced_before(name, modes) if native_library else set()
            if forced:      # numba could not type these scalar forms before: array form at once
                forced_array |= forced
                continue
        corrupt = None
        if native_library and name not in sys.modules:
            in_memory = name in native.loaded
            library, corrupt = native.load(_writable_cache_dir(), name, spec.methods)
            if library is not None:
                return CompiledMechanism("numba", spec, dict(library.addresses), messages.messages,
                                         forms=dict(modes), formatter=messages.formatter(),
                                         cache="memory" if in_memory else "disk",
                                         module=library, seconds=time.perf_counter() - start)
        if name not in sys.modules:
            ahead.cache_missed()
        module, failed, in_memory = _compile_with_numba(spec, source, namespace, digest, corrupt)
        if failed is None:
            break
        method, exc = failed
        if modes[method] != "scalar":
            reason, lineno = _numba_reason(spec, method, exc, module)
            raise _with_scalar_reason(f"{method}: {reason}", messages, method, lineno, detail=str(exc).strip())
        forced_array.add(method)     # numba could not type the scalar form: retry as array code
    if forced_array and name != first_name:
        _record_forced(first_name, forced_array)
    callbacks = {method: compiled.address for method, compiled in module._pycat_cfuncs.items()}
    ahead_done = getattr(module, "_pycat_ahead", {})
    cfuncs = [c for m, c in module._pycat_cfuncs.items() if m not in ahead_done]   # (a helper's: compiled now)
    cache = ("memory" if in_memory else
             "disk" if cfuncs and all(c.cache_hits for c in cfuncs) else "compiled")
    return CompiledMechanism("numba", spec, callbacks, messages.messages, forms=dict(modes),
                             formatter=messages.formatter(), cache=cache, module=module,
                             seconds=time.perf_counter() - start)


def _forced_path(name):
    return _writable_cache_dir() / f"{name}.forced"


def _forced_before(name, modes):
    """The methods of the generated module ``name`` whose scalar form numba could not
    type in an earlier build (recorded by :func:`_record_forced`), so that a cached
    build goes to the array form, and its native library, without trying numba."""
    import json
    try:
        record = json.loads(_forced_path(name).read_text())
        forced = set(record["forced"]) if record.get("key") == name else set()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()
    return forced if forced and all(modes.get(m) == "scalar" for m in forced) else set()


def _record_forced(name, methods):
    import json
    try:
        write_atomically(_forced_path(name), json.dumps({"key": name, "forced": sorted(methods)}).encode())
    except OSError:
        pass


def _compile_with_numba(spec, source, namespace, digest, corrupt_native=None):
    """(module, (method, exception) or None, whether it was built before in this process).

    A module numba compiled afresh also gets its native library written (see
    :mod:`.native`; one loaded from numba's cache has no complete LLVM module to
    write it from). ``corrupt_native``: why the native library was discarded;
    numba's files are discarded too, so that it is compiled, and written, again."""
    import warnings
    from numba.core.errors import NumbaWarning
    native.adopt_extensions()
    _tune_llvm()
    name = f"arbor_pycat_generated_{digest}"
    in_memory = getattr(sys.modules.get(name), "_pycat_cfuncs", None) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaWarning)
        if name in sys.modules:
            module = _load(source, namespace, digest)
            return module, _compile_entries(spec, module, source, fork=False), in_memory
        with _Entry(digest) as entry:
            module = _load(source, namespace, digest, entry)
            # no library recorded for this host (a corrupt one was just deleted)
            needs_library = native.missing(entry.folder, name)
            if corrupt_native is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("default")
                    entry.discard(module, corrupt_native)
            elif needs_library:
                # numba's files without a native library (written with it off, or by a
                # build stopped before it): compiled once more, to write it
                entry.discard(module)
            # helpers only where numba has nothing cached (else every entry loads at once)
            failed = _compile_entries(spec, module, source, fork=not entry.numba_files(module))
            if failed is None:
                # compiled here, or by this build's helpers (loaded from numba's cache)
                fresh = not any(c.cache_hits for m, c in module._pycat_cfuncs.items()
                                if m not in module._pycat_ahead)
                if fresh and needs_library:
                    native.write(entry.folder, name, module._pycat_cfuncs, module._pycat_ahead)
                entry.record(module)     # last: an entry with numba's sums has had its library written
    return module, failed, in_memory


# The line of numba's message that says what went wrong, in order of preference.
_NUMBA_KEYS = ("No implementation of function", "Cannot unify", "Unknown attribute",
               "Untyped global name", "NameError", "Invalid use of", "Use of unsupported",
               "Cannot determine Numba type", "Unsupported", "non-precise type", "Cannot type")


def _numba_reason(spec, method, exc, module):
    """(one line saying why numba failed, the line of the user's file it is about or None)."""
    import re
    from ...spec import locations
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    key = next((line for prefix in _NUMBA_KEYS for line in lines if line.startswith(prefix)), None)
    if key is None:
        reason = _first_lines(exc, limit=1)
    else:
        reason = key
        if key.startswith("No implementation of function"):
            signature = next((line[3:].strip() for line in lines[lines.index(key):]
                              if line.startswith(">>>")), "")
            reason = f"no implementation of {signature}" if signature else key
        reason = re.sub(r"Function\(<(?:built-in )?function (\w+)[^>]*>\)", r"\1", reason)
        reason = re.sub(r"<iv=[^>]*>", "", reason).rstrip(":")
        reason = f"numba: {reason}"
        if re.search(r"no implementation of float\(array\(", reason):
            reason = ("float() or a math function of an array (numpy raises: only 0-dimensional arrays "
                      "convert to Python scalars); use numpy's function")
        if re.search(r"no implementation of invert\((Literal\[bool\]\(\w+\)|bool)\)", reason):
            reason = ("~ of one boolean: Python's ~True is -2, numpy's ~np.True_ is False, and the "
                      "compiled array code cannot tell which it has; write 'not x'")
        if re.search(r"no implementation of raise_value\(", reason):
            reason = ("a raise message formats something that is not a number (an array, say): "
                      "the compiled code hands Python numbers only, to make the message with")
        operation = re.search(r"no implementation of (add|multiply)\((Literal\[bool\]\(\w+\)|bool), "
                              r"(Literal\[bool\]\(\w+\)|bool)\)", reason)
        if operation:
            sign = "+" if operation.group(1) == "add" else "*"
            reason = (f"'{sign}' of two single booleans: Python's True {sign} True is "
                      f"{2 if sign == '+' else 1} (an integer), numpy's np.True_ {sign} np.True_ is True, "
                      "and the compiled array code cannot tell which it has; convert with int() or "
                      "use | and &")
    # the innermost place in the generated module, and the user's line it came from
    generated = getattr(module, "__file__", None)
    lineno = None
    places = [int(n) for f, n in re.findall(r'File "([^"]+)", line (\d+):', text)
              if generated and f.endswith(Path(generated).name)]
    if places:
        try:
            code = Path(generated).read_text().splitlines()[places[0] - 1]
        except (OSError, IndexError):
            code = ""
        assigned = re.search(r"__pc_assign_field\(__pc_f_(\w+),", code)
        tree = spec.methods[method].access.tree
        if assigned:
            field = assigned.group(1)
            node = locations.field_node(tree, field, store=True)
            lineno = node.lineno if node is not None else None
            call = re.search(r"assign_field\((.*)\)", reason)
            arguments = _top_level_split(call.group(1)) if call else []
            value = arguments[1] if len(arguments) == 2 else "this value"
            reason = f"numba cannot assign {value} to pp.{field} (assign a number or a numpy array)"
        else:
            lineno = _matching_line(spec.methods[method].function, code)
    return reason, lineno


def _top_level_split(text):
    """'array(float64, 1d, C), list(float64)' -> ['array(float64, 1d, C)', 'list(float64)']."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        current += char
    return parts + [current.strip()] if current.strip() else parts


def _matching_line(function, generated_line):
    """The line of ``function``'s file whose code is ``generated_line`` once the
    translation's renamings are undone, or None."""
    import re

    def bare(line):
        line = line.split("#", 1)[0]
        for prefix in ("__pc_f_", "__pc_fast_", "_f_", "pp.", "_fast_", "np.", "numpy.", "math."):
            line = line.replace(prefix, "")
        return "".join(line.split())
    target = bare(generated_line)
    if not target:
        return None
    try:
        lines, first = source_lines(function)
    except (OSError, TypeError):
        return None
    matches = [first + k for k, line in enumerate(lines) if bare(line) == target]
    if not matches and re.match(r"(?:__pc_)?_?t\d+=", target):    # a value computed into a temporary
        value = target.split("=", 1)[1]
        matches = [first + k for k, line in enumerate(lines)
                   if "=" in bare(line) and bare(line).split("=", 1)[1] == value]
    return matches[0] if len(matches) == 1 else None


def _compile_entries(spec, module, source, fork):
    """Compile the module's entries into cfuncs; (method, exception) on failure.

    Where the machine has cores to spare (and ``fork``), helpers forked now compile some of the
    entries into numba's cache meanwhile (see :mod:`.ahead`); they are then loaded
    from there. ``module._pycat_ahead``: {entry: object code} of those a
    helper compiled."""
    from numba import cfunc
    from . import ahead
    from .ppack import SIGNATURE
    if getattr(module, "_pycat_cfuncs", None) is not None:
        return None
    cfuncs, errors = {}, {}

    def compile_one(method):
        cfuncs[method] = cfunc(SIGNATURE, cache=True, error_model="numpy", fastmath=_CONTRACT)(
            getattr(module, f"__pc_entry_{method}"))

    def in_order(methods):
        for method in methods:
            if method in errors:
                return method, errors[method]
            if method in cfuncs:
                continue
            try:
                compile_one(method)
            except Exception as exc:   # numba's typing and lowering errors
                errors[method] = exc
                return method, exc
        return None

    def object_of(method):
        return getattr(cfuncs[method]._library, "_compiled_object", None)

    def is_entry(function):
        return (getattr(function, "__module__", None) == module.__name__
                and getattr(function, "__name__", "").startswith("__pc_entry_"))

    with ahead.Ahead(compile_one, _entry_costs(spec, source), object_of, enabled=fork,
                     is_entry=is_entry) as helpers:
        if in_order(helpers.own) is None:
            for method in helpers.theirs:
                helpers.wait(method)
    # the rest (a helper's entries: from numba's cache, or compiled here), in the
    # methods' order: a failure is then the first in that order, as without helpers
    failed = in_order(spec.methods)
    if failed is not None:
        return failed
    module._pycat_cfuncs = {method: cfuncs[method] for method in spec.methods}
    module._pycat_ahead = dict(helpers.objects)     # {method: object code} of the helpers
    return None


def _entry_costs(spec, source):
    """{method: an estimate of the time to compile its entry}: the length of the
    entry's and its kernel's generated code (what numba types, lowers and LLVM
    optimises), plus a constant per entry."""
    blocks = source.split("\ndef ")
    costs = {}
    for method in spec.methods:
        costs[method] = 2000.0 + sum(len(b) for b in blocks
                                     if b.startswith((f"__pc_entry_{method}(", f"__pc_kernel_{method}_")))
    return costs


def _first_lines(exc, limit=4):
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("During:", "File ", "^"))][:limit]
    return f"{type(exc).__name__}: " + " ".join(lines)
