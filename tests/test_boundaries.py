"""Tests at the pipeline's boundaries, without a simulation where none is needed.

* the field decode of each kind and method, against golden tables
  (``tests/golden/field_decode.txt``): a change to how any field reaches
  Arbor shows in review as a diff of that file;
* the numba backend's generated module for ``models.HH``, against
  ``tests/golden/hh_numba_module.txt``;
* adding a per-CV field is one entry of the decode table: both backends then
  read it, validation knows it, nothing else changes.

``ARBOR_PYCAT_REGENERATE=1`` rewrites the golden files (then review the diff).
"""
import os
from pathlib import Path

import numpy as np
import pytest

import arbor_pycat
from arbor_pycat import IonInfo, models
from arbor_pycat.abi import rules
from arbor_pycat.spec import fields as F
from arbor_pycat.spec import make_spec

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("ARBOR_PYCAT_REGENERATE") == "1"


class PointCalcium(arbor_pycat.CustomMechanism):
    """A point mechanism writing a concentration: weight 1, not the CV weight."""
    name = "golden_point_ca"
    kind = "point"
    state_vars = [("s", "", 0.0)]
    ions = [IonInfo("ca", write_int_concentration=True)]

    def advance_state(self, pp):
        pp.cai = pp.cai + pp.dt * pp.s

    def write_ions(self, pp):
        pp.cai = pp.s


class DensityCalcium(arbor_pycat.CustomMechanism):
    """A density mechanism with a calcium current and both concentration writes."""
    name = "golden_density_ca"
    parameters = [("g", "S/cm2", 1e-3)]
    globals = [("tau", "ms", 10.0)]
    random = ["noise"]
    ions = [IonInfo("ca", write_int_concentration=True, write_ext_concentration=True)]

    def compute_currents(self, pp):
        pp.ica = pp.g * (pp.v - pp.eca)

    def advance_state(self, pp):
        pp.cao = pp.cao + pp.noise * pp.dt / pp.tau

    def write_ions(self, pp):
        pp.cai = pp.ica * pp.caq


DECODED = [models.HH, models.Pas, models.ExpSyn, models.ExpSynSTDP, models.GapJunction, models.Nernst,
           models.VClamp, models.Decay, models.OUInput, PointCalcium, DensityCalcium]
COLUMNS = ("name", "role", "index", "array", "table", "slot", "ion", "scale", "write", "weighted",
           "write_scale", "targets", "dtype")


def decode_table(cls):
    spec = make_spec(cls)
    lines = [f"## {spec.name} ({spec.kind})"]
    for method in F.METHODS:
        lines.append(f"# {method}")
        for f in spec.fields[method].values():
            lines.append("  " + " | ".join(str(value) for value in f.row()))
    return "\n".join(lines)


def _golden(name, text):
    path = GOLDEN / name
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with ARBOR_PYCAT_REGENERATE=1 and review it"
    expected = path.read_text()
    if text != expected:
        import difflib
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            "golden", "now", n=1))
        pytest.fail(f"{name} changed (if intended, regenerate with ARBOR_PYCAT_REGENERATE=1 and "
                    f"review the diff):\n{diff[:6000]}")


def test_field_decode_matches_the_golden_tables():
    text = "columns: " + " | ".join(COLUMNS) + "\n\n" + "\n\n".join(map(decode_table, DECODED)) + "\n"
    _golden("field_decode.txt", text)


def test_decode_applies_each_abi_rule():
    """The rules of abi.rules reach the decode (and nowhere else writes them)."""
    hh = make_spec(models.HH).fields["compute_currents"]
    assert hh["i"].write_scale == rules.CURRENT_SCALE["density"] == 10.0 and hh["i"].weighted
    assert hh["ina"].targets == (("vec_i", F.Index.NODE), ("current_density", F.Index.ION))
    syn = make_spec(models.ExpSyn).fields["compute_currents"]
    assert syn["i"].write_scale == rules.CURRENT_SCALE["point"] == 1.0 and syn["i"].weighted
    point = make_spec(PointCalcium).fields
    assert point["write_ions"]["cai"].write is F.Write.ACCUMULATE and not point["write_ions"]["cai"].weighted
    assert point["advance_state"]["cai"].write is F.Write.BLEND
    density = make_spec(DensityCalcium).fields
    assert density["write_ions"]["cai"].weighted and density["advance_state"]["cao"].weighted
    assert density["advance_state"]["ica"].scale == rules.ION_TOTAL_SCALE == 0.1
    assert density["advance_state"]["noise"].slot == 0 and density["advance_state"]["tau"].index is F.Index.NONE


