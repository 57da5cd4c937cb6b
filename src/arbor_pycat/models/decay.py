"""Exponential decay of a diffusive concentration: a port of Arbor's default ``decay``.

``decay`` pulls the diffusive concentration ``<x>d`` (mM) of its ion to 0
with rate 5/ms. It needs the ion's diffusive concentration
(``use_diff_concentration=True``; give the ion a diffusivity with
``decor.set_ion(..., diff=...)``).
"""
from ..declarations import CustomMechanism, IonInfo
from ..helpers import cnexp

RATE = 5.0   # 1/ms


class Decay(CustomMechanism):
    """``F' = -5 F`` with ``F`` read from, and written back to, ``<x>d`` (mM)."""
    name = "py_decay"
    kind = "density"
    state_vars = [("F", "mM", 0.0)]
    ions = [IonInfo("x", use_diff_concentration=True)]

    def init_mechanism(self, pp):
        pp.F = pp.xd

    def advance_state(self, pp):
        pp.F = cnexp(pp.xd, 0.0, 1.0 / RATE, pp.dt)

    def compute_currents(self, pp):
        pp.xd = pp.F
