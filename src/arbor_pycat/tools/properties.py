"""Adding a catalogue of arbor_pycat mechanisms to Arbor's cable properties.

Arbor cannot replace a mechanism in a catalogue: extending a catalogue (or the
properties holding one) that already has a mechanism of that name fails with
Arbor's bare "mechanism X already exists". That happens in a notebook when a
rebuilt catalogue is added to long-lived properties. :func:`extend` says so
and what to do; :func:`cable_properties` makes fresh properties every time.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import MechanismError

if TYPE_CHECKING:
    import arbor

Target = TypeVar("Target")      # an arbor.catalogue or arbor.cable_global_properties


def cable_properties(*catalogues: arbor.catalogue, prefix: str = "") -> arbor.cable_global_properties:
    """Fresh ``arbor.neuron_cable_properties()`` whose catalogue is Arbor's default one
    extended with ``catalogues`` (their mechanism names prefixed with ``prefix``)."""
    import arbor
    properties = arbor.neuron_cable_properties()
    for catalogue in catalogues:
        extend(properties, catalogue, prefix)
    return properties


def extend(target: Target, catalogue: arbor.catalogue, prefix: str = "") -> Target:
    """``target.extend(catalogue, prefix)`` for an ``arbor.catalogue`` or cable
    properties (their ``.catalogue``), with a clear error when a name is taken.
    Returns ``target``."""
    destination: Any = getattr(target, "catalogue", target)
    try:
        destination.extend(catalogue, prefix)
    except RuntimeError as exc:
        taken = re.match(r"mechanism (\S+) already exists", str(exc).strip())
        if taken is None:
            raise
        name = taken.group(1)
        mine = name[len(prefix):] if prefix and name.startswith(prefix) else name
        raise MechanismError(
            f"cannot add mechanism {name!r}: the catalogue already has one of that name, and Arbor "
            "cannot replace a mechanism. A catalogue rebuilt after an edit needs fresh properties: "
            "arbor_pycat.cable_properties(catalogue) or arbor.neuron_cable_properties() in the "
            "recipe's __init__ (and a new arbor.simulation); or add it under a new prefix, "
            f"extend(properties, catalogue, prefix='v2_') and paint 'v2_{mine}'. If {mine!r} is "
            "one of Arbor's own mechanisms, rename yours.") from exc
    return target
