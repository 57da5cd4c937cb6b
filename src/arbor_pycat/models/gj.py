"""Ohmic gap junction: a port of Arbor's default ``gj``."""
from ..spec.declarations import CustomMechanism


class GapJunction(CustomMechanism):
    """Current ``i = g (v - v_peer)`` (nA) with conductance ``g`` (µS), Arbor's ``gj``.

    Place it with ``decor.place(..., arbor.junction("py_gj"), label)`` on
    both cells and connect them in the recipe's ``gap_junctions_on``.
    """
    name = "py_gj"
    kind = "junction"
    parameters = [("g", "uS", 1.0)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.peer_v)
        pp.conductance = pp.g