def test_every_decode_is_a_known_combination():
    """Each field's properties form a combination both backends implement."""
    for cls in DECODED:
        spec = make_spec(cls)
        for method, table in spec.fields.items():
            for f in table.values():
                if f.write is F.Write.BUFFER:
                    assert f.index is F.Index.INSTANCE and f.targets and f.array is None, f.row()
                elif f.write in (F.Write.BLEND, F.Write.ACCUMULATE, F.Write.ASSIGN):
                    assert f.gathered and f.scale == 1.0, f.row()
                elif f.write is F.Write.INPLACE:
                    assert f.index is F.Index.INSTANCE and f.table in ("parameters", "state_vars"), f.row()
                if f.scale != 1.0:
                    assert f.write is None and f.gathered, f.row()
                if f.weighted:
                    assert f.write in (F.Write.BUFFER, F.Write.BLEND, F.Write.ACCUMULATE), f.row()


def test_generated_module_of_hh_matches_the_golden_file():
    from arbor_pycat.backends.numba import generate
    spec = make_spec(models.HH)
    messages = generate._Messages(spec)
    source, modes, _ = generate._source_for(spec, messages)
    assert modes == {"init_mechanism": "scalar", "compute_currents": "scalar", "advance_state": "scalar"}
    _golden("hh_numba_module.txt", source)


@pytest.fixture
def extra_cv_field(monkeypatch):
    """A made-up per-CV field, ``pp.thickness``, read from Arbor's diameter array:
    one entry of the decode table."""
    monkeypatch.setitem(F.CV_FIELDS, "thickness", ("diam_um", "um", "a per-CV field of the test"))
    yield "thickness"


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_one_decode_entry_adds_a_per_cv_field(extra_cv_field, backend):
    """With the entry, pp.thickness is the CV's diameter in both backends: a current
    computed from it gives the trace of the same current computed from pp.diam."""
    from pycat_cell import OneCell, simulate

    class Thick(arbor_pycat.CustomMechanism):
        name = f"thick_{backend}"

        def compute_currents(self, pp):
            pp.i = 1e-3 * (pp.thickness - 3.0)

    class Diam(arbor_pycat.CustomMechanism):
        name = f"diam_{backend}"

        def compute_currents(self, pp):
            pp.i = 1e-3 * (pp.diam - 3.0)

    assert make_spec(Thick).fields["compute_currents"]["thickness"].array == "diam_um"
    catalogue = arbor_pycat.build(Thick, Diam, backend=backend)
    report = arbor_pycat.build_report()
    for cls in (Thick, Diam):
        assert report[cls.name].backend == backend
        assert backend == "python" or report[cls.name].forms["compute_currents"] == "scalar"
    thick, _, _ = simulate(OneCell(catalogue, paint=[Thick.name], clamp=0), t_end=5)
    diam, _, _ = simulate(OneCell(catalogue, paint=[Diam.name], clamp=0), t_end=5)
    alone, _, _ = simulate(OneCell(catalogue, clamp=0), t_end=5)
    assert len(thick) == len(alone) > 10
    assert np.max(np.abs(thick - alone)) > 1.0          # 3 µA/cm² for 5 ms moves v by mV
    np.testing.assert_array_equal(thick, diam)


def test_without_the_entry_the_field_is_refused():
    class Thin(arbor_pycat.CustomMechanism):
        name = "thin"
        state_vars = [("seen", "um", 0.0)]

        def advance_state(self, pp):
            pp.seen = pp.thickness

    with pytest.raises(arbor_pycat.MechanismError, match="pp.thickness, which is not a field here"):
        make_spec(Thin)


def test_random_variables_declared_out_of_slot_order():
    """random = [("b", 1), ("a", 0)]: pp.b is Arbor's random_numbers[1] in both backends
    (the python backend once read the declaration's position instead of the slot)."""
    from pycat_cell import OneCell, simulate

    def mechanism(backend):
        class Noisy(arbor_pycat.CustomMechanism):
            name = f"noisy_slots_{backend}"
            random = [("b", 1), ("a", 0)]
            state_vars = [("s", "", 0.0)]

            def advance_state(self, pp):
                pp.s = pp.a - 3.0 * pp.b

            def compute_currents(self, pp):
                pp.i = 1e-3 * pp.s
        return Noisy

    traces = {}
    for backend in ("python", "numba"):
        cls = mechanism(backend)
        assert make_spec(cls).fields["advance_state"]["b"].slot == 1
        catalogue = arbor_pycat.build(cls, backend=backend)
        assert arbor_pycat.build_report()[cls.name].backend == backend
        traces[backend], _, _ = simulate(OneCell(catalogue, paint=[cls.name], clamp=0), t_end=5)
    alone, _, _ = simulate(OneCell(arbor_pycat.build(mechanism("none")), clamp=0), t_end=5)
    assert len(traces["python"]) > 10 and np.max(np.abs(traces["python"] - alone)) > 1e-3
    np.testing.assert_allclose(traces["numba"], traces["python"], rtol=0, atol=1e-9)
