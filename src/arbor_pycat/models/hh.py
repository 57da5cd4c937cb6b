"""Hodgkin-Huxley squid axon channels: a port of Arbor's default ``hh``.

Na⁺ (``m³h``), K⁺ (``n⁴``) and a leak, with the rate functions of Arbor's
``hh.mod``. Voltages in mV, rates in 1/ms, conductances in S/cm², currents
in mA/cm².
"""
import numpy as np

from ..spec.declarations import CustomMechanism, IonInfo
from ..helpers import cnexp_linear, exprelr

LOG3 = np.log(3.0)


def m_alpha(v):
    """Na⁺ activation opening rate (1/ms) at ``v`` (mV)."""
    return exprelr(-0.1 * v - 4.0)


def m_beta(v):
    """Na⁺ activation closing rate (1/ms)."""
    return 4.0 * np.exp(-(v + 65.0) / 18.0)


def h_alpha(v):
    """Na⁺ inactivation recovery rate (1/ms)."""
    return 0.07 * np.exp(-0.05 * v - 3.25)


def h_beta(v):
    """Na⁺ inactivation rate (1/ms)."""
    return 1.0 / (np.exp(-0.1 * v - 3.5) + 1.0)


def n_alpha(v):
    """K⁺ activation opening rate (1/ms)."""
    return 0.1 * exprelr(-0.1 * v - 5.5)


def n_beta(v):
    """K⁺ activation closing rate (1/ms)."""
    return 0.125 * np.exp(-0.0125 * v - 0.8125)


def q10_factor(celsius):
    """Temperature factor ``3^((celsius - 6.3)/10)`` of the rates (dimensionless)."""
    return np.exp(LOG3 * (0.1 * celsius - 0.63))


def steady_state(alpha, beta):
    """Gate value at rest, ``alpha / (alpha + beta)``."""
    return alpha / (alpha + beta)


def gate_step(x, alpha, beta, q10, dt):
    """One cnexp step of ``x' = (alpha - x (alpha + beta)) q10`` (hh.mod's
    DERIVATIVE block), i.e. ``x' = a x + b`` with ``a = -(alpha + beta) q10``,
    ``b = alpha q10``."""
    return cnexp_linear(x, -(alpha + beta) * q10, alpha * q10, dt)


class HH(CustomMechanism):
    """Hodgkin-Huxley Na⁺/K⁺/leak channels (Arbor's ``hh``).

    Parameters: ``gnabar``, ``gkbar``, ``gl`` (S/cm²), ``el`` (mV).
    States: the gates ``m``, ``h``, ``n`` and the temperature factor ``q10``
    (set once in ``init_mechanism``, as the NMODL ``ASSIGNED`` variable).
    Writes ``ina``, ``ik`` and a non-specific leak current (mA/cm²).
    """
    name = "py_hh"
    kind = "density"
    state_vars = [("m", "", 0.0), ("h", "", 0.0), ("n", "", 0.0), ("q10", "", 1.0)]
    parameters = [("gnabar", "S/cm2", 0.12), ("gkbar", "S/cm2", 0.036),
                  ("gl", "S/cm2", 0.0003), ("el", "mV", -54.3)]
    ions = [IonInfo("na"), IonInfo("k")]

    def init_mechanism(self, pp):
        v = pp.v
        pp.q10 = q10_factor(pp.temperature)
        pp.m = steady_state(m_alpha(v), m_beta(v))
        pp.h = steady_state(h_alpha(v), h_beta(v))
        pp.n = steady_state(n_alpha(v), n_beta(v))

    def advance_state(self, pp):
        v, dt, q10 = pp.v, pp.dt, pp.q10
        pp.m = gate_step(pp.m, m_alpha(v), m_beta(v), q10, dt)
        pp.h = gate_step(pp.h, h_alpha(v), h_beta(v), q10, dt)
        pp.n = gate_step(pp.n, n_alpha(v), n_beta(v), q10, dt)

    def compute_currents(self, pp):
        v = pp.v
        n2 = pp.n * pp.n
        gk = pp.gkbar * n2 * n2
        gna = pp.gnabar * pp.m * pp.m * pp.m * pp.h
        pp.ina = gna * (v - pp.ena)
        pp.ik = gk * (v - pp.ek)
        pp.i = pp.gl * (v - pp.el)
        pp.conductance = gk + gna + pp.gl
