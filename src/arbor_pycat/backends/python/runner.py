"""What the shim calls for one method: a cache of :class:`.invocation.Invocation` per ppack."""
import traceback

from ...errors import MechanismRuntimeError, _remember
from ..base import interrupted_in_python
from .invocation import Invocation

_MAX_CACHED = 64


class MethodRunner:
    """What the shim calls for one method of one mechanism: f(ppack, events, fingerprint) -> int."""

    def __init__(self, spec, method, instance, shim):
        self.spec = spec
        self.method = method
        self.bound = getattr(instance, method.name)
        self.shim = shim
        self.plan = spec.fields[method.name]
        self.invocations = {}

    def __call__(self, address, events_address, key):
        invocation = None
        try:
            invocation = self.invocations.get(key)
            if invocation is None:
                if len(self.invocations) >= _MAX_CACHED:
                    self.invocations.clear()
                invocation = Invocation(self, address)
                self.invocations[key] = invocation
            invocation.run(events_address)
            return 0
        except BaseException as exc:   # never let an exception cross into Arbor
            if invocation is not None and invocation.dead:
                self.invocations.pop(key, None)
            return self.fail(exc)

    def fail(self, exc):
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, KeyboardInterrupt):
            # Ctrl-C reached Python inside the method: say so as the shim does
            # when it stops a run, and raise KeyboardInterrupt again in the main
            # thread once sim.run() has returned.
            message = (f"arbor_pycat: KeyboardInterrupt (Ctrl-C): the simulation was interrupted "
                       f"while {self.spec.label} ran {self.method.name}\n\nOriginal traceback:\n{details}")
            import _thread
            interrupted_in_python[0] = True
            _thread.interrupt_main()
        else:
            message = (f"arbor_pycat: {self.spec.label} failed in {self.method.name}: "
                       f"{type(exc).__name__}: {exc}\n\nOriginal traceback:\n{details}")
        error = MechanismRuntimeError(message)
        error.__cause__ = exc
        _remember(error)
        try:
            self.shim.set_error(message)
        except BaseException:
            pass
        return -1
