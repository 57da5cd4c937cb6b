"""Ideal voltage clamp: a port of Arbor's default ``v_clamp``."""
from ..spec.declarations import CustomMechanism


class VClamp(CustomMechanism):
    """Holds the membrane potential of the CVs it covers at ``v0`` (mV, a global).

    A ``voltage`` mechanism: paint it (``"py_v_clamp/v0=-50"``).
    """
    name = "py_v_clamp"
    kind = "voltage"
    globals = [("v0", "mV", -60.0)]

    def compute_currents(self, pp):
        pp.v = pp.v0
