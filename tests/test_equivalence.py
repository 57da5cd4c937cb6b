"""Each port in ``arbor_pycat.models`` against its compiled twin in Arbor.

Every comparison runs both mechanisms on the same cell (Arbor's ``hh``
painted underneath where the port is not ``hh`` itself, so that the cell
spikes) for 200 ms, and requires max |dV| < 1e-3 mV over every CV, equal
spike counts, and the shared state variables / written ion quantities equal
to 1e-6 relative. Measured with the python backend: 1e-10 mV or better.
"""
import arbor
import numpy as np
import pytest
from arbor import units as U

import arbor_pycat
from arbor_pycat import compare, models
from arbor_pycat.recipe import CableRecipe
from checks import SPIKE_TOLERANCE, V_TOLERANCE, assert_trace
from conftest import BACKENDS

DURATION = 200.0   # ms
TOLERANCE = V_TOLERANCE   # mV


def _inject_calcium(decor):
    """A source of diffusive calcium for ``decay``: Arbor's ``inject``, driven by the events."""
    decor.place('(location 0 0.25)', arbor.synapse("inject/x=ca", alpha=200.0), "syn")


# name -> (port, compare() options). Weights in µS (synapses) / mM (inject).
CASES = {
    "hh": (models.HH, {}),
    "hh_warm": (models.HH, dict(temperature=16.3, stimulus=0.4)),   # q10 = 3
    "pas": (models.Pas, dict(parameters={"g": 1e-4, "e": -65.0})),
    "expsyn": (models.ExpSyn, dict(stimulus=0, weight=0.02)),
    "exp2syn": (models.Exp2Syn, dict(stimulus=0, weight=0.02, parameters={"tau1": 0.4, "tau2": 3.0})),
    "expsyn_stdp": (models.ExpSynSTDP, dict(stimulus=0, weight=0.02)),
    "nernst": (models.Nernst, dict(ion="na")),
    "nernst_warm": (models.Nernst, dict(ion="k", temperature=16.3, stimulus=0.4)),
    "decay": (models.Decay, dict(ion="ca", weight=1.0, event_interval=7.0, decorate=_inject_calcium,
                                parameters={"tau": 2.0})),
    "gj": (models.GapJunction, dict(parameters={"g": 0.005})),
    "v_limit": (models.VLimit, dict(parameters={"v_high": 10.0})),
    "v_clamp": (models.VClamp, dict(parameters={"v0": -60.0})),
    "ou_input": (models.OUInput, dict(stimulus=0, weight=1.0, parameters={"mu": 0.3, "sigma": 0.1})),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cvs", [1, 16])
@pytest.mark.parametrize("case", sorted(CASES))
def test_port_matches_compiled_twin(case, cvs, backend):
    mechanism, options = CASES[case]
    options = dict(options)
    if case == "v_clamp" and cvs > 1:
        # Clamp the far end only (whole CVs: see Comparison notes on partial CVs).
        options.update(region="(cable 0 0.9375 1)", stimulus=0.3)
    result = compare(mechanism, cvs=cvs, duration=DURATION, backend=backend, **options)
    summary = str(result)
    assert result.v_python.shape == result.v_reference.shape
    assert_trace(result.v_python, columns=cvs * result.cells, differs_from=-65.0, by=1.0, label="v")
    assert result.time[-1] > DURATION - 1.0, summary
    assert result.max_dv < TOLERANCE, summary
    assert result.spike_counts[0] == result.spike_counts[1], summary
    if not (case == "v_clamp" and cvs == 1):   # a clamped single CV cannot spike
        assert result.spike_counts[0] >= 1, summary
    if case not in ("v_clamp",):
        assert result.spike_counts[0] >= 2, summary
    assert result.max_spike_time_difference < SPIKE_TOLERANCE, summary
    assert result.agrees(), summary
    # States the twins share must really be compared.
    expected_states = {"hh": {"m", "h", "n", "q10"}, "hh_warm": {"m", "h", "n", "q10"}, "expsyn": {"g"}, "exp2syn": {"A", "B", "factor"},
                       "expsyn_stdp": {"g", "apre", "apost", "weight_plastic"},
                       "ou_input": {"I_ou", "active", "alpha", "beta"}}.get(case, set())
    assert expected_states <= set(result.state_differences), summary
    if case == "gj":   # the unstimulated cell fires through the junction only
        assert len(result.spikes_reference[1]) >= 2, summary
    expected_ions = {"nernst": {"ena"}, "nernst_warm": {"ek"}, "decay": {"cad"}}.get(case, set())
    assert expected_ions <= set(result.ion_differences), summary


@pytest.mark.parametrize("backend", BACKENDS)
def test_decay_is_driven(backend):
    """The decay comparison is not trivial: the concentration rises and decays."""
    mechanism, options = CASES["decay"]
    result = compare(mechanism, cvs=4, duration=30.0, backend=backend, **options)
    cad = result.ions_reference["cad"]
    assert cad.max() > 10.0 and cad[-1].max() < cad.max() / 2
    assert result.relative_differences()["cad"] < 1e-9, str(result)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stdp_weight_changes_match(backend):
    """post_event runs (apost moves) and the plastic weight follows the twin's exactly."""
    result = compare(models.ExpSynSTDP, cvs=4, duration=DURATION, backend=backend,
                     stimulus=0.05, weight=0.02, event_interval=7.0,
                     parameters={"Apre": 0.004, "Apost": -0.005, "taupost": 15.0})
    summary = str(result)
    assert result.spike_counts[0] >= 5, summary
    w_ref = result.states_reference["weight_plastic"]
    w_py = result.states_python["weight_plastic"]
    apost = result.states_reference["apost"]
    assert np.abs(apost).max() > 1e-3, "no post-synaptic event reached the synapse"
    assert np.ptp(w_ref) > 1e-3, "the plastic weight did not change"
    np.testing.assert_allclose(w_py, w_ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.states_python["apost"], apost, rtol=0, atol=1e-12)
    assert result.max_dv < TOLERANCE, summary


class Draws(arbor_pycat.CustomMechanism):
    """Keeps this step's draws of two random variables as states (to probe them)."""
    name = "test_draws"
    state_vars = [("first", "", 0.0), ("second", "", 0.0)]
    random = [("w", 0), ("u", 1)]

    def advance_state(self, pp):
        pp.first = pp.w
        pp.second = pp.u


class _DrawsCell(CableRecipe):
    def __init__(self, catalogue, cvs):
        super().__init__(catalogue)
        self.cvs = cvs

    def probes(self, gid):
        return [arbor.cable_probe_density_state_cell("test_draws", "first", "first"),
                arbor.cable_probe_density_state_cell("test_draws", "second", "second")]

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, 1), arbor.mpoint(100, 0, 0, 1), tag=1)
        decor = arbor.decor().paint("(all)", arbor.density("pas")).paint("(all)", arbor.density("test_draws"))
        return arbor.cable_cell(tree, decor, arbor.label_dict(),
                                discretization=arbor.cv_policy_fixed_per_branch(self.cvs))


