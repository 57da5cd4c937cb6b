"""``register``: a checked class joins the mechanisms :func:`~arbor_pycat.build` includes."""
import inspect
from typing import TypeVar

from ..errors import MechanismError, _for_user
from .declarations import CustomMechanism, IonInfo  # noqa: F401  (arbor_pycat.declarations)
from .validate import make_spec


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
    _document(cls, spec)
    cls.__pycat_spec__ = spec
    cls.__pycat_key__ = _class_key(cls)
    _registry.pop(spec.name, None)
    _registry[spec.name] = cls
    return cls


def _document(cls, spec):
    """Append the declarations (units, defaults) to the class's docstring, for help(cls)."""
    from .describe import doc_table
    original = cls.__dict__.get("__pycat_doc__", cls.__dict__.get("__doc__"))
    try:
        cls.__pycat_doc__ = original
        cls.__doc__ = (inspect.cleandoc(original) + "\n\n" if original else "") + doc_table(spec)
    except (AttributeError, TypeError):     # a class whose __doc__ cannot be set
        pass


def spec_of(cls):
    """The spec of ``cls``, made now if it was never registered or changed since
    (a method or declaration of it or of a base class replaced: ``Cls.advance_state =
    f``, ``Cls.backend = "numba"``), as the python backend, which calls the class's
    methods as they are at build(), would see it."""
    spec = cls.__dict__.get("__pycat_spec__")
    if spec is not None and cls.__dict__.get("__pycat_key__") == _class_key(cls):
        return spec
    spec = make_spec(cls)
    if "__pycat_spec__" in cls.__dict__:       # registered: keep the spec of the class as it is now
        cls.__pycat_spec__, cls.__pycat_key__ = spec, _class_key(cls)
    return spec


# set by register itself (and the docstring it extends): not part of what the spec describes
_OWN = frozenset({"__pycat_spec__", "__pycat_key__", "__pycat_doc__", "__doc__"})


def _class_key(cls):
    """What ``make_spec`` read from ``cls``: each attribute of each class of its MRO,
    by identity, and by value for plain data (a declaration list changed in place)."""
    key = []
    for owner in cls.__mro__:
        if owner is object:
            continue
        for name, value in vars(owner).items():
            if name in _OWN:
                continue
            data = repr(value) if isinstance(value, (list, tuple, dict, set, str, int, float, bool)) else None
            key.append((id(owner), name, id(value), data))
    return tuple(key)


def registered():
    """Registered classes, in registration order."""
    return list(_registry.values())
