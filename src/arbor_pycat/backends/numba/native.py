"""A mechanism's compiled entries as a shared library in the cache, loaded without numba.

numba's own disk cache saves the compile, but a new process must import and
start numba before it can load anything from it (about 0.5 s per process). So once numba has compiled a mechanism's entries, this module
writes the same code as a shared library next to the generated module:

* each entry's machine code is the object numba's JIT loaded (numba keeps it
  for its own cache; everything the entry calls is linked into it): the same
  instructions, so the same numbers. Where such objects do not link or load
  (a system that forbids text relocations), the same optimised LLVM modules
  are emitted again as position-independent code, for the same processor,
  features and optimisation level;
* the few numba runtime functions that code calls (``NRT_*``: array
  allocations; ``numba_*``: raising an exception) are not exported by numba's
  extension modules; each becomes a jump through a pointer *slot* that the
  loader fills with the address numba's own extension module gives for it
  (its ``c_helpers``). So do the C math functions (``sin``, ``pow``, ...),
  which numba's JIT binds to its own helpers rather than to libm; Python's C
  API resolves as usual;
* the system C compiler (``cc``, or ``$CC``) links the objects and the slots.

A later process with the same key and host loads the library with ``ctypes``:
it imports two of numba's C extension modules (the runtime's allocator and
helpers, a millisecond) and not numba. The library's SHA-256 is recorded next
to it and checked before loading (loading a library runs code, like numba's
pickles); a mismatch, a missing compiler, an unknown runtime symbol, a
platform other than Linux x86-64 or ``ARBOR_PYCAT_NATIVE_CACHE=0`` all fall
back to numba's cache, as before.

Entries are keyed by the generated module's fingerprint and the host (see
:func:`host_key`): the processor (``/proc/cpuinfo``'s first entry, which
determines LLVM's CPU name and features), Python, and the ``NUMBA_*``
settings, which change what numba compiles.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from ...cache import write_atomically

_HELPERLIB, _NRT = "numba._helperlib", "numba.core.runtime._nrt_python"
# numba runtime symbols that become slots: prefix -> extension module whose
# c_helpers give their addresses (keys without the prefix)
_RUNTIME = {"NRT_": _NRT, "numba_": _HELPERLIB}
_SLOT = "__pycat_slot_"
_ENV_IGNORED = frozenset({"NUMBA_CACHE_DIR", "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER"})
_standalone: list[str] = []      # extension modules loaded without their package


def enabled() -> bool:
    """False where ``ARBOR_PYCAT_NATIVE_CACHE`` is 0/false/no/off, or the platform is not
    Linux x86-64 (the slots are x86-64 assembly)."""
    if os.environ.get("ARBOR_PYCAT_NATIVE_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


@functools.lru_cache(maxsize=1)
def _processor() -> tuple[str, ...]:
    """The fields of /proc/cpuinfo's first entry that identify the processor and its
    features (what LLVM's host CPU name and features are made from); () if unreadable."""
    keep = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags")
    lines = []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break                       # the first entry is enough
                key, _, value = line.partition(":")
                if key.strip() in keep:
                    lines.append(key.strip() + ":" + value.strip())
    except OSError:
        return ()
    return tuple(sorted(lines))


def host_key() -> str | None:
    """A short hash of what the compiled code is specific to here: the processor,
    Python (the library calls its C API) and the ``NUMBA_*`` settings; None where
    /proc/cpuinfo cannot be read (no native cache)."""
    processor = _processor()
    if not processor:
        return None
    settings = sorted(f"{k}={v}" for k, v in os.environ.items()
                      if k.startswith("NUMBA_") and k not in _ENV_IGNORED)
    python = f"{sys.implementation.cache_tag} {sys.version}"
    h = hashlib.sha256("\n".join([platform.machine(), python, *processor, *settings]).encode())
    return h.hexdigest()[:16]


@dataclass
class NativeLibrary:
    """A loaded library: ``addresses`` {method: address of its entry}; ``path`` the file.
    Kept alive by the CompiledMechanism (never unloaded)."""
    path: Path
    handle: ctypes.CDLL
    addresses: dict


loaded: dict[str, NativeLibrary] = {}


def _paths(folder: Path, name: str, host: str) -> tuple[Path, Path]:
    return folder / f"{name}.{host}.so", folder / f"{name}.{host}.native"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _compiler() -> list[str] | None:
    cc = os.environ.get("CC", "").split() or ([shutil.which("cc")] if shutil.which("cc") else [])
    return cc or None


def _compiler_identity() -> list:
    """What a note that no library can be written depends on: the compiler (as
    named, its file and that file's time); a change means trying again."""
    compiler = _compiler()
    if compiler is None:
        return ["none"]
    path = shutil.which(compiler[0]) or compiler[0]
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = None
    return [*compiler, path, stamp]


# -- numba's runtime, without numba ------------------------------------------------

def _extension(fullname: str):
    """numba's C extension module ``fullname``, from sys.modules or loaded on its own
    (without importing the numba package; registered under its name, so that numba,
    if imported later, uses the same one: see :func:`adopt_extensions`)."""
    module = sys.modules.get(fullname)
    if module is not None:
        return module
    spec = importlib.util.find_spec("numba")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("numba is not installed")
    parts = fullname.split(".")[1:]
    folder = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts[:-1])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / (parts[-1] + suffix)
        if path.is_file():
            loader = importlib.machinery.ExtensionFileLoader(fullname, str(path))
            module = importlib.util.module_from_spec(
                importlib.util.spec_from_file_location(fullname, path, loader=loader))
            loader.exec_module(module)
            if fullname == _NRT:
                # what importing numba does first (numba/core/runtime/nrt.py): the
                # runtime allocates through Python's raw allocator
                module.memsys_use_cpython_allocator()
            sys.modules[fullname] = module
            _standalone.append(fullname)
            return module
    raise ImportError(f"no extension module {fullname} under {folder}")


