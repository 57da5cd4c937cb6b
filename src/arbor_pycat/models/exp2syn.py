"""Double-exponential conductance synapse: a port of Arbor's default ``exp2syn``."""
import numpy as np

from ..spec.declarations import CustomMechanism
from ..helpers import cnexp


def peak_normalisation(tau1, tau2):
    """The factor that makes the peak of ``exp(-t/tau2) - exp(-t/tau1)`` equal 1.

    ``tau1`` (rise) < ``tau2`` (decay), both in ms.
    """
    tp = tau1 * tau2 / (tau2 - tau1) * np.log(tau2 / tau1)
    return 1.0 / (np.exp(-tp / tau2) - np.exp(-tp / tau1))


class Exp2Syn(CustomMechanism):
    """Conductance ``B - A`` (µS) with rise time ``tau1`` and decay time ``tau2`` (ms).

    Each event adds ``weight * factor`` to both ``A`` and ``B``, so that an
    event of weight ``w`` peaks at ``w`` µS. Current ``i = (B - A)(v - e)``
    in nA (Arbor's ``exp2syn``).
    """
    name = "py_exp2syn"
    kind = "point"
    linear = True          # as exp2syn.mod: Arbor merges identical synapses
    state_vars = [("A", "uS", 0.0), ("B", "uS", 0.0), ("factor", "", 0.0)]
    assigned = ["factor"]  # ASSIGNED in exp2syn.mod: merged synapses scale A and B only
    parameters = [("tau1", "ms", 0.5), ("tau2", "ms", 2.0), ("e", "mV", 0.0)]

    def init_mechanism(self, pp):
        pp.A = 0.0
        pp.B = 0.0
        pp.factor = peak_normalisation(pp.tau1, pp.tau2)

    def advance_state(self, pp):
        pp.A = cnexp(pp.A, 0.0, pp.tau1, pp.dt)
        pp.B = cnexp(pp.B, 0.0, pp.tau2, pp.dt)

    def compute_currents(self, pp):
        g = pp.B - pp.A
        pp.i = g * (pp.v - pp.e)
        pp.conductance = g

    def apply_events(self, pp, events):
        for k in range(len(events)):
            target = events.mech_index[k]
            increment = events.weight[k] * pp.factor[target]
            pp.A[target] = pp.A[target] + increment
            pp.B[target] = pp.B[target] + increment
