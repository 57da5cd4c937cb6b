"""Ornstein-Uhlenbeck input current: a port of Arbor's stochastic-catalogue ``ou_input``.

Uses one of Arbor's random variables (``random = [("W", 0)]``): ``pp.W`` is a
fresh standard-normal draw per instance and step. As modcc does for
``METHOD stochastic`` (Euler-Maruyama), the port scales it by ``sqrt(dt)``.

::

    dI_ou/dt = (mu - I_ou)/tau + sqrt(2/tau) sigma W

Events switch the process on (weight >= 0: ``I_ou = mu``) or off
(weight < 0: ``I_ou = 0``).
"""
import numpy as np

from ..spec.declarations import CustomMechanism


def sqrt_dt(dt):
    """``sqrt(dt)``, computed as modcc does (``exp(0.5 log dt)``)."""
    return np.exp(np.log(dt) * 0.5)


def step_right(x):
    """NMODL's ``step_right``: 1 where ``x >= 0``, else 0."""
    return np.where(x >= 0.0, 1.0, 0.0)


class OUInput(CustomMechanism):
    """Point current ``-I_ou`` (nA, depolarising for positive ``I_ou``) following an OU process.

    Parameters ``mu`` (nA, mean), ``sigma`` (nA, stationary s.d.), ``tau``
    (ms, relaxation time). Off until an event with weight >= 0 arrives.
    """
    name = "py_ou_input"
    kind = "point"
    state_vars = [("I_ou", "nA", 0.0), ("active", "", 0.0), ("alpha", "1/ms", 0.0),
                  ("beta", "nA/ms^0.5", 0.0)]
    parameters = [("mu", "nA", 1.0), ("sigma", "nA", 1.0), ("tau", "ms", 1.0)]
    random = [("W", 0)]

    def init_mechanism(self, pp):
        pp.I_ou = 0.0
        pp.active = -1.0
        pp.alpha = 1.0 / pp.tau
        pp.beta = pp.sigma * np.sqrt(2.0 / pp.tau)

    def advance_state(self, pp):
        dw = sqrt_dt(pp.dt) * pp.W
        on = step_right(pp.active)
        pp.I_ou = pp.I_ou + on * (pp.alpha * (pp.mu - pp.I_ou)) * pp.dt + on * pp.beta * dw

    def compute_currents(self, pp):
        pp.i = -pp.I_ou
        pp.conductance = 0.0

    def apply_events(self, pp, events):
        for k in range(len(events)):
            j = events.mech_index[k]
            if events.weight[k] >= 0.0:
                pp.I_ou[j] = pp.mu[j]
                pp.active[j] = 1.0
            else:
                pp.I_ou[j] = 0.0
                pp.active[j] = -1.0