def _draws(catalogue, seed, cvs=32, steps=2000, dt=0.025):
    recipe = _DrawsCell(catalogue, cvs)
    sim = arbor.simulation(recipe, arbor.context(threads=1), seed=seed)
    handles = [sim.sample((0, tag), arbor.regular_schedule(dt * U.ms)) for tag in ("first", "second")]
    sim.run(steps * dt * U.ms, dt * U.ms)
    out = []
    for handle in handles:
        data, _ = sim.samples(handle)[0]
        out.append(data[1:, 1:])    # drop t=0 (before the first draw) and the time column
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_variable_statistics(backend):
    """Per-step draws are standard normal, fresh every step, independent across instances and variables."""
    catalogue = arbor_pycat.build(Draws, backend=backend)
    first, second = _draws(catalogue, seed=11)
    n = first.size
    assert first.shape[1] == 32 and n > 50_000
    bound = 5.0 / np.sqrt(n)
    for x in (first, second):
        assert abs(x.mean()) < bound
        assert abs(x.std() - 1.0) < 5.0 * np.sqrt(0.5 / n)
        # fresh each step: no correlation between consecutive steps
        assert abs(np.corrcoef(x[1:].ravel(), x[:-1].ravel())[0, 1]) < bound * 1.5
        # independent across instances (neighbouring CVs)
        assert abs(np.corrcoef(x[:, 1:].ravel(), x[:, :-1].ravel())[0, 1]) < bound * 1.5
        assert abs(((x ** 4).mean()) - 3.0) < 0.1   # normal kurtosis
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < bound * 1.5
    # The seed decides the stream: the same seed repeats it, another one does not.
    again, _ = _draws(catalogue, seed=11)
    other, _ = _draws(catalogue, seed=12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["hh", "ou_input", "expsyn_stdp"])
def test_threads_give_identical_traces(case, backend):
    """threads=1 and threads=2 run the same 4 (different) cells to identical traces."""
    mechanism, options = CASES[case]
    options = dict(options)
    if case == "expsyn_stdp":
        options["stimulus"] = 0.05
    runs = {threads: compare(mechanism, cvs=4, cells=4, duration=60.0, threads=threads,
                             backend=backend, **options)
            for threads in (1, 2)}
    for result in runs.values():
        assert result.max_dv < TOLERANCE and result.agrees(), str(result)
    one, two = runs[1], runs[2]
    np.testing.assert_array_equal(one.v_python, two.v_python)
    assert one.spikes_python == two.spikes_python
    for name in one.states_python:
        np.testing.assert_array_equal(one.states_python[name], two.states_python[name])
    # the cells differ (different stimuli), so each thread had its own work
    v = one.v_python
    assert not np.array_equal(v[:, 0], v[:, 3 * 4])
    assert one.spike_counts[1] >= 4
