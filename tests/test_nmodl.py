"""NMODL import: the .mod files of Arbor's catalogues against their compiled twins.

Reads the .mod files from ``../shared/nmodl/arbor`` beside the repository (or
under ``$ARBOR_PYCAT_SHARED_DIR``); skips when they are absent. Each catalogue is
built once per backend (all its mechanisms together) and simulated in cells
that exercise every mechanism: spiking channels with moving calcium,
synapses receiving events, a gap junction between two cells, reversal
potentials, voltage processes. The same recipe runs with Arbor's compiled
catalogue and with the imported one (same mechanism names).
"""
import os
import re
from pathlib import Path

import arbor
import numpy as np
import pytest
from arbor import units as U

import arbor_pycat
from arbor_pycat import nmodl
from arbor_pycat.recipe import CableRecipe



def _shared(*parts):
    """``shared/...`` beside the repository (or beside a folder above it), or $ARBOR_PYCAT_SHARED_DIR."""
    if os.environ.get("ARBOR_PYCAT_SHARED_DIR"):
        return Path(os.environ["ARBOR_PYCAT_SHARED_DIR"]).joinpath(*parts)
    root = Path(__file__).resolve().parents[1]
    for folder in [root, *root.parents][:3]:
        candidate = folder.parent / "shared" / Path(*parts)
        if candidate.exists():
            return candidate
    return root.parent / "shared" / Path(*parts)


NMODL = _shared("nmodl", "arbor")
needs_mod_files = pytest.mark.skipif(not (NMODL / "bbp").is_dir(), reason="Arbor's .mod files not found")
ALL_MOD = sorted(NMODL.glob("*/*.mod")) if NMODL.is_dir() else []


@needs_mod_files
def test_every_mod_file_imports():
    assert len(ALL_MOD) == 48
    for path in ALL_MOD:
        source = nmodl.to_python(path)
        compile(source, str(path), "exec")
        cls = nmodl.load(path)
        assert cls.name == path.stem        # Arbor's files are named after their mechanisms
        assert issubclass(cls, arbor_pycat.CustomMechanism)
        assert f"from {path.name}" in source


class Cells(CableRecipe):
    """Cells built by functions ``make(decor) -> (tree, decor)``; probes v at every probe label."""

    def __init__(self, catalogue, builders, probes, events=None, gap_pairs=(), ions=None, seed=0):
        props = arbor.neuron_cable_properties()
        props.catalogue = catalogue
        for ion, kw in (ions or {}).items():
            props.set_ion(ion, **kw)
        super().__init__(properties=props)
        self.builders, self.the_probes, self.events = builders, probes, events or {}
        self.gap_pairs = gap_pairs

    def num_cells(self):
        return len(self.builders)

    def make_cell(self, gid):
        tree, decor, labels = self.builders[gid]()
        return arbor.cable_cell(tree, decor, labels, discretization=arbor.cv_policy_max_extent(20 * U.um))

    def probes(self, gid):
        return self.the_probes.get(gid, [])

    def event_generators(self, gid):
        return [arbor.event_generator(target, weight, arbor.explicit_schedule([t * U.ms for t in times]))
                for target, weight, times in self.events.get(gid, [])]

    def gap_junctions_on(self, gid):
        out = []
        for a, b, g in self.gap_pairs:
            if gid in (a, b):
                out.append(arbor.gap_junction_connection((b if gid == a else a, "gj"), "gj", g))
        return out


def _ball_and_stick():
    tree = arbor.segment_tree()
    s = tree.append(arbor.mnpos, arbor.mpoint(-10, 0, 0, 10), arbor.mpoint(10, 0, 0, 10), tag=1)
    tree.append(s, arbor.mpoint(10, 0, 0, 1), arbor.mpoint(210, 0, 0, 1), tag=3)
    labels = arbor.label_dict({"soma": "(tag 1)", "dend": "(tag 3)", "mid": "(location 0 0.05)",
                               "tip": "(location 0 0.95)"})
    return tree, labels


def run(recipe, t_end, dt=0.025):
    sim = arbor.simulation(recipe, seed=recipe_seed(recipe))
    sim.record(arbor.spike_recording.local)
    handles = []
    for gid, probes in recipe.the_probes.items():
        for k in range(len(probes)):
            handles.append((gid, k, sim.sample((gid, TAGS[gid][k]), arbor.regular_schedule(0.1 * U.ms))))
    sim.run(t_end * U.ms, dt * U.ms)
    out = {}
    for gid, k, h in handles:
        rows = sim.samples(h)
        data = np.concatenate([d[:, 1:] for d, _ in rows], axis=1)
        out[(gid, TAGS[gid][k])] = data
    return out, sorted(s[1] for s in sim.spikes())


def recipe_seed(recipe):
    return 42


TAGS = {}


def probe_set(gid, items):
    """Probes for cell gid: [(tag, probe constructor)], remembered for sampling."""
    TAGS[gid] = [tag for tag, _ in items]
    return [make(tag) for tag, make in items]


# -- the cells ------------------------------------------------------------------------
BBP_CHANNELS = {"NaTs2_t": {"gNaTs2_tbar": 0.983}, "SKv3_1": {"gSKv3_1bar": 0.3},
                "SK_E2": {"gSK_E2bar": 0.044}, "Ca_HVA": {"gCa_HVAbar": 0.000992},
                "Ca_LVAst": {"gCa_LVAstbar": 0.00343}, "Ih": {"gIhbar": 0.0002},
                "Im": {"gImbar": 0.0005}, "K_Pst": {"gK_Pstbar": 0.4}, "K_Tst": {"gK_Tstbar": 0.09},
                "NaTa_t": {"gNaTa_tbar": 0.5}, "Nap_Et2": {"gNap_Et2bar": 0.007}}


