"""NMODL import: .mod files become editable Python mechanisms.

- :func:`to_python` gives the source of a :class:`~arbor_pycat.CustomMechanism`
  subclass, readable and editable;
- :func:`load` writes it into a file (under the cache folder) and imports it,
  returning the class (its ``name`` is the .mod's SUFFIX / POINT_PROCESS /
  JUNCTION_PROCESS name);
- :func:`build` makes an ``arbor.catalogue`` from .mod files, with the
  names an ACC decor written for the compiled catalogue expects.

From the command line: ``python -m arbor_pycat nmodl FILE.mod... [-o DIR]``.
"""
import hashlib
import importlib.util
import os
import sys
from pathlib import Path

from .errors import NmodlError
from .model import analyse
from .parser import parse
from .pygen import Generator

__all__ = ["to_python", "load", "load_all", "build", "write", "package_sources", "kinetic_source",
           "kinetic_function", "module_name", "NmodlError"]


def _read(path_or_text):
    """(text, filename) of a path or of NMODL text."""
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                          and "{" not in path_or_text):
        path = Path(path_or_text)
        try:
            return path.read_text(), str(path)
        except OSError as exc:
            raise NmodlError(f"cannot read the file: {exc.strerror}", str(path)) from None
    return str(path_or_text), "<nmodl>"


def to_python(path_or_text, *, header=None, filename=None):
    """The Python source of the mechanism of a .mod file (a path, or NMODL text).

    ``header``: lines to put at the top of the file (e.g. a "generated" notice).
    ``filename``: how the source is named in comments and errors (default: the path).
    """
    text, name = _read(path_or_text)
    if filename is not None:
        name = filename
    module = parse(text, name)
    mech = analyse(module)
    return Generator(mech, text).generate(header=header)


def module_name(path_or_text):
    """The Python module name :func:`load` gives the generated source of a .mod file."""
    text, name = _read(path_or_text)
    mech = analyse(parse(text, name))
    return f"nmodl_{mech.name}"


def _cache_dir():
    from ..cache import cache_dir
    return cache_dir() / "nmodl"


def load(path, *, directory=None):
    """Import the mechanism of the .mod file ``path`` and return its class.

    The generated source is written to ``directory`` (default: the cache
    folder, ``$ARBOR_PYCAT_CACHE_DIR/nmodl`` or ``~/.cache/arbor_pycat/nmodl``),
    in a file named after the mechanism and a hash of its source, and
    imported from there, so tracebacks and the numba backend see real source.
    """
    text, name = _read(path)
    mech = analyse(parse(text, name))
    source = Generator(mech, text).generate()
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    folder = Path(directory) if directory is not None else _cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    modname = f"nmodl_{mech.name}_{digest}"
    target = folder / f"{modname}.py"
    if not target.exists() or target.read_text() != source:
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(source)
        os.replace(tmp, target)
    if modname in sys.modules:
        module = sys.modules[modname]
    else:
        spec = importlib.util.spec_from_file_location(modname, target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[modname]
            raise
    from ..spec.declarations import CustomMechanism
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, CustomMechanism) and v is not CustomMechanism
               and v.__module__ == modname]
    (cls,) = classes
    return cls


def load_all(*paths, directory=None):
    """``[load(p) for p in paths]``; a folder stands for its .mod files (sorted)."""
    return [load(f, directory=directory) for f in _mod_files(paths)]


def build(*paths, backend="auto", directory=None):
    """An ``arbor.catalogue`` of the mechanisms of the given .mod files (or folders of them).

    The mechanisms have their NMODL names, so a decor written for Arbor's
    compiled catalogue works unchanged (``props.catalogue.extend(cat, "")``).
    """
    from ..builder import build as _build
    files = _mod_files(paths)
    classes = [load(f, directory=directory) for f in files]
    with _compiling_ahead(files, directory, backend):
        return _build(*classes, backend=backend)


def _helper_count(n_files):
    """How many helper processes compile ahead for ``n_files`` mechanisms:
    ``ARBOR_PYCAT_BUILD_HELPER`` = 0 (or false/no/off): none; a number: that
    many; unset or ``auto``: one per core beyond the first (at most 8, for
    memory: each holds numba and LLVM). Never more than ``n_files - 1``."""
    from ..backends.numba.ahead import helper_setting
    return max(0, min(helper_setting(per_core=1, at_most=8), n_files - 1))


