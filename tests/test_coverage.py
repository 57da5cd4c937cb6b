"""The ABI rules a port must get right on cells where mechanisms cover part of a CV.

Each case runs the Python port and its compiled twin on the same cable and
requires the voltage (and the concentrations, reversal potentials) on every
CV to agree to ``checks.V_TOLERANCE``, on both backends. These cases catch
what a whole-CV cell lets through: a current or conductance not weighted by
the fraction of the CV the mechanism covers, a concentration written in
``write_ions`` blended instead of accumulated, a reversal potential computed
only at initialisation while the concentrations move.
"""
import arbor
import numpy as np
import pytest

import arbor_pycat as P
import arbor_pycat.models  # noqa: F401  (P.models)
import arbor_pycat.models.allen  # noqa: F401
from checks import Cable, SPIKE_TOLERANCE, V_TOLERANCE, assert_same_trace, assert_trace, run_cable
from conftest import BACKENDS

# 16 CVs on 200 µm: a region ending at 0.3 (60 µm) covers 4.8 CVs, so CV 4 is
# 80 % covered; (cable 0 0.33 0.5) starts and ends inside CVs.
PARTIAL = "(cable 0 0 0.3)"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("region", [PARTIAL, "(cable 0 0.33 0.5)"])
def test_hh_on_part_of_the_cable(backend, region):
    """Currents and conductance weighted by CV coverage (HH on part of a cable)."""
    result = P.compare(P.models.HH, cvs=16, duration=60.0, region=region, backend=backend)
    summary = str(result)
    assert result.backend == backend, summary
    assert_trace(result.v_python, columns=16, differs_from=-65.0, by=50.0, label="v")
    assert result.max_dv < V_TOLERANCE, summary
    assert result.spike_counts[0] == result.spike_counts[1] >= 1, summary
    assert result.max_spike_time_difference < SPIKE_TOLERANCE, summary


@pytest.mark.parametrize("backend", BACKENDS)
def test_pas_on_part_of_a_single_cv(backend):
    """A leak on 30 % of the only CV: its conductance counts 30 %."""
    result = P.compare(P.models.Pas, cvs=1, duration=60.0, region=PARTIAL, backend=backend,
                       parameters={"g": 2e-3, "e": -40.0}, stimulus=0.0, base=["pas"])
    v = assert_trace(result.v_python, columns=1, differs_from=-65.0, by=5.0, label="v")
    # Arbor's pas (g = 1e-3 S/cm², e = -70 mV) on the whole CV and the port on
    # 30 %: the CV settles at the conductance-weighted mean of the two
    # reversal potentials, (0.3 * 2e-3 * -40 + 1e-3 * -70) / (0.3 * 2e-3 + 1e-3)
    # = -58.75 mV (-50 mV if the port counted for the whole CV).
    assert abs(v[-1, 0] + 58.75) < 1e-6, v[-1, 0]
    assert result.max_dv < V_TOLERANCE, str(result)


def _calcium_cable(catalogue, region, cad, nernst="nernst/x=ca", cvs=8):
    """hh everywhere, Arbor's allen Ca_HVA and the calcium accumulator ``cad``
    on ``region``, ca's reversal potential from ``nernst``. Arbor's allen
    catalogue is there under the prefix ``allen_``."""
    paint = [("(all)", arbor.density("hh")),
             (region, arbor.density("allen_Ca_HVA", gbar=5e-4)),
             (region, arbor.density(cad, gamma=0.05, decay=40.0))]
    return Cable(catalogue, paint=paint, ions={"ca": nernst}, ion="ca", cvs=cvs, clamp=0.3,
                 extra=[(arbor.allen_catalogue(), "allen_")])


@pytest.fixture(scope="module")
def allen_reference():
    """The compiled run: Arbor's allen CaDynamics and Ca_HVA, Arbor's nernst."""
    return {region: run_cable(_calcium_cable(None, region, "allen_CaDynamics"), duration=60.0)
            for region in (PARTIAL, "(all)")}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("region", [PARTIAL, "(all)"])
def test_concentration_written_in_write_ions_on_a_partly_covered_cv(backend, region, allen_reference):
    """CaDynamics writes cai in write_ions: Arbor resets cai where writers sit and
    sums their coverage-weighted contributions (accumulate, not blend)."""
    reference = allen_reference[region]
    catalogue = P.build(P.models.allen.CaDynamics, backend=backend)
    ported = run_cable(_calcium_cable(catalogue, region, "CaDynamics"), duration=60.0)
    # cai is sampled on the CVs the region touches (the last one partly).
    cai = assert_trace(reference["xi"], length=600, label="cai (reference)")
    assert cai.max() > 10 * cai[0].max() > 0, "calcium did not accumulate"
    assert_same_trace(ported["xi"], reference["xi"], atol=1e-12, label="cai")
    assert_same_trace(ported["v"], reference["v"], atol=V_TOLERANCE, label="v")
    assert len(reference["spikes"]) >= 2 and len(ported["spikes"]) == len(reference["spikes"])


class NernstAtInit(P.models.Nernst):
    """A wrong port: the reversal potential computed once, at initialisation."""
    name = "nernst_at_init"

    def init_mechanism(self, pp):
        pp.coeff = 8.31446261815324 * (pp.temperature + 273.15) / (pp.xq * 96485.3321233100184) * 1000.0
        pp.ex = pp.coeff * np.log(pp.xo / pp.xi)

    def compute_currents(self, pp):
        pass


@pytest.fixture(scope="module")
def moving_calcium():
    """Arbor's nernst on ca while Ca_HVA and CaDynamics (compiled) move cai."""
    return run_cable(_calcium_cable(None, "(all)", "allen_CaDynamics"), duration=60.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("port", [P.models.Nernst, NernstAtInit])
def test_reversal_potential_follows_moving_concentrations(backend, port, moving_calcium):
    """The port of nernst recomputes eca every step as cai moves; a port that
    computes it at initialisation only is caught."""
    reference = moving_calcium
    eca = assert_trace(reference["ex"], length=600, columns=8, label="eca (reference)")
    assert np.ptp(eca) > 20.0, "eca did not move"    # cai grows ~40-fold: eca falls by ~50 mV
    catalogue = P.build(port, backend=backend)
    ported = run_cable(_calcium_cable(catalogue, "(all)", "allen_CaDynamics",
                                      nernst=f"{port.name}/x=ca"), duration=60.0)
    assert_trace(ported["ex"], length=600, columns=8, label="eca (port)")
    if port is NernstAtInit:
        assert np.max(np.abs(ported["ex"] - eca)) > 10.0
        return
    assert_same_trace(ported["ex"], eca, atol=1e-10, label="eca")
    assert_same_trace(ported["xi"], reference["xi"], atol=1e-12, label="cai")
    assert_same_trace(ported["v"], reference["v"], atol=V_TOLERANCE, label="v")
