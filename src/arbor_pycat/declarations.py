"""What users write: :class:`CustomMechanism`, :class:`IonInfo`, :func:`register`."""
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from .errors import MechanismError, _for_user
from .spec import make_spec


@dataclass
class IonInfo:
    """An ion the mechanism uses, with Arbor's ``arb_ion_info`` flags.

    Flags left ``None`` are inferred from what the methods read and write
    (``pp.cai`` read → ``read_int_concentration``, ``pp.eca`` assigned →
    ``write_rev_potential``, ...); an explicit flag wins.
    ``use_diff_concentration`` is never inferred.
    """
    name: str
    write_int_concentration: bool | None = None
    write_ext_concentration: bool | None = None
    read_int_concentration: bool | None = None
    read_ext_concentration: bool | None = None
    use_diff_concentration: bool | None = None
    write_rev_potential: bool | None = None
    read_rev_potential: bool | None = None
    read_valence: bool | None = None
    verify_valence: bool = False
    expected_valence: int | None = None


class CustomMechanism:
    """Base class of Python-defined Arbor mechanisms.

    Subclass it, set ``name`` (and ``kind``, ``state_vars``, ``parameters``,
    ``globals``, ``ions``, ``random``, ``backend``, ``linear`` as needed), define any of
    ``init_mechanism(self, pp)``, ``advance_state(self, pp)``,
    ``compute_currents(self, pp)``, ``write_ions(self, pp)``,
    ``apply_events(self, pp, events)``, ``post_event(self, pp)``, and
    decorate the class with :func:`arbor_pycat.register`.
    """
    name: str | None = None
    kind: str = "density"      # "density", "point", "voltage", "reversal_potential", "junction"
    # (name, units, default) tuples, or bare names (units '', default 0); units as modcc writes them
    state_vars: Sequence[tuple[str, str, float] | str] = ()
    parameters: Sequence[tuple[str, str, float] | str] = ()
    globals: Sequence[tuple[str, str, float] | str] = ()
    ions: Sequence[IonInfo | str] = ()
    random: Sequence[tuple[str, int] | str] = ()     # (name, slot) or a name (slot: its position)
    backend: str | None = None  # "auto", "numba", "python"; None: build()'s backend=
    linear: bool = False     # True: Arbor may merge identical synapses (see README, "Declaring")


# name -> class, in registration order; redefinition replaces.
_registry = {}


_Class = TypeVar("_Class", bound=type)


def register(cls: _Class) -> _Class:
    """Check ``cls`` and add it to the mechanisms :func:`build` includes.

    Returns the class (use it as a decorator). Raises
    :class:`~arbor_pycat.MechanismError` for a malformed declaration.
    A class with the name of an earlier one replaces it in later builds.
    """
    try:
        spec = make_spec(cls)
    except MechanismError as error:
        raise _for_user(error) from None        # the traceback ends at your code
    cls.__pycat_spec__ = spec
    _document(cls, spec)
    _registry.pop(spec.name, None)
    _registry[spec.name] = cls
    return cls


def _document(cls, spec):
    """Append the declarations (units, defaults) to the class's docstring, for help(cls)."""
    from .info import doc_table
    original = cls.__dict__.get("__pycat_doc__", cls.__dict__.get("__doc__"))
    try:
        cls.__pycat_doc__ = original
        cls.__doc__ = (inspect.cleandoc(original) + "\n\n" if original else "") + doc_table(spec)
    except (AttributeError, TypeError):     # a class whose __doc__ cannot be set
        pass


def spec_of(cls):
    """The spec of ``cls``, made now if it was never registered (or changed since)."""
    spec = cls.__dict__.get("__pycat_spec__")
    return spec if spec is not None else make_spec(cls)


def registered():
    """Registered classes, in registration order."""
    return list(_registry.values())
