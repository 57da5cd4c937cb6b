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
from arbor import units as U

import arbor_pycat as P
import arbor_pycat.models  # noqa: F401  (P.models)
import arbor_pycat.models.allen  # noqa: F401
import arbor_pycat.models.default  # noqa: F401
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


class _PasArrayForm(P.models.Pas):
    """Arbor's pas with a while loop: the numba backend compiles it in the array form."""
    name = "pas_array_form"

    def compute_currents(self, pp):
        g = pp.g
        k = 0
        while k < 1:        # not element-wise
            k += 1
        pp.i = g * (pp.v - pp.e)
        pp.conductance = g


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("port", [P.models.Pas, _PasArrayForm])
def test_pas_on_part_of_a_single_cv(backend, port):
    """A leak on 30 % of the only CV: its conductance counts 30 %."""
    result = P.compare(port, reference="pas", catalogue=arbor.default_catalogue(), cvs=1, duration=60.0,
                       region=PARTIAL, backend=backend, parameters={"g": 2e-3, "e": -40.0}, stimulus=0.0,
                       base=["pas"])
    if backend == "numba":      # both compiled forms are checked
        form = P.build_report()["pas_pycat"].forms["compute_currents"]
        assert form == ("array" if port is _PasArrayForm else "scalar"), form
    v = assert_trace(result.v_python, columns=1, differs_from=-65.0, by=5.0, label="v")
    # Arbor's pas (g = 1e-3 S/cm², e = -70 mV) on the whole CV and the port on
    # 30 %: the CV settles at the conductance-weighted mean of the two
    # reversal potentials, (0.3 * 2e-3 * -40 + 1e-3 * -70) / (0.3 * 2e-3 + 1e-3)
    # = -58.75 mV (-50 mV if the port counted for the whole CV).
    assert abs(v[-1, 0] + 58.75) < 1e-6, v[-1, 0]
    assert result.max_dv < V_TOLERANCE, str(result)


# CaDynamics on two pieces of the cable, Ca_HVA everywhere: the index of the
# ion's CVs has a gap, and the first piece ends inside a CV.
SCATTERED = "(join (cable 0 0 0.3) (cable 0 0.55 0.8))"


def _calcium_cable(catalogue, region, cad, nernst="nernst/x=ca", cvs=8):
    """hh everywhere, Arbor's allen Ca_HVA and the calcium accumulator ``cad``
    on ``region`` (Ca_HVA everywhere for ``SCATTERED``), ca's reversal
    potential from ``nernst``. Arbor's allen catalogue is there under the
    prefix ``allen_``."""
    paint = [("(all)", arbor.density("hh")),
             ("(all)" if region == SCATTERED else region, arbor.density("allen_Ca_HVA", gbar=5e-4)),
             (region, arbor.density(cad, gamma=0.05, decay=40.0))]
    return Cable(catalogue, paint=paint, ions={"ca": nernst}, ion="ca", cvs=cvs, clamp=0.3,
                 extra=[(arbor.allen_catalogue(), "allen_")])


