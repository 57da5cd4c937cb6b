"""Voltage limiter: a port of Arbor's default ``v_limit``."""
import numpy as np

from ..spec.declarations import CustomMechanism


def clip(v, low, high):
    """``v`` limited to ``[low, high]`` (mV), as NMODL's ``max(min(v, high), low)``."""
    return np.maximum(np.minimum(v, high), low)


class VLimit(CustomMechanism):
    """Clips the membrane potential to ``[v_low, v_high]`` (mV, globals) after every step."""
    name = "py_v_limit"
    kind = "voltage"
    globals = [("v_low", "mV", -70.0), ("v_high", "mV", 20.0)]

    def compute_currents(self, pp):
        pp.v = clip(pp.v, pp.v_low, pp.v_high)