def bbp_recipe(catalogue):
    def cell():
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.set_property(Vm=-75 * U.mV)
        d.paint('"soma"', arbor.density("default::pas/e=-75", g=3e-5))
        for name, params in BBP_CHANNELS.items():
            d.paint("(all)", arbor.density(name, **params))
        d.paint("(all)", arbor.density("CaDynamics_E2", gamma=0.0005, decay=100.0))
        d.set_ion("ca", method="default::nernst/x=ca")
        d.place('"mid"', arbor.i_clamp(10 * U.ms, 60 * U.ms, 0.4 * U.nA))
        d.place('"mid"', arbor.threshold_detector(-10 * U.mV), "det")
        return tree, d, labels
    probes = {0: probe_set(0, [
        ("v", lambda t: arbor.cable_probe_membrane_voltage('"mid"', t)),
        ("vtip", lambda t: arbor.cable_probe_membrane_voltage('"tip"', t)),
        ("cai", lambda t: arbor.cable_probe_ion_int_concentration('"mid"', "ca", t)),
        ("cai_state", lambda t: arbor.cable_probe_density_state('"mid"', "CaDynamics_E2", "cai", t)),
        ("sk_z", lambda t: arbor.cable_probe_density_state('"mid"', "SK_E2", "z", t)),
        ("na_m", lambda t: arbor.cable_probe_density_state('"tip"', "NaTs2_t", "m", t)),
    ])}
    return Cells(catalogue, [cell], probes)


def with_default(cat, prefix=""):
    out = arbor.catalogue()
    out.extend(arbor.default_catalogue(), "default::")
    out.extend(cat, prefix)
    return out


@pytest.fixture(scope="module")
def bbp_catalogues():
    if not (NMODL / "bbp").is_dir():
        pytest.skip("Arbor's .mod files not found")
    return {b: with_default(nmodl.build(NMODL / "bbp", backend=b)) for b in ("python", "numba")}


def _compare(reference, imported, tolerances):
    (ref, spikes_ref), (imp, spikes_imp) = reference, imported
    assert spikes_ref == pytest.approx(spikes_imp, abs=1e-9)
    worst = {}
    for key in ref:
        dev = float(np.max(np.abs(ref[key] - imp[key])))
        worst[key] = dev
        tag = key[1]
        tol = tolerances.get(tag, 1e-6)
        if tag.startswith("ca") or tag.endswith("_rel"):
            scale = max(float(np.max(np.abs(ref[key]))), 1e-300)
            assert dev / scale < 1e-9, (key, dev, scale)
        else:
            assert dev < tol, (key, dev)
    return worst


@needs_mod_files
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_bbp_against_compiled(bbp_catalogues, backend):
    reference = run(bbp_recipe(with_default(arbor.bbp_catalogue())), 80.0)
    imported = run(bbp_recipe(bbp_catalogues[backend]), 80.0)
    assert len(reference[1]) >= 2, "the cell should spike"
    cai = reference[0][(0, "cai")]
    assert np.ptp(cai) > 1e-5, "calcium should move"
    worst = _compare(reference, imported, {})
    print(backend, worst)
    assert np.max(np.abs(reference[0][(0, "cai")] - imported[0][(0, "cai_state")])) < 1e-12


ALLEN_CHANNELS = {"NaV": 0.05, "Kv3_1": 0.3, "K_T": 0.01, "K_P": 0.01, "Kd": 0.005, "Kv2like": 0.01,
                  "Im": 0.001, "Im_v2": 0.001, "Ih": 0.0002, "Ca_HVA": 0.0005, "Ca_LVA": 0.003,
                  "SK": 0.005, "NaTa": 0.01, "NaTs": 0.01, "Nap": 0.0005}


def allen_recipe(catalogue):
    def cell():
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.set_property(Vm=-70 * U.mV)
        d.paint("(all)", arbor.density("default::pas/e=-70", g=5e-5))
        for name, g in ALLEN_CHANNELS.items():
            d.paint("(all)", arbor.density(name, gbar=g))
        d.paint("(all)", arbor.density("CaDynamics", gamma=0.002, decay=80.0))
        d.set_ion("ca", method="default::nernst/x=ca")
        d.place('"mid"', arbor.i_clamp(10 * U.ms, 60 * U.ms, 0.5 * U.nA))
        d.place('"tip"', arbor.synapse("Exp2Syn", tau1=0.5, tau2=3.0), "syn")
        d.place('"mid"', arbor.threshold_detector(-10 * U.mV), "det")
        return tree, d, labels
    probes = {0: probe_set(0, [
        ("v", lambda t: arbor.cable_probe_membrane_voltage('"mid"', t)),
        ("vtip", lambda t: arbor.cable_probe_membrane_voltage('"tip"', t)),
        ("cai", lambda t: arbor.cable_probe_ion_int_concentration('"mid"', "ca", t)),
        ("nav_o", lambda t: arbor.cable_probe_density_state('"mid"', "NaV", "O", t)),
        ("nav_i6", lambda t: arbor.cable_probe_density_state('"tip"', "NaV", "I6", t)),
        ("syn_b", lambda t: arbor.cable_probe_point_state("syn", "Exp2Syn", "B", t)),
    ])}
    return Cells(catalogue, [cell], probes, events={0: [("syn", 0.01, [5.0, 30.0, 31.0])]})