def adopt_extensions() -> None:
    """Once numba is imported, make the extension modules loaded on their own the
    attributes of their packages too (``numba._helperlib``), as an import would."""
    for fullname in _standalone:
        parent, _, child = fullname.rpartition(".")
        package = sys.modules.get(parent)
        if package is not None and not hasattr(package, child):
            setattr(package, child, sys.modules[fullname])


def _slot_sources(symbols) -> dict[str, list[str]] | str:
    """{symbol: [extension module, c_helpers key]} for the runtime symbols of the
    entries and for C math (numba's JIT binds ``sin``, ``pow``, ... to its own
    helpers, see numba/core/externals.py: so does the library); or why not."""
    from numba.core import intrinsics
    sources = {}
    for symbol in symbols:
        prefix = next(p for p in _RUNTIME if symbol.startswith(p))
        module = _RUNTIME[prefix]
        if symbol[len(prefix):] not in _extension(module).c_helpers:
            return f"calls {symbol}, which numba's runtime does not list"
        sources[symbol] = [module, symbol[len(prefix):]]
    helpers = _extension(_HELPERLIB).c_helpers
    for name in sorted(intrinsics.INTR_MATH):
        if name in helpers:
            sources[name] = [_HELPERLIB, name]
    return sources


# -- loading ---------------------------------------------------------------------

def _note_unavailable(folder: Path, name: str, host: str, reason: str) -> None:
    note = {"key": name, "host": host, "unavailable": reason, "compiler": _compiler_identity()}
    write_atomically(_paths(folder, name, host)[1], json.dumps(note, indent=1, sort_keys=True).encode())


def load(folder: Path, name: str, methods) -> tuple[NativeLibrary | None, str | None]:
    """(the native library of the generated module ``name`` for this host, None), or
    (None, None) where there is none or it cannot be loaded here (numba's cache
    serves), or (None, why) where its files are corrupt: they are deleted, and the
    caller compiles the mechanism again (which writes them afresh). A library that
    is intact but does not load in this process is noted as unavailable here, with
    a warning."""
    if name in loaded:
        return loaded[name], None
    host = host_key() if enabled() else None
    if host is None:
        return None, None
    library, record = _paths(folder, name, host)
    if not record.exists():
        return None, None
    try:
        meta = json.loads(record.read_text())
        if meta.get("key") == name and meta.get("host") == host and meta.get("unavailable"):
            return None, None          # none could be written, or loaded, here (see write)
        data = library.read_bytes()
        problem = ("its record belongs to another entry" if meta.get("key") != name or meta.get("host") != host
                   else "the library does not match its checksum" if meta.get("sha256") != _sha256(data)
                   else "it lists other methods" if set(meta.get("entries", {})) != set(methods)
                   else "its record has no slot list" if not isinstance(meta.get("slots"), dict) else None)
    except (OSError, ValueError, UnicodeDecodeError, AttributeError, TypeError) as exc:
        problem = f"unreadable: {exc}"
    if problem is not None:
        for path in (record, library):
            try:
                path.unlink()
            except OSError:
                pass
        return None, f"{library.name}: {problem}"
    try:
        slots = {symbol: int(_extension(module).c_helpers[key]) for symbol, (module, key) in meta["slots"].items()}
        handle = ctypes.CDLL(str(library), mode=os.RTLD_NOW | os.RTLD_LOCAL)
        for symbol, address in slots.items():
            ctypes.c_void_p.in_dll(handle, _SLOT + symbol).value = address
        addresses = {method: ctypes.cast(handle[symbol], ctypes.c_void_p).value
                     for method, symbol in meta["entries"].items()}
    except (OSError, ImportError, AttributeError, KeyError, ValueError, TypeError) as exc:
        reason = f"it does not load in this process ({type(exc).__name__}: {exc})"
        try:
            _note_unavailable(folder, name, host, reason)
        except OSError:
            pass
        warnings.warn(f"arbor_pycat: the native library {library.name} in {folder}: {reason}; "
                      "using numba's cache for it", stacklevel=6)
        return None, None
    result = loaded[name] = NativeLibrary(library, handle, addresses)
    return result, None


