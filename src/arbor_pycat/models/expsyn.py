"""Single-exponential conductance synapse: a port of Arbor's default ``expsyn``."""
from ..spec.declarations import CustomMechanism
from ..helpers import cnexp


class ExpSyn(CustomMechanism):
    """Conductance ``g`` (µS) that jumps by each event's weight and decays with ``tau`` (ms).

    Current ``i = g (v - e)`` in nA (Arbor's ``expsyn``).
    """
    name = "py_expsyn"
    kind = "point"
    linear = True          # as expsyn.mod: Arbor merges identical synapses
    state_vars = [("g", "uS", 0.0)]
    parameters = [("tau", "ms", 2.0), ("e", "mV", 0.0)]

    def init_mechanism(self, pp):
        pp.g = 0.0

    def advance_state(self, pp):
        pp.g = cnexp(pp.g, 0.0, pp.tau, pp.dt)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g

    def apply_events(self, pp, events):
        for k in range(len(events)):
            target = events.mech_index[k]
            pp.g[target] = pp.g[target] + events.weight[k]