def default_recipe(catalogue):
    def channels():                      # hh and the channels of the default catalogue, spiking
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.paint('"soma"', arbor.density("hh"))
        d.paint('"dend"', arbor.density("pas/e=-65", g=1e-4))
        d.paint('"dend"', arbor.density("nax", gbar=0.05))
        d.paint('"dend"', arbor.density("kdrmt", gbar=0.02))
        d.paint('"dend"', arbor.density("kamt", gbar=0.01))
        d.set_ion("na", method="nernst/x=na")
        d.place('"mid"', arbor.i_clamp(5 * U.ms, 50 * U.ms, 0.3 * U.nA))
        d.place('"mid"', arbor.threshold_detector(-10 * U.mV), "det")
        return tree, d, labels

    def synapses():                      # every point process, receiving events; decay of cad
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.paint("(all)", arbor.density("hh"))
        d.set_ion("ca", diff=1e-9 * U.m2 / U.s)
        d.paint("(all)", arbor.density("decay/x=ca", tau=0.2))
        for k, syn in enumerate(["expsyn", "exp2syn", "expsyn_curr", "expsyn_stdp", "inject/x=ca",
                                 "inject_norm_amount/x=ca", "inject_norm_concentration/x=ca"]):
            d.place('"mid"' if k % 2 else '"tip"', arbor.synapse(syn), f"s{k}")
        d.place('"mid"', arbor.threshold_detector(-10 * U.mV), "det")
        return tree, d, labels

    def junction(hh):
        def make():
            tree, labels = _ball_and_stick()
            d = arbor.decor()
            d.paint("(all)", arbor.density("hh" if hh else "pas"))
            if hh:
                d.place('"mid"', arbor.i_clamp(5 * U.ms, 50 * U.ms, 0.3 * U.nA))
            d.place('"tip"', arbor.junction("gj", g=0.01), "gj")
            return tree, d, labels
        return make

    def voltage():                       # v_limit on the whole cell, v_clamp after 40 ms never
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.paint("(all)", arbor.density("hh"))
        d.paint("(all)", arbor.voltage_process("v_limit/v_low=-70,v_high=20"))
        d.place('"mid"', arbor.i_clamp(5 * U.ms, 50 * U.ms, 0.3 * U.nA))
        return tree, d, labels

    def clamp():
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.paint("(all)", arbor.density("pas"))
        d.paint("(all)", arbor.voltage_process("v_clamp/v0=-50"))
        return tree, d, labels

    v = lambda loc: (lambda t: arbor.cable_probe_membrane_voltage(loc, t))
    probes = {
        0: probe_set(0, [("v", v('"mid"')), ("vtip", v('"tip"')),
                         ("na_m", lambda t: arbor.cable_probe_density_state('"tip"', "nax", "m", t))]),
        1: probe_set(1, [("v", v('"mid"')), ("vtip", v('"tip"')),
                         ("cad_rel", lambda t: arbor.cable_probe_ion_diff_concentration('"tip"', "ca", t)),
                         ("g", lambda t: arbor.cable_probe_point_state("s0", "expsyn", "g", t)),
                         ("stdp_w", lambda t: arbor.cable_probe_point_state("s3", "expsyn_stdp",
                                                                            "weight_plastic", t)),
                         ("curr_g", lambda t: arbor.cable_probe_point_state("s2", "expsyn_curr", "g", t))]),
        2: probe_set(2, [("v", v('"tip"'))]),
        3: probe_set(3, [("v", v('"tip"'))]),
        4: probe_set(4, [("v", v('"mid"'))]),
        5: probe_set(5, [("v", v('"mid"'))]),
    }
    events = {1: [(f"s{k}", w, [3.0, 10.0, 10.5, 20.0]) for k, w in
                  enumerate([0.01, 0.01, 1.0, 0.005, 0.1, 0.1, 0.1])]}
    return Cells(catalogue, [channels, synapses, junction(True), junction(False), voltage, clamp],
                 probes, events=events, gap_pairs=[(2, 3, 1.0)])


def _imported(folder, backend):
    return nmodl.build(NMODL / folder, backend=backend)


@pytest.fixture(scope="module")
def default_catalogues():
    if not (NMODL / "default").is_dir():
        pytest.skip("Arbor's .mod files not found")
    return {b: _imported("default", b) for b in ("python", "numba")}


@pytest.fixture(scope="module")
def allen_catalogues():
    if not (NMODL / "allen").is_dir():
        pytest.skip("Arbor's .mod files not found")
    return {b: with_default(_imported("allen", b)) for b in ("python", "numba")}


@needs_mod_files
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_default_against_compiled(default_catalogues, backend):
    reference = run(default_recipe(arbor.default_catalogue()), 60.0)
    imported = run(default_recipe(default_catalogues[backend]), 60.0)
    assert len(reference[1]) >= 3
    data = reference[0]
    assert np.ptp(data[(1, "cad_rel")]) > 0, "the injections should move cad"
    assert np.ptp(data[(1, "stdp_w")]) > 0, "expsyn_stdp's weight should change"
    assert np.ptp(data[(3, "v")]) > 10, "the junction should couple the two cells"
    worst = _compare(reference, imported, {})
    print(backend, worst)


@needs_mod_files
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_allen_against_compiled(allen_catalogues, backend):
    reference = run(allen_recipe(with_default(arbor.allen_catalogue())), 60.0)
    imported = run(allen_recipe(allen_catalogues[backend]), 60.0)
    assert len(reference[1]) >= 2
    assert np.ptp(reference[0][(0, "nav_o")]) > 1e-3
    worst = _compare(reference, imported, {})
    print(backend, worst)


def stochastic_recipe(catalogue):
    def cell():
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.paint("(all)", arbor.density("default::hh"))
        d.place('"mid"', arbor.synapse("ou_input", mu=0.2, sigma=0.1, tau=2.0), "ou")
        d.place('"tip"', arbor.synapse("calcium_based_synapse", tau=100.0, sigma=0.5), "cbs")
        d.place('"mid"', arbor.threshold_detector(-10 * U.mV), "det")
        return tree, d, labels
    probes = {0: probe_set(0, [
        ("v", lambda t: arbor.cable_probe_membrane_voltage('"mid"', t)),
        ("ou", lambda t: arbor.cable_probe_point_state("ou", "ou_input", "I_ou", t)),
        ("rho", lambda t: arbor.cable_probe_point_state("cbs", "calcium_based_synapse", "rho", t)),
        ("c", lambda t: arbor.cable_probe_point_state("cbs", "calcium_based_synapse", "c", t)),
    ])}
    events = {0: [("ou", 1.0, [5.0]), ("ou", -1.0, [45.0]), ("cbs", 1.0, [2.0, 12.0, 13.0, 30.0])]}
    return Cells(catalogue, [cell], probes, events=events)


@needs_mod_files
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_stochastic_against_compiled(backend):
    """Same seed, same mechanism names and order: Arbor draws the same numbers for both."""
    cat = with_default(_imported("stochastic", backend))
    reference = run(stochastic_recipe(with_default(arbor.stochastic_catalogue())), 60.0)
    imported = run(stochastic_recipe(cat), 60.0)
    data = reference[0]
    assert np.ptp(data[(0, "ou")]) > 0.05 and np.ptp(data[(0, "rho")]) > 1e-3
    worst = _compare(reference, imported, {})
    print(backend, worst)


MODELS = Path(arbor_pycat.__file__).resolve().parent / "models"


