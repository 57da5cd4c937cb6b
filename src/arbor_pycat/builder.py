"""``build()``: registered classes → a new, independent ``arbor.catalogue``."""
from .backends import compile_mechanism
from .bridge import Shim
from .declarations import registered, spec_of
from .errors import MechanismError


def build(*classes, backend="auto"):
    """Build an ``arbor.catalogue`` of ``classes`` (default: every registered class).

    Each call returns a new catalogue with its own copy of the shim; earlier
    catalogues and the simulations using them keep working. ``backend``
    (``"auto"``, ``"numba"`` or ``"python"``) applies to classes that do not
    set one themselves.
    """
    from .bridge import check_map_budget, install_interrupt_handler
    from .compat import check_arbor
    check_arbor()
    check_map_budget()
    classes = classes or tuple(registered())
    specs = [spec_of(cls) for cls in classes]
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MechanismError(f"build(): two classes are named {duplicates[0]!r}; "
                             "names must be unique in a catalogue")
    shim = Shim(len(specs))
    chosen = {}
    for spec in specs:
        compiled = compile_mechanism(spec, shim, backend)
        shim.add(spec, compiled)
        chosen[spec.name] = compiled.backend
    catalogue = shim.load()
    install_interrupt_handler()
    last_backends.clear()
    last_backends.update(chosen)
    return catalogue


# {mechanism name: backend used} of the most recent build() in this process.
last_backends = {}