# -- writing -------------------------------------------------------------------

def missing(folder: Path, name: str) -> bool:
    """True where this host should have a native library of ``name`` and has no record
    of one: neither a library nor a note that none can be written with this
    compiler (a note written with another compiler counts as none)."""
    host = host_key() if enabled() else None
    if host is None:
        return False
    record = _paths(folder, name, host)[1]
    try:
        meta = json.loads(record.read_text())
    except FileNotFoundError:
        return True
    except (OSError, ValueError, UnicodeDecodeError):
        return False          # load() deals with a corrupt record
    return isinstance(meta, dict) and bool(meta.get("unavailable")) \
        and meta.get("compiler") != _compiler_identity()


_PYTHON_PREFIXES = ("Py", "_Py")


@functools.lru_cache(maxsize=None)
def _in_c_libraries(symbol: str) -> bool:
    """Whether the C library or libm defines ``symbol`` (what a reader resolves too)."""
    for name in ("libc.so.6", "libm.so.6"):
        try:
            if hasattr(ctypes.CDLL(name), symbol):
                return True
        except OSError:
            pass
    return False


def _complete_module(compiled):
    """The optimised LLVM module that defines cfunc ``compiled``'s entry, or None.

    Compiled in this process: numba's final module. Loaded from numba's cache (an
    entry a helper of this build compiled, see :mod:`.ahead`): the module numba
    keeps with the object code for linking, the same one with its functions made
    ``linkonce_odr``; numba caches no code with dynamic globals or load-time
    initialisation."""
    library = compiled._library
    for module in (getattr(library, "_final_module", None), getattr(library, "_shared_module", None)):
        if module is None:
            continue
        try:
            if not module.get_function(compiled.native_name).is_declaration:
                return module
        except NameError:
            continue
    return None


def _external_symbols(library, module=None) -> tuple[set[str], str | None]:
    """(runtime symbols to slot, why not to write a library or None) of a numba
    library whose code is ``module`` (by default its final module)."""
    slots = set()
    if library.has_dynamic_globals or library._reload_init:
        # addresses of this process's objects (a ctypes function, say) or code to run
        # at load: numba does not cache such code either
        return slots, "uses addresses or initialisation of this process"
    if module is None:
        module = library._final_module
    for fn in module.functions:
        if not fn.is_declaration or fn.name.startswith("llvm."):
            continue
        if fn.name.startswith(tuple(_RUNTIME)):
            slots.add(fn.name)
        elif not fn.name.startswith(_PYTHON_PREFIXES) and not _in_c_libraries(fn.name):
            return slots, f"calls {fn.name}, which only numba's JIT resolves"
    for gv in module.global_variables:
        if gv.name.startswith(".numba.unresolved"):
            return slots, "has a symbol numba resolves at run time (recursion)"
        if gv.is_declaration and not gv.name.startswith(_PYTHON_PREFIXES) and not _in_c_libraries(gv.name):
            return slots, f"reads {gv.name}, which only numba's JIT resolves"
    text = str(module)
    for gv in module.global_variables:
        # numba's environment pointers are filled in by its JIT at load time: the
        # library has no way to, so code that reads one stays with numba.
        if "NumbaEnv" in gv.name and text.count("@" + _ir_name(gv.name)) > 1:
            return slots, f"uses numba's environment {gv.name}"
    return slots, None


def _ir_name(name: str) -> str:
    plain = all(c.isalnum() or c in "._$-" for c in name)
    return name if plain else '"' + name + '"'


def _slot_assembly(symbols) -> str:
    out = []
    for k, symbol in enumerate(sorted(symbols)):
        out += [
            "    .text",
            f"    .globl {symbol}",
            f"    .hidden {symbol}",
            f"    .type {symbol}, @function",
            f"{symbol}:",
            f"    jmp *.Lslot{k}(%rip)",
            "    .data",
            "    .p2align 3",
            f"    .globl {_SLOT}{symbol}",
            f"{_SLOT}{symbol}:",
            f".Lslot{k}:",
            "    .quad 0",
        ]
    out.append('    .section .note.GNU-stack,"",@progbits')
    return "\n".join(out) + "\n"