@needs_mod_files
@pytest.mark.parametrize("catalogue", ["default", "bbp", "allen", "stochastic"])
def test_generated_models_are_current(catalogue):
    """arbor_pycat.models.<catalogue> is exactly what the importer makes of Arbor's .mod files.

    With ARBOR_PYCAT_REGENERATE=1 the package is rewritten instead.
    """
    expected = nmodl.package_sources([NMODL / catalogue], catalogue)
    folder = MODELS / catalogue
    if os.environ.get("ARBOR_PYCAT_REGENERATE"):
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.py"):
            old.unlink()
        for name, text in expected.items():
            (folder / name).write_text(text)
    present = {p.name: p.read_text() for p in folder.glob("*.py")}
    assert sorted(present) == sorted(expected)
    for name, text in expected.items():
        assert present[name] == text, f"models/{catalogue}/{name} differs from the importer's output"


@pytest.mark.parametrize("catalogue", ["default", "bbp", "allen", "stochastic"])
def test_generated_models_import(catalogue):
    import importlib
    package = importlib.import_module(f"arbor_pycat.models.{catalogue}")
    assert package.MECHANISMS
    arbor_pycat.build(*package.MECHANISMS, backend="python")


L5PC = _shared("models", "l5pc")


@pytest.mark.skipif(not (L5PC / "l5pc_model.py").is_file() or not (NMODL / "bbp").is_dir(),
                    reason="the L5PC example or Arbor's .mod files not found")
def test_l5pc_on_imported_bbp_mechanisms(bbp_catalogues):
    """Arbor's BluePyOpt L5PC example, every bbp mechanism from nmodl.build (numba), to 1e-3 mV."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("l5pc_model", L5PC / "l5pc_model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    imported = arbor.catalogue()
    imported.extend(arbor.default_catalogue(), "default::")
    imported.extend(nmodl.build(NMODL / "bbp", backend="numba"), "BBP::")
    t_end = 60.0                       # the example's stimulus, moved from 295 ms to 20 ms
    cell = model.make_cell(t_stim=20.0)
    reference = model.run(model.compiled_catalogue(), tfinal=t_end, cell=cell)
    ours = model.run(imported, tfinal=t_end, cell=cell)
    assert len(reference["spikes"]) >= 1
    assert len(ours["spikes"]) == len(reference["spikes"])
    for key in ("soma", "dend1"):
        assert np.max(np.abs(reference[key] - ours[key])) < 1e-3, key
    for key in ("soma_cai", "axon_cai"):
        assert np.max(np.abs(reference[key] - ours[key])) / np.max(np.abs(reference[key])) < 1e-9, key
    print(f"L5PC: max |dV| soma {np.max(np.abs(reference['soma'] - ours['soma'])):.2e} mV, "
          f"time ratio {ours['wall'] / reference['wall']:.2f}")


def readme_markov(kind):
    """The Markov channel of README.md's "Importing NMODL" section: "text" (NMODL) or "python"."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Importing NMODL"):]
    section = section[:section.index("\n## ", 1)]
    pattern = (r"```text\n(NEURON \{ SUFFIX markov3.*?)```" if kind == "text"
               else r"```python\n([^`]*?kinetic_function.*?)```")
    blocks = re.findall(pattern, section, flags=re.S)
    assert len(blocks) == 1, f"the README lost its Markov channel example ({kind})"
    return blocks[0]


MARKOV = readme_markov("text") if (Path(__file__).resolve().parents[1] / "README.md").exists() else ""


def test_readme_markov_channel(tmp_path):
    """The README's kinetic scheme, in NMODL (nmodl.load) and by hand (nmodl.kinetic_function):
    both backends, scalar form, C + I + O conserved, the same results."""
    import importlib.util
    from arbor_pycat.backends import numba as numba_backend
    from arbor_pycat.declarations import spec_of
    path = tmp_path / "markov.mod"
    path.write_text(MARKOV)
    from_nmodl = nmodl.load(path, directory=tmp_path)
    assert from_nmodl.name == "markov3"
    assert "a_0_0" in nmodl.to_python(MARKOV)
    hand_file = tmp_path / "hand_markov.py"
    hand_file.write_text(readme_markov("python").replace(
        'name="markov_step")', f'name="markov_step", directory={str(tmp_path)!r})'))
    spec = importlib.util.spec_from_file_location("hand_markov_readme", hand_file)
    hand = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hand)
    assert set(numba_backend.compile(spec_of(hand.Markov)).modes.values()) == {"scalar"}
    results = {}
    for backend in ("python", "numba"):
        cat = with_default(arbor_pycat.build(from_nmodl, hand.Markov, backend=backend))
        assert set(arbor_pycat.builder.last_backends.values()) == {backend}

        def cell():
            tree, labels = _ball_and_stick()
            d = arbor.decor()
            d.paint("(all)", arbor.density("default::hh"))
            d.paint('"soma"', arbor.density("markov3", gbar=0.005))
            d.paint('"dend"', arbor.density("markov3_py", gbar=0.005))
            d.place('"mid"', arbor.i_clamp(5 * U.ms, 30 * U.ms, 0.3 * U.nA))
            return tree, d, labels
        state = lambda loc, mech, s: (lambda t: arbor.cable_probe_density_state(loc, mech, s, t))
        probes = {0: probe_set(0, [("v", lambda t: arbor.cable_probe_membrane_voltage('"mid"', t))]
                               + [(s, state('"mid"', "markov3", s)) for s in "CIO"]
                               + [(s + "_py", state('"tip"', "markov3_py", s)) for s in "CIO"])}
        results[backend] = run(Cells(cat, [cell], probes), 40.0)[0]
    python, numba = results["python"], results["numba"]
    total = python[(0, "C")] + python[(0, "I")] + python[(0, "O")]
    assert np.max(np.abs(total - 1.0)) < 1e-12
    assert np.ptp(python[(0, "O")]) > 1e-3 and np.ptp(python[(0, "O_py")]) > 1e-3
    for key in python:
        assert np.max(np.abs(python[key] - numba[key])) < 1e-9, key


