"""Parts of the user contract (README, API) that no other test reaches.

* the README's example of each mechanism kind agrees with its Arbor twin to
  ``checks.V_TOLERANCE``, on both backends (as the README says);
* ``sim.reset()`` reinitialises: the run after it repeats the first exactly;
* ``IonInfo(verify_valence=True, expected_valence=...)`` reaches Arbor, which
  refuses a wrong valence and accepts the right one;
* Arbor's own arrays (``pp.node_index``, ``pp.weight``,
  ``pp.raw``) cannot be written through with the python backend;
* values that are JAX arrays are accepted (skipped when jax is not installed).
"""
import re
from pathlib import Path

import arbor
import numpy as np
import pytest
from arbor import units as U

import arbor_pycat as P
import arbor_pycat.models  # noqa: F401  (P.models)
from checks import Cable, SPIKE_TOLERANCE, V_TOLERANCE, assert_same_trace, assert_trace, run_cable
from conftest import BACKENDS
from pycat_cell import check_snippet, import_file

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def kind_examples(tmp_path_factory):
    """The classes of the README's "Mechanism kinds" section, imported from a file
    (arbor_pycat reads the methods' source)."""
    text = README.read_text()
    section = text[text.index("## Mechanism kinds"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    classes = [code for code in blocks if "@arbor_pycat.register" in code]
    assert len(classes) >= 4, "the section lost its examples"
    header = "import numpy as np\nimport arbor_pycat\nfrom arbor_pycat import CustomMechanism, IonInfo, cnexp\n"
    path = tmp_path_factory.mktemp("readme") / "readme_kinds.py"
    body = [code[code.index("@arbor_pycat.register"):] for code in classes]
    path.write_text(header + "\n\n".join(body))
    return import_file(path, "readme_kinds")


# README class -> (twin, compare() options)
KIND_CASES = {
    "ExpSyn": ("expsyn", dict(stimulus=0, weight=0.02)),
    "NernstNa": ("nernst", dict(ion="na")),
    "Gap": ("gj", dict(parameters={"g": 0.005})),
    "Clamp": ("v_clamp", dict(parameters={"v0": -60.0})),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("example", sorted(KIND_CASES))
def test_readme_kind_examples_match_their_twins(kind_examples, example, backend):
    twin, options = KIND_CASES[example]
    result = P.compare(getattr(kind_examples, example), twin, cvs=4, duration=100.0, backend=backend,
                       **options)
    summary = str(result)
    assert result.backend == backend, summary
    assert_trace(result.v_python, columns=4 * result.cells, differs_from=-65.0, by=4.0)
    assert result.max_dv < V_TOLERANCE, summary
    assert result.spike_counts[0] == result.spike_counts[1], summary
    if example != "Clamp":
        assert result.spike_counts[0] >= 2, summary
        assert result.max_spike_time_difference < SPIKE_TOLERANCE, summary
    if example == "NernstNa":
        assert "ena" in result.ion_differences and result.ion_differences["ena"] < 1e-12, summary


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_repeats_the_first_run(backend):
    """sim.reset() runs init_mechanism again: states, currents and events start afresh."""
    catalogue = P.build(P.models.HH, P.models.ExpSyn, backend=backend)
    recipe = Cable(catalogue, paint=[("(all)", arbor.density("py_hh"))],
                   place=[("(location 0 0.5)", arbor.synapse("py_expsyn"))],
                   events=[("syn0", 0.05, [3.0, 17.0])], cvs=4, clamp=0.0)
    sim = arbor.simulation(recipe, arbor.context(threads=1))
    sim.record(arbor.spike_recording.local)
    handle = sim.sample((0, "v"), arbor.regular_schedule(0.1 * U.ms))
    sim.run(30 * U.ms, 0.025 * U.ms)
    first = sim.samples(handle)[0][0][:, 1:].copy()
    spikes = [s[1] for s in sim.spikes()]
    sim.reset()
    sim.clear_samplers()
    sim.run(30 * U.ms, 0.025 * U.ms)
    again = sim.samples(handle)[0][0][:, 1:]
    assert_trace(first, length=300, columns=4, differs_from=-65.0, by=50.0, label="first run")
    assert len(spikes) >= 2
    assert_same_trace(again, first, atol=0.0, label="after reset")
    assert [s[1] for s in sim.spikes()] == spikes


class _Calcium(P.CustomMechanism):
    """Reads cai and the valence of ca; Arbor checks the valence when asked."""
    name = "valence_check"
    state_vars = [("seen", "", 0.0)]
    ions = [P.IonInfo("ca", verify_valence=True, expected_valence=2)]

    def advance_state(self, pp):
        pp.seen = pp.cai * 0.0 + pp.caq


class _WrongValence(_Calcium):
    name = "valence_wrong"
    ions = [P.IonInfo("ca", verify_valence=True, expected_valence=1)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_verify_valence_reaches_arbor(backend):
    catalogue = P.build(_Calcium, _WrongValence, backend=backend)
    probes = [arbor.cable_probe_density_state("(location 0 0.5)", "valence_check", "seen", "seen")]
    good = Cable(catalogue, paint=[("(all)", arbor.density("valence_check"))], cvs=2, clamp=0.0,
                 probes=probes)
    sim = arbor.simulation(good, arbor.context(threads=1))
    handle = sim.sample((0, "seen"), arbor.regular_schedule(1 * U.ms))
    sim.run(3 * U.ms, 0.025 * U.ms)
    seen = sim.samples(handle)[0][0][:, 1]
    assert_trace(seen[1:], near=2.0, atol=0.0, label="valence seen")
    bad = Cable(catalogue, paint=[("(all)", arbor.density("valence_wrong"))], cvs=2, clamp=0.0)
    with pytest.raises(Exception, match="valence"):
        arbor.simulation(bad, arbor.context(threads=1)).run(1 * U.ms, 0.025 * U.ms)


def test_arbors_own_arrays_are_read_only_with_the_python_backend():
    """Writes into pp.node_index, pp.weight or pp.raw's arrays fail (sim.run()
    raises, naming the mechanism) instead of changing Arbor's memory."""
    check_snippet("""
import arbor
import numpy as np
import arbor_pycat
from arbor_pycat import CustomMechanism
from pycat_cell import OneCell, failure_text, simulate


TARGET = ["node_index"]     # changed between runs: the analysis cannot resolve TARGET[0]


class Expert(CustomMechanism):
    name = "expert_writer"
    kind = "point"
    state_vars = [("s", "", 0.0)]

    def advance_state(self, pp):
        assert len(pp.node_index) == len(pp.weight) == len(pp.s) >= 1
        if TARGET[0] == "raw":
            pp.raw.node_index[0] = 3
        else:
            getattr(pp, TARGET[0])[0] = 3

    def compute_currents(self, pp):
        pp.i = 0.0 * pp.v
        pp.conductance = 0.0


catalogue = arbor_pycat.build(Expert, backend="python")
for target in ("node_index", "weight", "raw"):
    TARGET[0] = target
    text = failure_text(OneCell(catalogue, place=["expert_writer"]))
    assert "expert_writer" in text and "advance_state" in text and "read-only" in text, (target, text)
    print("READ-ONLY", target)
""")


def test_jax_arrays_are_accepted():
    jnp = pytest.importorskip("jax.numpy")
    check_snippet("""
import numpy as np
import jax.numpy as jnp
import arbor_pycat
from arbor_pycat import CustomMechanism
from pycat_cell import OneCell, simulate


class JaxLeak(CustomMechanism):
    name = "jax_leak"
    parameters = [("g", "S/cm2", 1e-3), ("e", "mV", -50.0)]
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = jnp.asarray(pp.m) + jnp.exp(jnp.zeros(pp.width)) * pp.dt

    def compute_currents(self, pp):
        pp.i = jnp.asarray(pp.g) * (jnp.asarray(pp.v) - jnp.asarray(pp.e))
        pp.conductance = jnp.asarray(pp.g)


class NumpyLeak(JaxLeak):
    name = "numpy_leak"

    def advance_state(self, pp):
        pp.m = pp.m + pp.dt

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g


catalogue = arbor_pycat.build(JaxLeak, NumpyLeak, backend="python")
traces = {name: simulate(OneCell(catalogue, paint=[name], clamp=0.0), t_end=5.0)[0]
          for name in ("jax_leak", "numpy_leak")}
assert traces["numpy_leak"].size == 50 and abs(traces["numpy_leak"][-1] + 50.0) < 0.2
# jax computes in float32 unless told otherwise: agreement to float32 rounding
assert np.max(np.abs(traces["jax_leak"] - traces["numpy_leak"])) < 1e-4
print("JAX OK")
""")