@pytest.fixture(scope="module")
def allen_reference():
    """The compiled run: Arbor's allen CaDynamics and Ca_HVA, Arbor's nernst."""
    return {region: run_cable(_calcium_cable(None, region, "allen_CaDynamics"), duration=60.0)
            for region in (PARTIAL, "(all)", SCATTERED)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("region", [PARTIAL, "(all)", SCATTERED])
def test_concentration_written_in_write_ions_on_a_partly_covered_cv(backend, region, allen_reference):
    """CaDynamics writes cai in write_ions: Arbor resets cai where writers sit and
    sums their coverage-weighted contributions (accumulate, not blend)."""
    reference = allen_reference[region]
    catalogue = P.build(P.models.allen.CaDynamics, backend=backend)
    ported = run_cable(_calcium_cable(catalogue, region, "CaDynamics"), duration=60.0)
    # cai is sampled on the CVs the region touches (the last one partly).
    cai = assert_trace(reference["xi"], length=600, columns=8 if region == SCATTERED else None,
                       label="cai (reference)")
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
    assert np.ptp(eca) > 20.0, "eca did not move"    # cai grows ~47-fold: eca falls by 46 mV
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_point_mechanism_concentration_written_with_weight_one(backend):
    """inject (a point mechanism) adds to cad in compute_currents with weight 1, as modcc does."""
    def decorate(decor):
        decor.paint("(all)", arbor.density("decay/x=ca", tau=5.0))
    result = P.compare(P.models.default.Inject, reference="inject", catalogue=arbor.default_catalogue(),
                       ion="ca", weight=1.0, decorate=decorate, cvs=4, duration=40.0, backend=backend,
                       event_interval=7.0)
    cad = assert_trace(result.ions_reference["cad"], differs_from=0.0, by=10.0, label="cad")
    assert_same_trace(result.ions_python["cad"], cad, atol=1e-10, label="cad")
    assert result.max_dv < V_TOLERANCE, str(result)


# A nonlinear current, I = gl x + a x² + b x³ with x = v - el, and no
# conductance: arbor_pycat computes it as (I(v + DV) - I(v)) / DV, DV = 1e-3 mV,
# which is gl + a (2x + DV) + b (3x² + 3x DV + DV²) exactly (to rounding). The
# variants assign that forward difference, the analytic derivative, the
# difference with -DV and with 10 DV.
NL_GL, NL_A, NL_B, NL_EL = 1e-3, 2e-4, 3e-6, -65.0
NL_DV = 1e-3


class _Nonlinear(P.CustomMechanism):
    name = "nl_numeric"

    def compute_currents(self, pp):
        x = pp.v - NL_EL
        pp.i = NL_GL * x + NL_A * x * x + NL_B * x * x * x


class _NonlinearForward(P.CustomMechanism):
    """The difference quotient (I(v + STEP) - I(v)) / STEP, assigned as the conductance."""
    name = "nl_forward"
    STEP = NL_DV

    def compute_currents(self, pp):
        x = pp.v - NL_EL
        pp.i = NL_GL * x + NL_A * x * x + NL_B * x * x * x
        h = self.STEP
        pp.conductance = NL_GL + NL_A * (2 * x + h) + NL_B * (3 * x * x + 3 * x * h + h * h)


class _NonlinearBackward(_NonlinearForward):
    name = "nl_backward"
    STEP = -NL_DV


class _NonlinearWide(_NonlinearForward):
    name = "nl_wide"
    STEP = 10 * NL_DV


class _NonlinearExact(P.CustomMechanism):
    name = "nl_exact"

    def compute_currents(self, pp):
        x = pp.v - NL_EL
        pp.i = NL_GL * x + NL_A * x * x + NL_B * x * x * x
        pp.conductance = NL_GL + 2 * NL_A * x + 3 * NL_B * x * x


class _NonlinearNone(P.CustomMechanism):
    name = "nl_none"

    def compute_currents(self, pp):
        x = pp.v - NL_EL
        pp.i = NL_GL * x + NL_A * x * x + NL_B * x * x * x
        pp.conductance = 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_numeric_conductance_of_a_nonlinear_current(backend):
    """The numeric conductance is the forward difference at v + 1e-3 mV: on a
    cubic current it matches that difference in closed form to rounding (measured:
    9e-13 mV), and differs measurably from the analytic derivative (3e-5 mV),
    the backward difference (6e-5 mV), a ten times wider step (2.7e-4 mV) and no
    conductance (0.4 mV) over 30 ms."""
    classes = [_Nonlinear, _NonlinearForward, _NonlinearBackward, _NonlinearWide, _NonlinearExact,
               _NonlinearNone]
    catalogue = P.build(*classes, backend=backend)
    v = {cls.name: run_cable(Cable(catalogue, paint=[("(all)", arbor.density(cls.name))], cvs=4, clamp=0.3),
                             duration=30.0)["v"] for cls in classes}
    numeric = assert_trace(v["nl_numeric"], length=300, columns=4, differs_from=-65.0, by=10.0)
    assert_same_trace(numeric, v["nl_forward"], atol=1e-10, label="numeric vs forward difference")
    for name, low, high in (("nl_exact", 1e-5, 1e-4), ("nl_backward", 3e-5, 2e-4), ("nl_wide", 1e-4, 1e-3),
                            ("nl_none", 0.1, 10.0)):
        off = float(np.max(np.abs(numeric - v[name])))
        assert low < off < high, (name, off)


@pytest.mark.parametrize("backend", BACKENDS)
def test_synapses_on_an_index_with_repeats_and_gaps(backend):
    """Four synapses on CVs 0, 1, 1, 3: node_index is not a range although its
    ends are 3 apart (a range test that looks at the ends only is caught)."""
    sites = ["(location 0 0.125)", "(location 0 0.375)", "(location 0 0.4)", "(location 0 0.875)"]
    events = [(f"syn{k}", 0.01 * (k + 1), [2.0 + 3.0 * k, 20.0 + k]) for k in range(4)]

    def run(catalogue, name):
        paint = [("(all)", arbor.density("hh"))]
        place = [(site, arbor.synapse(name, tau=1.0 + k)) for k, site in enumerate(sites)]
        return run_cable(Cable(catalogue, paint=paint, place=place, events=events, cvs=4, clamp=0.0),
                         duration=40.0)

    reference = run(None, "expsyn")
    ported = run(P.build(P.models.ExpSyn, backend=backend), P.models.ExpSyn.name)
    v = assert_trace(reference["v"], length=400, columns=4, differs_from=-65.0, by=1.0)
    assert len(reference["spikes"]) >= 1
    assert_same_trace(ported["v"], v, atol=V_TOLERANCE, label="v")
    assert ported["spikes"] == pytest.approx(reference["spikes"], abs=SPIKE_TOLERANCE)


class _Clock(P.CustomMechanism):
    """Sums the time steps it is given."""
    name = "clock"
    state_vars = [("t", "ms", 0.0)]

    def advance_state(self, pp):
        pp.t = pp.t + pp.dt


@pytest.mark.parametrize("backend", BACKENDS)
def test_dt_is_read_at_every_step(backend):
    """Arbor's dt changes between runs and at the end of a run: the mechanism
    sees the step Arbor takes each time (its sum of dt is the simulated time)."""
    catalogue = P.build(_Clock, backend=backend)
    probes = [arbor.cable_probe_density_state("(location 0 0.5)", "clock", "t", "clock_t")]
    recipe = Cable(catalogue, paint=[("(all)", arbor.density("clock"))], cvs=2, clamp=0.0, probes=probes)
    sim = arbor.simulation(recipe, arbor.context(threads=1))
    handle = sim.sample((0, "clock_t"), arbor.regular_schedule(0.01 * U.ms))
    sim.run(5.0 * U.ms, 0.025 * U.ms)
    sim.run(7.0 * U.ms, 0.1 * U.ms)     # another dt
    sim.run(7.33 * U.ms, 0.1 * U.ms)    # ends with a step of 0.03 ms
    samples = sim.samples(handle)[0][0]
    time, clock = samples[:, 0], samples[:, 1]
    assert_trace(clock, differs_from=0.0, by=7.0, label="clock")
    assert time[-1] > 7.2, time[-1]
    np.testing.assert_allclose(clock, time, rtol=0, atol=1e-9)