def test_kinetic_function_matches_the_kinetic_block():
    """kinetic_function's step is the step of the same KINETIC block in a mechanism."""
    step = nmodl.kinetic_function("""
        ~ C <-> O (kco, koc)
        ~ O <-> I (koi, kio)
        CONSERVE C + I + O = 1
    """, name="markov_step_check")
    rng = np.random.default_rng(1)
    C, O = rng.random(50) * 0.5, rng.random(50) * 0.5
    I = 1.0 - C - O
    rates = rng.random((4, 50))
    newC, newO, newI = step(C, O, I, *rates, 0.025)
    kco, kio, koc, koi = rates
    # backward Euler: x_new - x_old = dt f(x_new), with the CONSERVE row
    assert np.allclose(newC - C, 0.025 * (-kco * newC + koc * newO), atol=1e-14)
    assert np.allclose(newO - O, 0.025 * (kco * newC - koc * newO - koi * newO + kio * newI), atol=1e-14)
    assert np.allclose(newC + newO + newI, 1.0, atol=1e-15)
    scalar = step(float(C[0]), float(O[0]), float(I[0]), *rates[:, 0], 0.025)
    assert np.allclose(scalar, (newC[0], newO[0], newI[0]), rtol=0, atol=1e-16)


@pytest.mark.parametrize("snippet, construct, line", [
    ("NEURON { SUFFIX a }\nVERBATIM\nint x;\nENDVERBATIM\n", "VERBATIM", 2),
    ("NEURON { SUFFIX a\n POINTER p }\n", "POINTER", 2),
    ("NEURON { ARTIFICIAL_CELL a }\n", "ARTIFICIAL_CELL", 1),
    ("NEURON { SUFFIX a }\nFUNCTION_TABLE tab(v)\n", "FUNCTION_TABLE", 2),
    ("NEURON { SUFFIX a }\nASSIGNED { x }\nBREAKPOINT {\n  x = t\n}\n", "time variable t", 4),
    ("NEURON { POINT_PROCESS a }\nNET_RECEIVE(w) {\n  net_send(1, 1)\n}\n", "net_send", 3),
    ("NEURON { SUFFIX a }\nSTATE { s }\nBREAKPOINT { SOLVE d METHOD cnexp }\n"
     "DERIVATIVE d {\n  s' = s*s\n}\n", "linear", 5),
    ("NEURON { SUFFIX a USEION ca READ cai }\nSTATE { cai }\n", "only if the mechanism writes it", 2),
    ("NEURON { SUFFIX a }\nSTATE { A B }\nINITIAL {\n  SOLVE k STEADYSTATE sparse\n}\n"
     "KINETIC k {\n  ~ A <-> B (1, 2)\n}\n", "STEADYSTATE sparse needs a CONSERVE", 6),
    ("NEURON { SUFFIX a }\nSTATE { A B }\nBREAKPOINT {\n  SOLVE k STEADYSTATE sparse\n}\n"
     "KINETIC k {\n  ~ A <-> B (1, 2)\n  CONSERVE A + B = 1\n}\n", "a KINETIC block in INITIAL", 4),
    ("NEURON { SUFFIX a }\nSTATE { x y }\nBREAKPOINT { SOLVE d METHOD cnexp }\nDERIVATIVE d {\n"
     "  x' = -x\n  y' = (x - y) / 3\n}\n", "depends on the STATE x of the same block", 6),
    ("NEURON { SUFFIX a }\nASSIGNED { q }\nBREAKPOINT {\n  IF (v > 0) {\n    LOCAL z\n    z = 1\n"
     "    q = z\n  }\n}\n", "LOCAL z inside IF/ELSE", 5),
])
def test_refused_constructs_name_the_construct_file_and_line(snippet, construct, line):
    with pytest.raises(nmodl.NmodlError) as info:
        nmodl.to_python(snippet)
    message = str(info.value)
    assert construct.lower() in message.lower(), message
    assert message.startswith(f"<nmodl>:{line}:"), message


def test_conserve_coefficients_in_modcc_form():
    """modcc writes CONSERVE's coefficients as in a reaction (A + 2 B); the same system as 2*B."""
    text = ("NEURON { SUFFIX c }\nSTATE { A B }\nBREAKPOINT {\n  SOLVE k METHOD sparse\n}\n"
            "KINETIC k {\n  ~ A <-> B (1, 2)\n  CONSERVE A + %s = 1\n}\n")
    code = [[line for line in nmodl.to_python(text % form).splitlines() if not line.strip().startswith("#")]
            for form in ("2 B", "2 * B")]
    assert code[0] == code[1]
    assert "a_1_1 = 2.0 - f_1_0 * a_0_1" in "\n".join(code[0])


def test_recursion_is_refused_with_the_cycle():
    text = ("NEURON { SUFFIX a }\nASSIGNED { x }\nBREAKPOINT { x = f(1) }\n"
            "FUNCTION f(y) {\n  f = g(y)\n}\nFUNCTION g(y) {\n  g = f(y - 1)\n}\n")
    with pytest.raises(nmodl.NmodlError) as info:
        nmodl.to_python(text)
    message = str(info.value)
    assert message.startswith("<nmodl>:4:") and "f -> g -> f" in message and "recursive" in message


def test_generated_names_never_take_the_files_names():
    """Renamed keywords, IF temporaries, solver temporaries and the event loop's variables
    each avoid every name of the file (each of these once collided silently)."""
    source = (OWN / "names.mod").read_text()
    python = nmodl.to_python(source)
    assert "lambda__ = 1.0" in python and "lambda_ = 2.0" in python      # `lambda` renamed past `lambda_`
    assert "m_then__then" in python and "pp.m_then" not in python.split("def compute_currents")[1]
    assert "b_0_ = pp.x_0" in python and "pp.b_0 = x_1" in python      # the solver's b_0 is not STATE b_0
    assert "if_30 = 0.25" in python and "if_30_ =" not in python
    assert "(-10.0 < v) < 0.5" in python                                 # not a chained comparison
    assert "if pp.kz > 0.0:" in python                                   # one value for all: a Python if
    assert "np.power(2.0, 2000.0)" in python and "np.divide(1.0, pp.kz)" in python
    events = nmodl.to_python((OWN / "names_syn.mod").read_text())
    assert "for k in range(len(events)):" in events and "k_ = 2.0 * weight" in events
    assert "j_ = 0.5" in events


