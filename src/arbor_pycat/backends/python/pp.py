"""The ``pp`` object a method receives, and the events of ``apply_events``."""
import numpy as np

from ...errors import MechanismError


class PPBase:
    """The ``pp`` a method receives. Fields are plain attributes; writes are checked."""
    _writers = {}
    _label = ""
    _plan = {}

    def __setattr__(self, name, value):
        writer = self._writers.get(name)
        if writer is None:
            raise MechanismError(self._write_error(name))
        writer(value)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        from ...spec.locations import suggestion
        hint = suggestion(name, self._plan)
        raise MechanismError(f"{self._label}: pp.{name} is not a field here"
                             + (f"; {hint}" if hint else "")
                             + f" (fields: {', '.join(sorted(self._plan))})")

    def __delattr__(self, name):
        raise MechanismError(f"{self._label}: pp.{name} cannot be deleted")

    def __dir__(self):
        return sorted(self.__dict__)

    def __repr__(self):
        return f"<pp of {self._label}: {', '.join(sorted(self.__dict__))}>"

    def _write_error(self, name):
        if name in self._plan:
            return f"{self._label}: pp.{name} is read-only here"
        return f"{self._label}: pp.{name} is not a field here (fields: {', '.join(sorted(self._plan))})"


class Events:
    """The events delivered to a point mechanism in this step.

    ``mech_index[k]`` is the instance the k-th event targets, ``weight[k]``
    its weight (the connection's, in its units). Iterating yields
    ``(mech_index, weight)`` pairs.
    """
    __slots__ = ("mech_index", "weight")

    def __init__(self, mech_index, weight):
        self.mech_index = mech_index
        self.weight = weight

    def __len__(self):
        return len(self.mech_index)

    def __iter__(self):
        return zip(self.mech_index.tolist(), self.weight.tolist())

    def __repr__(self):
        return f"Events(mech_index={self.mech_index!r}, weight={self.weight!r})"


NO_EVENTS = Events(np.zeros(0, dtype=np.int64), np.zeros(0))
