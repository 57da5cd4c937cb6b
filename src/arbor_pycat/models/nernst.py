"""Nernst reversal potential: a port of Arbor's default ``nernst``.

A ``reversal_potential`` mechanism: attach it to an ion with
``decor.set_ion("ca", method="py_nernst/x=ca")``.
"""
import numpy as np

from ..spec.declarations import CustomMechanism, IonInfo

R = 8.31446261815324        # J/(K mol): gas constant
FARADAY = 96485.3321233100184   # C/mol: Faraday's constant


def nernst_coefficient(celsius, valence, gas_constant=R, faraday=FARADAY):
    """``RT/(zF)`` in mV at ``celsius`` (°C) for an ion of valence ``valence``."""
    return gas_constant * (celsius + 273.15) / (valence * faraday) * 1000.0


def nernst_potential(coefficient, inside, outside):
    """Reversal potential (mV) from ``RT/(zF)`` (mV) and the concentrations (mM)."""
    return coefficient * np.log(outside / inside)


class Nernst(CustomMechanism):
    """Sets ``e<x>`` from ``<x>i`` and ``<x>o`` with the Nernst equation.

    Generic in the ion ``x``: rename it when attaching (``py_nernst/x=na``).
    Globals ``R`` (J/K/mol) and ``F`` (C/mol); the coefficient ``RT/(zF)``
    (mV) is computed once, in ``init_mechanism``.
    """
    name = "py_nernst"
    kind = "reversal_potential"
    state_vars = [("coeff", "mV", 0.0)]
    globals = [("R", "J/K/mol", R), ("F", "C/mol", FARADAY)]
    ions = [IonInfo("x")]

    def init_mechanism(self, pp):
        pp.coeff = nernst_coefficient(pp.temperature, pp.xq, pp.R, pp.F)

    def compute_currents(self, pp):
        pp.ex = nernst_potential(pp.coeff, pp.xi, pp.xo)
