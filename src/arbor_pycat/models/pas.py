"""Passive leak: a port of Arbor's default ``pas``."""
from ..spec.declarations import CustomMechanism


class Pas(CustomMechanism):
    """Passive leak current ``i = g (v - e)`` (Arbor's ``pas``).

    ``g`` (S/cm²) is per instance; the reversal potential ``e`` (mV) is a
    global, as in Arbor (set it with ``"py_pas/e=-65"``).
    """
    name = "py_pas"
    kind = "density"
    parameters = [("g", "S/cm2", 0.001)]
    globals = [("e", "mV", -70.0)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g