class _compiling_ahead:
    """While ``build()`` compiles the mechanisms in order, helper processes compile
    them from the last one backwards into the disk cache (on a machine with
    more than one core, for more than one mechanism, with the numba backend):
    with k helpers, helper j takes every k-th file of the reversed list from the
    j-th on, so that they share the work and meet ``build()`` in the middle.

    ``build()`` then loads the ones the helpers finished from the cache; where
    two processes reach the same mechanism, the cache entry's lock makes one of
    them wait for the other (see ``backends/numba/generate.py``). A helper only
    loads the .mod files with :func:`load` (generated code, no side effects);
    they are stopped once ``build()`` returns. They start when ``build()`` first
    finds a mechanism in no cache (none start when all come from the cache).
    See :func:`_helper_count` for ``ARBOR_PYCAT_BUILD_HELPER``."""

    def __init__(self, files, directory, backend):
        self.processes = []
        self.files, self.directory, self.started = files, directory, False
        self.count = _helper_count(len(files)) if backend != "python" else 0

    def start(self):
        """Start the helpers (once), each on its share of the files, last first."""
        if self.started:
            return
        self.started = True
        count, files, directory = self.count, self.files, self.directory
        import subprocess
        code = ("import signal, sys\n"
                "signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))   # stopped: clean up its files\n"
                "from arbor_pycat import nmodl\n"
                "from arbor_pycat.backends.numba import ahead, generate\n"
                "# arbor_pycat's shared functions are saved by build()'s process only\n"
                "ahead.save_only(lambda f: getattr(f, '__module__', '').startswith('arbor_pycat_generated_'))\n"
                "from arbor_pycat.spec import make_spec\n"
                "directory = sys.argv[1] or None\n"
                "for path in sys.argv[2:]:\n"
                "    try:\n"
                "        generate.build(make_spec(nmodl.load(path, directory=directory)))\n"
                "    except Exception:\n"
                "        pass      # build() compiles it and reports what went wrong\n")
        backwards = [str(f) for f in reversed(files)]
        # the helpers and build() use the cores: none forks helpers of its own for a
        # mechanism's entries (backends/numba/ahead.py)
        env = {**os.environ, "ARBOR_PYCAT_BUILD_HELPER": "0"}
        for j in range(count):
            arguments = [str(directory or ""), *backwards[j::count]]
            try:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-c", code, *arguments], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
            except OSError:
                break
        if self.processes:
            from ..backends.numba import ahead
            ahead.paused += 1

    def __enter__(self):
        if self.count:
            from ..backends.numba import ahead
            ahead.on_cache_miss.append(self.start)
        return self

    def __exit__(self, *exc):
        from ..backends.numba import ahead
        if self.count:
            ahead.on_cache_miss.remove(self.start)
        if self.processes:
            ahead.paused -= 1
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except Exception:
                process.kill()
        return False


def write(paths, directory=".", *, header=None):
    """Write the generated source of each .mod file (or folder of them) to ``directory/<name>.py``.

    Returns the paths written.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in _mod_files(paths):
        text, name = _read(path)
        mech = analyse(parse(text, name))
        source = Generator(mech, text).generate(header=header(path) if callable(header) else header)
        target = folder / f"{mech.name}.py"
        target.write_text(source)
        written.append(target)
    return written


def _mod_files(paths):
    out = []
    for p in paths:
        p = Path(p)
        out += sorted(p.glob("*.mod")) if p.is_dir() else [p]
    return out


def package_sources(paths, title):
    """``{file name: source}`` of a package of the generated mechanisms (as in ``arbor_pycat.models.bbp``).

    Each mechanism gets a module named after it, with a header saying it is
    generated; ``__init__.py`` imports every class and lists them in ``MECHANISMS``.
    """
    files = {}
    classes = []
    for path in _mod_files(paths):
        text, name = _read(path)
        label = Path(path).name
        mech = analyse(parse(text, label))
        header = [f"# Generated by arbor_pycat.nmodl from {label} of Arbor's {title} catalogue: do not edit.",
                  "# Regenerate with tests/test_nmodl.py::test_generated_models_are_current "
                  "(ARBOR_PYCAT_REGENERATE=1).", ""]
        gen = Generator(mech, text)
        files[f"{mech.name}.py"] = gen.generate(header=header)
        classes.append((mech.name, gen.class_name))
    init = [f'"""Mechanisms of Arbor\'s {title} catalogue, generated by arbor_pycat.nmodl from its .mod files.',
            "",
            "Generated code: do not edit (copy a module and edit the copy instead). The",
            "mechanisms keep their NMODL names, so build them into a catalogue of their own::",
            "",
            f"    cat = arbor_pycat.build(*arbor_pycat.models.{title}.MECHANISMS)",
            '"""']
    for module, cls in classes:
        init.append(f"from .{module} import {cls}")
    init.append("")
    init.append("MECHANISMS = [" + ", ".join(cls for _, cls in classes) + "]")
    files["__init__.py"] = "\n".join(init) + "\n"
    return files