def test_branch_not_taken_raises_nothing_for_python_numbers():
    """A FUNCTION's IF computes both branches (np.where): called with Python numbers, the
    branch not taken must not raise where modcc's C gives inf (1/x at x = 0)."""
    text = ("NEURON { SUFFIX a GLOBAL kz }\nPARAMETER { kz = 0 }\nASSIGNED { q }\n"
            "BREAKPOINT { q = f(kz) }\n"
            "FUNCTION f(x) {\n  IF (x > 0) {\n    f = 1/x + 2^x\n  } ELSE {\n    f = -1\n  }\n}\n")
    source = nmodl.to_python(text)
    assert "np.divide(1.0, x)" in source and "np.power(2.0, x)" in source
    namespace = {}
    exec(compile(source, "a.py", "exec"), namespace)
    with np.errstate(all="ignore"):
        assert float(namespace["f"](0.0)) == -1.0
        assert float(namespace["f"](4.0)) == pytest.approx(16.25)
        assert np.isinf(namespace["f"](2000.0))          # C: inf; Python's 2.0 ** 2000.0 raises


def test_neuron_dialect_constructs_are_accepted_with_a_note():
    text = """
    UNITSOFF
    DEFINE NSTATES 2
    NEURON { THREADSAFE SUFFIX nd USEION ca READ cai WRITE ica ELECTRODE_CURRENT iel RANGE gbar }
    UNITS { FARADAY = (faraday) (coulomb) }
    PARAMETER { gbar = 0.001 }
    STATE { m }
    BREAKPOINT { SOLVE s METHOD cnexp ica = gbar*m*(v - 120) iel = 0.001*cai*FARADAY }
    INITIAL { m = minf(v) }
    DERIVATIVE s { m' = (minf(v) - m)/NSTATES }
    FUNCTION minf(v) {
        TABLE DEPEND gbar FROM -100 TO 100 WITH 200
        minf = 1/(1 + exp(-v/10))
    }
    UNITSON
    """
    source = nmodl.to_python(text)
    for note in ("TABLE", "UNITSON/UNITSOFF", "DEFINE NSTATES", "ELECTRODE_CURRENT", "FARADAY"):
        assert note in source, note
    assert "pp.i = -iel" in source
    assert "cnexp(pp.m, minf(v), 2.0, dt)" in source
    compile(source, "nd", "exec")


OWN = Path(__file__).resolve().parent / "nmodl"


@pytest.fixture(scope="module")
def own_compiled(tmp_path_factory):
    """Our own .mod files (constructs the catalogues do not cover) compiled by arbor-build-catalogue.

    The compiled catalogue is kept in the cache folder, keyed by the files and Arbor's version.
    """
    import hashlib
    import shutil
    import subprocess
    import sys
    digest = hashlib.sha1(arbor.__version__.encode())
    for f in sorted(OWN.glob("*.mod")):
        digest.update(f.name.encode() + f.read_bytes())
    cached = nmodl._cache_dir().parent / "modcc" / f"own-{digest.hexdigest()[:16]}.so"
    if cached.exists():
        return arbor.load_catalogue(str(cached))
    tool = Path(sys.executable).parent / "arbor-build-catalogue"
    if not tool.exists() or shutil.which("cmake") is None or shutil.which("g++") is None:
        pytest.skip("arbor-build-catalogue, cmake or g++ not available")
    work = tmp_path_factory.mktemp("own")
    src = work / "mod"
    src.mkdir()
    for f in OWN.glob("*.mod"):
        shutil.copy(f, src)
    env = dict(os.environ, PATH=f"{tool.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run([sys.executable, str(tool), "own", str(src)], cwd=work, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"arbor-build-catalogue failed:\n{done.stdout}\n{done.stderr}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "own-catalogue.so", cached)
    return arbor.load_catalogue(str(cached))


def own_recipe(catalogue):
    def cell():
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.paint("(all)", arbor.density("default::hh"))
        d.paint("(all)", arbor.density("newton_ab"))
        d.paint("(all)", arbor.density("dimer"))
        d.paint("(all)", arbor.density("bind"))
        d.paint("(all)", arbor.density("names"))
        d.paint("(all)", arbor.density("ifs"))
        d.paint("(all)", arbor.density("nested_ifs"))
        d.paint("(all)", arbor.density("steady"))
        d.paint('"dend"', arbor.density("procs", gbar=0.01))
        d.place('"tip"', arbor.synapse("net_initial"), "syn")
        d.place('"mid"', arbor.synapse("names_syn"), "syn_names")
        d.place('"mid"', arbor.i_clamp(5 * U.ms, 30 * U.ms, 0.3 * U.nA))
        d.place('"mid"', arbor.threshold_detector(-10 * U.mV), "det")
        return tree, d, labels

    def if_cell():                      # crosses ifcurrent's -50 mV branch point both ways
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.paint("(all)", arbor.density("default::pas/e=-65", g=1e-4))
        d.paint("(all)", arbor.density("ifcurrent", gl=0.002))
        d.place('"mid"', arbor.i_clamp(5 * U.ms, 20 * U.ms, 2.0 * U.nA))
        return tree, d, labels
    state = lambda loc, mech, s: (lambda t: arbor.cable_probe_density_state(loc, mech, s, t))
    probes = {0: probe_set(0, [
        ("v", lambda t: arbor.cable_probe_membrane_voltage('"mid"', t)),
        ("vtip", lambda t: arbor.cable_probe_membrane_voltage('"tip"', t)),
        ("a", state('"mid"', "newton_ab", "a")), ("b", state('"mid"', "newton_ab", "b")),
        ("D", state('"mid"', "dimer", "D")), ("O", state('"tip"', "dimer", "O")),
        ("A", state('"mid"', "bind", "A")), ("AB", state('"mid"', "bind", "AB")),
        ("names_r", state('"mid"', "names", "r")), ("names_b_0", state('"mid"', "names", "b_0")),
        ("names_g", lambda t: arbor.cable_probe_point_state("syn_names", "names_syn", "g", t)),
        ("ifs_w", state('"mid"', "ifs", "w")), ("ifs_y", state('"mid"', "ifs", "y")),
        ("nested_q", state('"mid"', "nested_ifs", "q")), ("nested_r", state('"mid"', "nested_ifs", "r")),
        ("nested_u", state('"mid"', "nested_ifs", "u")), ("nested_m", state('"tip"', "nested_ifs", "m")),
        ("steady_O", state('"mid"', "steady", "O")), ("steady_I", state('"tip"', "steady", "I")),
        ("m", state('"tip"', "procs", "m")), ("y", state('"tip"', "procs", "y")),
        ("mtau", state('"tip"', "procs", "mtau")),
        ("syn_g", lambda t: arbor.cable_probe_point_state("syn", "net_initial", "g", t)),
    ]), 1: probe_set(1, [("v_if", lambda t: arbor.cable_probe_membrane_voltage('"mid"', t))])}
    events = {0: [("syn", 0.01, [2.0, 3.0, 15.0]), ("syn", 0.002, [8.0, 8.5]),
                  ("syn_names", 0.003, [4.0, 12.0])]}
    return Cells(catalogue, [cell, if_cell], probes, events=events)


