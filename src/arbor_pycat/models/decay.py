"""Exponential decay of a diffusive concentration: a port of Arbor's default ``decay``.

``decay`` pulls the diffusive concentration ``<x>d`` (mM) of its ion to 0 at
the rate ``tau`` (1/ms, despite its name; default 5/ms)::

    xd' = -tau * xd

It needs the ion's diffusive concentration (``use_diff_concentration=True``;
give the ion a diffusivity with ``decor.set_ion(..., diff=...)``) and is
generic in the ion: paint ``"py_decay/x=ca"``.
"""
from ..spec.declarations import CustomMechanism, IonInfo
from ..helpers import cnexp


class Decay(CustomMechanism):
    """Exponential decay of ``<x>d`` with rate ``tau`` (1/ms), integrated like modcc's cnexp."""
    name = "py_decay"
    kind = "density"
    parameters = [("tau", "1/ms", 5.0)]
    ions = [IonInfo("x", use_diff_concentration=True)]

    def advance_state(self, pp):
        # Writing pp.xd outside write_ions moves Arbor's value by
        # weight * (new - old), as modcc does for a partially covered CV.
        pp.xd = cnexp(pp.xd, 0.0, 1.0 / pp.tau, pp.dt)