def _target_machine(codegen):
    """numba's JIT target machine, position-independent."""
    import llvmlite.binding as ll
    from numba.core import config
    target = ll.Target.from_triple(ll.get_process_triple())
    return target.create_target_machine(cpu=codegen._get_host_cpu_name(), features=codegen._tm_features,
                                        opt=config.OPT, reloc="pic", codemodel="default")


def _link(compiler, work: Path, objects: dict, slots, entries: dict) -> tuple[bytes | None, str | None]:
    """(the linked library, None) or (None, why not); the library was loaded once here
    (every symbol resolved, every entry found) before it is returned."""
    paths = []
    for method, data in objects.items():
        path = work / f"{method}.o"
        path.write_bytes(data)
        paths.append(str(path))
    stubs = work / "slots.s"
    stubs.write_text(_slot_assembly(slots))
    output = work / "library.so"
    # numba's JIT objects use absolute addresses (LLVM's large code model): the
    # dynamic loader relocates them in place (text relocations, allowed explicitly).
    # -Bsymbolic: the library's references to its own functions bind to them, never
    # to a same-named symbol elsewhere in the process.
    command = [*compiler, "-shared", "-Wl,-z,notext", "-Wl,-Bsymbolic", "-o", str(output), *paths, str(stubs), "-lm"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"linking failed ({exc})"
    if result.returncode != 0:
        return None, "linking failed: " + (result.stderr or result.stdout).strip()[-300:]
    try:
        handle = ctypes.CDLL(str(output), mode=os.RTLD_NOW | os.RTLD_LOCAL)
        for symbol in entries.values():
            handle[symbol]
    except (OSError, AttributeError) as exc:     # e.g. a system that forbids text relocations
        return None, f"the linked library does not load ({exc})"
    return output.read_bytes(), None


def write(folder: Path, name: str, cfuncs: dict, objects: dict | None = None) -> str | None:
    """Write the library of ``cfuncs`` ({method: numba CFunc}, all freshly compiled,
    in this process or by a helper of this build whose object code is in ``objects``)
    for this host; returns None, or why none was written (kept quiet: numba's cache
    still serves). Where none can be written, the record says why instead, so that
    later builds with the same compiler do not try again (see :func:`missing`);
    after an error of the file system (a full disk, say) nothing is recorded and a
    later build tries again. Never raises: the library only saves time.

    The library is made of the very objects numba's JIT loaded (kept by its object
    cache), linked as they are; where that fails, of the same optimised modules
    emitted again as position-independent code."""
    host = host_key() if enabled() else None
    if host is None:
        return "not on this platform"
    try:
        problem = _write(folder, name, host, cfuncs, objects or {})
    except OSError as exc:
        return f"could not write it ({exc})"
    except Exception as exc:        # LLVM's or numba's errors: the same next time
        problem = f"could not write it ({type(exc).__name__}: {exc})"
    if problem is not None:
        try:
            _note_unavailable(folder, name, host, problem)
        except OSError:
            pass
    return problem


def _write(folder: Path, name: str, host: str, cfuncs: dict, objects: dict) -> str | None:
    compiler = _compiler()
    if compiler is None:
        return "no C compiler (cc) to link it"
    modules, entries, runtime = {}, {}, set()
    for method, compiled in cfuncs.items():
        module = _complete_module(compiled)
        if module is None:
            return f"numba loaded {method} from its cache: no complete code to write"
        needed, problem = _external_symbols(compiled._library, module)
        if problem:
            return f"{method} {problem}"
        modules[method], entries[method] = module, compiled.native_name
        runtime |= needed
    slots = _slot_sources(runtime)
    if isinstance(slots, str):
        return slots
    # (a helper's object code only where this process loaded the entry from the cache)
    jit_objects = {method: objects.get(method) if compiled.cache_hits and method in objects
                   else getattr(compiled._library, "_compiled_object", None)
                   for method, compiled in cfuncs.items()}
    with tempfile.TemporaryDirectory(prefix="arbor_pycat_native_") as work:
        data, problem = None, "numba kept no object code"
        if all(isinstance(o, bytes) for o in jit_objects.values()):
            data, problem = _link(compiler, Path(work), jit_objects, slots, entries)
        if data is None:
            tm = _target_machine(next(iter(cfuncs.values()))._library._codegen)
            emitted = {method: tm.emit_object(module.clone()) for method, module in modules.items()}
            data, problem = _link(compiler, Path(work), emitted, slots, entries)
        if data is None:
            return problem
    library, record = _paths(folder, name, host)
    write_atomically(library, data)
    meta = {"key": name, "host": host, "sha256": _sha256(data), "entries": entries, "slots": slots}
    write_atomically(record, json.dumps(meta, indent=1, sort_keys=True).encode())
    return None
