"""``python -m arbor_pycat info MODULE_OR_FILE``: what mechanism classes declare,
and which backend and form each of their methods gets, and why."""
import importlib
import importlib.util
import inspect
import sys
import warnings
from pathlib import Path

from ..errors import MechanismError
from ..spec.describe import declared_text, ion_text
from ..spec.registry import CustomMechanism, registered, spec_of

DESCRIPTION = """Load a Python file or module and describe every mechanism class in it: its
declarations (parameters, states, globals, ions with the flags inferred from the
methods, random variables), then, for each method, which backend runs it and in
which form: numba 'scalar' (an element-wise loop, the fastest), numba 'array'
(the method as written, on arrays) or python, with the reason. Unless
--no-build is given, the classes are built (compiled) to find out."""


def add_arguments(parser):
    parser.add_argument("target", help="a .py file or an importable module (e.g. arbor_pycat.models)")
    parser.add_argument("--no-build", action="store_true",
                        help="do not compile: say only what the translation finds")
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "python"],
                        help="backend for classes that do not choose one (default auto)")


def load(target):
    """The module ``target`` names: a path to a .py file, or a module name."""
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {target}")
        name = f"arbor_pycat_info_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path.resolve())
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module           # so that inspect finds the classes' source
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.pop(0)
        return module
    return importlib.import_module(target)


def classes_of(module):
    """The mechanism classes a module defines or exposes (its own and its registered ones)."""
    found = []
    for value in vars(module).values():
        if inspect.isclass(value) and issubclass(value, CustomMechanism) and value is not CustomMechanism \
                and getattr(value, "name", None) and value not in found:
            found.append(value)
    for cls in registered():
        if cls.__module__ == module.__name__ and cls not in found:
            found.append(cls)
    return found


def translation_forms(spec):
    """{method: (form, why)} from the numba translation alone (no compilation)."""
    from ..backends import CannotCompile
    try:
        from ..backends.numba.translate import translate
    except ImportError as exc:          # pragma: no cover - numba is a dependency
        return {m: ("python", f"numba is not available ({exc})") for m in spec.methods}
    out = {}
    for name, method in spec.methods.items():
        plan = spec.fields[name]
        try:
            translate(spec, method, plan, "scalar", lambda field: 1)
            out[name] = ("scalar", "element-wise: one loop over instances, no temporary arrays")
            continue
        except CannotCompile as reason:
            why_not_scalar = str(reason)
            if why_not_scalar == "not element-wise" and name in ("apply_events", "post_event"):
                why_not_scalar = f"{name} always runs as array code (events and spikes reach some instances)"
        except Exception as exc:        # a translation bug must not hide the rest
            why_not_scalar = f"{type(exc).__name__}: {exc}"
        try:
            translate(spec, method, plan, "array", lambda field: 1)
            out[name] = ("array", why_not_scalar)
        except CannotCompile as reason:
            out[name] = ("python", str(reason))
    return out


def describe(cls, build=True, backend="auto"):
    """A few lines about ``cls``."""
    spec = spec_of(cls)
    where = ""
    try:
        where = f", {inspect.getsourcefile(cls)} line {inspect.getsourcelines(cls)[1]}"
    except (OSError, TypeError):
        pass
    lines = [f"{cls.__qualname__} (module {cls.__module__}{where})"]
    doc = cls.__dict__["__pycat_doc__"] if "__pycat_doc__" in cls.__dict__ else cls.__dict__.get("__doc__")
    doc = inspect.cleandoc(doc) if doc else ""      # the user's own docstring, not register's table
    if doc:
        lines.append(f"  {doc.splitlines()[0]}")
    lines += [
        f"  name {spec.name!r}, kind {spec.kind}" + (f", backend {spec.backend!r}" if spec.backend else ""),
        f"  parameters: {declared_text(spec.parameters)}",
        f"  state_vars: {declared_text(spec.state_vars)}",
        f"  globals:    {declared_text(spec.globals)}",
        f"  ions:       {', '.join(ion_text(ion) for ion in spec.ions) or 'none'}",
        f"  random:     {', '.join(r.name for r in spec.random) or 'none'}",
    ]
    if spec.kind in ("density", "point", "junction") and spec.needs_numeric_conductance():
        lines.append("  conductance: not assigned; computed numerically (compute_currents runs twice)")
    forms = translation_forms(spec)
    entry = None
    if build:
        from .. import builder
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                builder.build(cls, backend=backend)
                entry = builder.last_report.mechanisms[0]
            except MechanismError as error:
                lines.append(f"  cannot be built: {error}")
    lines.append("  methods:")
    width = max((len(m) for m in spec.methods), default=0)
    for name, method in spec.methods.items():
        form, why = forms[name]
        access = method.access
        uses = ", ".join(sorted(access.reads | access.writes)) or "nothing"
        if entry is not None:
            backend_used = entry.backend
            form = entry.forms.get(name, form)
            if backend_used == "python":
                why = entry.fallback or "backend='python'"
                if entry.fallback and not entry.fallback.startswith(name):
                    why = f"the class falls back as a whole: {entry.fallback}"
        else:
            backend_used = "python" if form == "python" or (spec.backend or backend) == "python" else "numba"
            if (spec.backend or backend) == "python":
                form, why = "python", "backend='python'"
        label = form if backend_used == "numba" else "python"
        text = f"    {name:<{width}}  {backend_used}, {label}" if label != "python" else f"    {name:<{width}}  python"
        lines.append(f"{text}: {why}")
        lines.append(f"    {'':<{width}}  uses pp.{uses.replace(', ', ', pp.')}")
    if entry is not None:
        how = {"compiled": "compiled now", "disk": "from the disk cache", "memory": "built before",
               None: "no compilation"}[entry.cache]
        lines.append(f"  built with the {entry.backend} backend in {entry.seconds:.2f} s ({how})")
    elif not build:
        lines.append("  (not built: --no-build; numba may still fail to type a method, then the "
                     "class falls back to python)")
    return "\n".join(lines)


def run_from_arguments(args):
    try:
        module = load(args.target)
    except (ImportError, FileNotFoundError, SyntaxError, MechanismError) as exc:
        print(f"arbor_pycat info: cannot load {args.target}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    classes = classes_of(module)
    if not classes:
        print(f"arbor_pycat info: {args.target} defines no mechanism class", file=sys.stderr)
        return 1
    for k, cls in enumerate(classes):
        if k:
            print()
        try:
            print(describe(cls, build=not args.no_build, backend=args.backend))
        except MechanismError as error:
            print(f"{cls.__qualname__}: {error}")
    return 0
