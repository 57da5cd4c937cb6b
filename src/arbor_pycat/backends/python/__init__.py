"""The python backend: the shim calls the user's methods through Python's C API.

:mod:`.runner` is what the shim calls for a method; :mod:`.invocation` builds,
for one ppack, the ``pp`` the method sees (:mod:`.pp`) from views and gathers
of Arbor's memory (:mod:`.views`), and what runs before and after the call:
refreshing inputs, checked assignments (:mod:`.assign`), scattering currents
(:mod:`.scatter`) and writes back.
"""
from ...errors import MechanismError
from ..base import CompiledMechanism
from .runner import MethodRunner


def compile(spec, shim) -> CompiledMechanism:
    """One :class:`.runner.MethodRunner` per method, around one instance of the class."""
    try:
        instance = spec.cls()
    except Exception as exc:
        raise MechanismError(f"{spec.label}: creating the mechanism object "
                             f"{spec.cls.__qualname__}() failed: {type(exc).__name__}: {exc}") from exc
    # The shim calls each runner through Python's C API with (ppack address,
    # events address, fingerprint) and keeps it alive; it also bumps the
    # fingerprint at every init, invalidating cached views.
    callbacks = {name: MethodRunner(spec, method, instance, shim) for name, method in spec.methods.items()}
    return CompiledMechanism("python", spec, callbacks, forms={name: "python" for name in spec.methods},
                             keep=(instance,))