@needs_mod_files
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_own_constructs_against_modcc(own_compiled, backend, tmp_path):
    """Newton's method (nonlinear DERIVATIVE, second-order and bilinear KINETIC), PROCEDUREs, nested FUNCTIONs,
    IF/ELSE in a FUNCTION, a CONDUCTANCE hint, NET_RECEIVE's INITIAL, against the same files
    compiled by modcc."""
    imported = with_default(nmodl.build(OWN, backend=backend, directory=tmp_path))
    reference = run(own_recipe(with_default(own_compiled)), 40.0)
    ours = run(own_recipe(imported), 40.0)
    assert len(reference[1]) >= 1
    data = reference[0]
    assert np.ptp(data[(0, "D")]) > 1e-3 and np.ptp(data[(0, "b")]) > 1e-3
    assert np.ptp(data[(0, "A")]) > 0.1 and np.ptp(data[(0, "AB")]) > 0.1
    assert np.ptp(data[(0, "syn_g")]) > 1e-3
    # names.mod: r is 1 where v <= -10 mV and 2 above (NMODL's (-10 < v) < 0.5), both seen
    assert set(np.unique(data[(0, "names_r")])) == {1.0, 2.0}
    assert np.ptp(data[(0, "names_b_0")]) > 1e-3 and np.ptp(data[(0, "names_g")]) > 1e-3
    assert np.ptp(data[(0, "ifs_w")]) > 1e-3 and np.ptp(data[(0, "ifs_y")]) > 1e-3
    # nested_ifs.mod: each value of q (12 between -66 and -60 mV: a stale temporary gave 2) and
    # several of r and u are taken during the run
    assert {4.0, 5.0, 12.0} <= set(np.unique(data[(0, "nested_q")]))
    # steady.mod starts at its steady state (STEADYSTATE sparse): C a = O b, O c = I d at v(0)
    O, v0 = data[(0, "steady_O")].ravel(), float(data[(0, "v")].ravel()[0])
    a, b = 0.5 * np.exp((v0 + 40) / 12), 0.3 * np.exp(-(v0 + 40) / 20)
    c, d = 0.05 * np.exp((v0 + 50) / 30), 0.02
    assert float(O[0]) == pytest.approx(1.0 / (1.0 + b / a + c / d), rel=1e-12) and np.ptp(O) > 1e-3
    assert len(set(np.unique(data[(0, "nested_r")]))) >= 2 and len(set(np.unique(data[(0, "nested_u")]))) >= 2
    v_if = data[(1, "v_if")]
    assert v_if.min() < -60 and v_if.max() > -40
    # ifcurrent: modcc's conductance is the first branch's dI/dv for every instance, ours each
    # instance's own branch's. Only the linearisation of the implicit solve differs (the
    # currents are the same), by O(dt) below -50 mV.
    worst = _compare(reference, ours, {"v_if": 5e-2})
    print(backend, worst)


def test_command_line_writes_python_files(tmp_path, capsys):
    from arbor_pycat.__main__ import main
    mod = tmp_path / "leak.mod"
    mod.write_text("NEURON { SUFFIX leak NONSPECIFIC_CURRENT i RANGE g, e }\n"
                   "PARAMETER { g = 0.001 (S/cm2) e = -70 (mV) }\n"
                   "BREAKPOINT { i = g*(v - e) }\n")
    out = tmp_path / "out"
    assert main(["nmodl", str(mod), "-o", str(out)]) == 0
    written = out / "leak.py"
    assert written.read_text() == nmodl.to_python(mod)
    assert str(written) in capsys.readouterr().out
    bad = tmp_path / "bad.mod"
    bad.write_text("NEURON { SUFFIX bad }\nVERBATIM\nx\nENDVERBATIM\n")
    assert main(["nmodl", str(bad), "-o", str(out)]) == 1
    assert f"{bad}:2: VERBATIM" in capsys.readouterr().err


@needs_mod_files
@pytest.mark.parametrize("catalogue", ["default", "bbp", "allen", "stochastic"])
def test_declarations_match_the_compiled_twins(catalogue):
    """Kind, parameters and globals (with defaults), states and ion flags as Arbor reports for
    the compiled mechanism, so decors, probes and `mech/global=value` work unchanged."""
    from arbor_pycat.declarations import spec_of
    compiled = getattr(arbor, f"{catalogue}_catalogue")()
    ours = nmodl.build(NMODL / catalogue, backend="python")
    kinds = {"density": "density", "point": "point", "junction": "gap junction",
             "voltage": "voltage", "reversal_potential": "reversal potential"}
    for path in sorted((NMODL / catalogue).glob("*.mod")):
        name = path.stem
        theirs, mine = compiled[name], ours[name]
        assert mine.kind == theirs.kind == f"{kinds[spec_of(nmodl.load(path)).kind]} mechanism kind", name
        for what in ("parameters", "globals", "state"):
            a, b = getattr(theirs, what), getattr(mine, what)
            assert sorted(a) == sorted(b), (name, what)
            for key in a if what != "state" else ():      # modcc's states have no default (NaN)
                assert a[key].default == pytest.approx(b[key].default, rel=1e-15), (name, what, key)
        assert sorted(theirs.ions) == sorted(mine.ions), name
        for ion in theirs.ions:
            flags = ("read_int_con", "write_int_con", "read_ext_con", "write_ext_con",
                     "read_rev_pot", "write_rev_pot")
            assert [getattr(theirs.ions[ion], f) for f in flags] == \
                   [getattr(mine.ions[ion], f) for f in flags], (name, ion)


