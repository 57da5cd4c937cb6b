"""Exponential synapse with spike-timing-dependent plasticity: a port of Arbor's ``expsyn_stdp``.

Pre-synaptic events leave a trace ``apre``, post-synaptic spikes (the cell's
threshold detectors, seen in ``post_event``) a trace ``apost``; each event
reads the other trace into ``weight_plastic``, which adds to the weight of
later events.
"""
import numpy as np

from ..spec.declarations import CustomMechanism
from ..helpers import cnexp


class ExpSynSTDP(CustomMechanism):
    """``expsyn`` whose effective weight is ``weight + weight_plastic`` (µS), clipped to ``[0, max_weight]``."""
    name = "py_expsyn_stdp"
    kind = "point"
    state_vars = [("g", "uS", 0.0), ("apre", "", 0.0), ("apost", "", 0.0),
                  ("weight_plastic", "uS", 0.0)]
    parameters = [("tau", "ms", 2.0), ("taupre", "ms", 10.0), ("taupost", "ms", 10.0),
                  ("Apre", "", 0.01), ("Apost", "", -0.01), ("e", "mV", 0.0),
                  ("max_weight", "uS", 10.0)]

    def init_mechanism(self, pp):
        pp.g = 0.0
        pp.apre = 0.0
        pp.apost = 0.0
        pp.weight_plastic = 0.0

    def advance_state(self, pp):
        dt = pp.dt
        pp.g = cnexp(pp.g, 0.0, pp.tau, dt)
        pp.apre = cnexp(pp.apre, 0.0, pp.taupre, dt)
        pp.apost = cnexp(pp.apost, 0.0, pp.taupost, dt)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g

    def apply_events(self, pp, events):
        for k in range(len(events)):
            j = events.mech_index[k]
            g = pp.g[j] + events.weight[k] + pp.weight_plastic[j]
            pp.g[j] = max(0.0, min(g, pp.max_weight[j]))
            pp.apre[j] = pp.apre[j] + pp.Apre[j]
            pp.weight_plastic[j] = pp.weight_plastic[j] + pp.apost[j]

    def post_event(self, pp):
        # One update per detector of the instance's cell that fired in the last step.
        tss = pp.time_since_spike
        for d in range(tss.shape[1]):
            fired = tss[:, d] >= 0.0
            pp.apost = pp.apost + np.where(fired, pp.Apost, 0.0)
            pp.weight_plastic = pp.weight_plastic + np.where(fired, pp.apre, 0.0)
