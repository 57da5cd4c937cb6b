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
    cls.__pycat_spec__ = spec
    _document(cls, spec)
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
    """The spec of ``cls``, made now if it was never registered (or changed since)."""
    spec = cls.__dict__.get("__pycat_spec__")
    return spec if spec is not None else make_spec(cls)


def registered():
    """Registered classes, in registration order."""
    return list(_registry.values())