def hh_cell(mechanism):
    def cell():
        tree, labels = _ball_and_stick()
        d = arbor.decor()
        d.paint("(all)", arbor.density(mechanism))
        d.place('"mid"', arbor.i_clamp(5 * U.ms, 30 * U.ms, 0.15 * U.nA))
        d.place('"mid"', arbor.threshold_detector(-10 * U.mV), "det")
        return tree, d, labels
    return cell


@needs_mod_files
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_neuron_dialect_file_matches_its_modcc_twin(own_compiled, backend, tmp_path):
    """tests/nmodl/neuron/hhn.mod (TABLE, UNITSOFF, GLOBAL ASSIGNED, celsius in a PROCEDURE,
    REPRESENTS, INDEPENDENT, ...: modcc rejects it) against its modcc-dialect twin compiled."""
    ours = with_default(nmodl.build(OWN / "neuron" / "hhn.mod", backend=backend, directory=tmp_path))
    probes = lambda mech: {0: probe_set(0, [
        ("v", lambda t: arbor.cable_probe_membrane_voltage('"mid"', t)),
        ("m", lambda t: arbor.cable_probe_density_state('"tip"', mech, "m", t)),
        ("ntau", lambda t: arbor.cable_probe_density_state('"tip"', mech, "ntau", t))])}
    reference = run(Cells(with_default(own_compiled), [hh_cell("hhn_modcc")], probes("hhn_modcc")), 50.0)
    imported = run(Cells(ours, [hh_cell("hhn")], probes("hhn")), 50.0)
    assert len(reference[1]) >= 1 and np.ptp(reference[0][(0, "m")]) > 0.5
    print(backend, _compare(reference, imported, {}))


def test_derivimplicit_is_solved_as_sparse():
    text = """NEURON { SUFFIX cad USEION ca READ ica WRITE cai RANGE tau }
    PARAMETER { tau = 20 }
    STATE { cai }
    INITIAL { cai = 5e-5 }
    BREAKPOINT { SOLVE st METHOD derivimplicit }
    DERIVATIVE st { cai' = -0.01*ica - (cai - 5e-5)/tau }
    """
    derivimplicit = nmodl.to_python(text)
    sparse = nmodl.to_python(text.replace("derivimplicit", "sparse"))
    assert "METHOD derivimplicit: solved as METHOD sparse" in derivimplicit
    body = lambda src: src[src.index("class Cad"):].replace("derivimplicit", "sparse")
    assert body(derivimplicit) == body(sparse)


@pytest.mark.parametrize("helper", ["2", "0"])      # one helper: every other nmodl.build here (2 cores)
def test_cold_build_with_and_without_the_helper_process(tmp_path, helper):
    """nmodl.build compiles with helper processes from the other end (two, one, or
    none with ARBOR_PYCAT_BUILD_HELPER=0): the result is the same catalogue, every
    mechanism numba-compiled or from the cache the helpers filled, and no helper
    outlives it. Built again in a new process, everything comes from the cache and
    no helper starts."""
    from pycat_cell import check_snippet
    mods = sorted(str(p) for p in (OWN).glob("*.mod"))[:3]
    env = dict(os.environ, ARBOR_PYCAT_CACHE_DIR=str(tmp_path / "cache"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"), ARBOR_PYCAT_BUILD_HELPER=helper)
    snippet = f"""
import os, arbor_pycat
from arbor_pycat import nmodl
started = []
start = nmodl._compiling_ahead.start
def counting_start(self):
    again = self.started
    start(self)
    started.append(0 if again else len(self.processes))
nmodl._compiling_ahead.start = counting_start
catalogue = nmodl.build(*{mods!r}, backend="numba")
report = arbor_pycat.build_report()
assert len(report.mechanisms) == {len(mods)} and all(m.backend == "numba" for m in report.mechanisms), report
assert all(name in catalogue for name in (m.name for m in report.mechanisms))
children = [p for p in os.listdir("/proc") if p.isdigit()
            and open(f"/proc/{{p}}/stat").read().split()[3] == str(os.getpid())] if os.path.isdir("/proc") else []
assert not children, children
print(sorted(m.cache for m in report.mechanisms), sum(started))
"""
    caches, helpers = check_snippet(snippet, env=env, timeout=600).stdout.strip().rsplit(" ", 1)
    assert int(helpers) == int(helper)
    if helper == "0":
        assert caches == str(["compiled"] * len(mods))
    caches, helpers = check_snippet(snippet, env=env, timeout=600).stdout.strip().rsplit(" ", 1)
    assert caches == str(["disk"] * len(mods)) and int(helpers) == 0


@pytest.mark.parametrize("setting, files, expected", [
    ("0", 12, 0), ("off", 12, 0), ("3", 12, 3), ("3", 2, 1), ("5", 1, 0), (None, 1, 0)])
def test_how_many_helper_processes(monkeypatch, setting, files, expected):
    from arbor_pycat.nmodl import _helper_count
    if setting is None:
        monkeypatch.delenv("ARBOR_PYCAT_BUILD_HELPER", raising=False)
    else:
        monkeypatch.setenv("ARBOR_PYCAT_BUILD_HELPER", setting)
    assert _helper_count(files) == expected


def test_one_helper_per_core_beyond_the_first_by_default(monkeypatch):
    from arbor_pycat import nmodl
    monkeypatch.delenv("ARBOR_PYCAT_BUILD_HELPER", raising=False)
    monkeypatch.setattr(nmodl.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert nmodl._helper_count(12) == 8          # capped: each helper holds numba and LLVM
    monkeypatch.setattr(nmodl.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert nmodl._helper_count(12) == 2