def kinetic_source(scheme, name="kinetic_step"):
    """Python source of a function taking one backward-Euler step of a kinetic scheme.

    ``scheme`` is the body of an NMODL KINETIC block: ``~`` reactions, an
    optional ``CONSERVE``, LOCALs and assignments. The function is
    ``name(<species...>, <other names...>, dt)``, species in order of first
    appearance, the other names (rates, ...) sorted, and returns the new
    species values as a tuple. The step is what ``SOLVE ... METHOD sparse``
    does (a straight-line Gaussian elimination; Newton's method for
    higher-order reactions), written for one instance or whole arrays alike,
    so it serves hand-written mechanisms on both backends (see README,
    "Importing NMODL").
    """
    from . import solvers
    from . import syntax as S
    from .pygen import Context
    from . import symbolic as Y
    probe = parse("NEURON { SUFFIX k }\nKINETIC scheme {\n" + scheme + "\n}\n", "<kinetic>")
    block = probe.blocks["scheme"]
    species, others, local = [], set(), set()
    for st in block.body:
        if isinstance(st, S.Local):
            local.update(st.names)
        if isinstance(st, S.Assign):
            local.add(st.target)
        if isinstance(st, S.Reaction):
            for _, n in (st.lhs or []) + (st.rhs or []):
                if n not in species:
                    species.append(n)
    for st in block.body:
        for e in _expressions(st):
            others |= Y.names(e)
    others = sorted(others - set(species) - local - {"dt"})
    if not species:
        raise NmodlError("the kinetic scheme has no reactions", "<kinetic>", 1)
    text = ("NEURON { SUFFIX k RANGE " + ", ".join(others or ["unused_"]) + " }\n"
            + "PARAMETER { " + " ".join(others or ["unused_"]) + " }\n"
            + "STATE { " + " ".join(species) + " }\n"
            + "KINETIC scheme {\n" + scheme + "\n}\n")
    module = parse(text, "<kinetic>")
    mech = analyse(module)
    gen = Generator(mech, text)
    gen.label = "<kinetic>"
    args = species + others + ["dt"]
    ctx = Context(gen, "function", locals_=args, args=args)
    solvers._kinetic(gen, ctx, module.blocks["scheme"])
    lines = [f"def {name}({', '.join(args)}):",
             f'    """One backward-Euler step of a kinetic scheme: returns the new {", ".join(species)}.',
             "",
             "    Generated by arbor_pycat.nmodl.kinetic_source from::",
             ""]
    lines += ["        " + line.strip() for line in scheme.strip().splitlines()]
    lines += ['    """']
    lines += [line for line in ctx.lines if "<kinetic>:" not in line]
    lines.append(f"    return {', '.join(species)}")
    return "import numpy as np\n\n\n" + "\n".join(lines) + "\n"


def _expressions(st):
    from .model import _exprs
    return _exprs(st)


def kinetic_function(scheme, name="kinetic_step", *, directory=None):
    """The function :func:`kinetic_source` writes, imported from a real file (for the numba backend)."""
    source = kinetic_source(scheme, name)
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    folder = Path(directory) if directory is not None else _cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    modname = f"nmodl_kinetic_{name}_{digest}"
    target = folder / f"{modname}.py"
    if not target.exists() or target.read_text() != source:
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(source)
        os.replace(tmp, target)
    if modname not in sys.modules:
        spec = importlib.util.spec_from_file_location(modname, target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        spec.loader.exec_module(module)
    return getattr(sys.modules[modname], name)
