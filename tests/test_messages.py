"""What a user sees: errors at the line of their code, fallback warnings at that line with a
one-line reason, progress of slow builds, and the build report."""
import logging
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest

import arbor_pycat
from arbor_pycat import builder
from checks import assert_trace

HERE = Path(__file__).resolve()
PACKAGE = Path(arbor_pycat.__file__).resolve().parent


def line_of(marker):
    """The line of this file that ends with ``# <marker>``."""
    lines = HERE.read_text().splitlines()
    found = [k + 1 for k, line in enumerate(lines) if line.rstrip().endswith(f"# {marker}")]
    assert len(found) == 1, marker
    return found[0]


def library_frames(error):
    return [frame for frame in traceback.extract_tb(error.__traceback__)
            if Path(frame.filename).resolve().is_relative_to(PACKAGE)]


def test_typo_names_the_line_and_the_closest_field():
    with pytest.raises(arbor_pycat.MechanismError) as info:
        @arbor_pycat.register
        class Typo(arbor_pycat.CustomMechanism):
            name = "typo"
            parameters = [("gnabar", "S/cm2", 0.12), ("gkbar", "S/cm2", 0.036)]

            def compute_currents(self, pp):
                g = 2.0 * pp.gnbar  # typo here
                pp.i = g * (pp.v + 65.0)
    error = info.value
    text = str(error)
    assert "compute_currents uses pp.gnbar, which is not a field here" in text
    assert "did you mean 'gnabar'?" in text
    assert (Path(error.filename), error.lineno) == (HERE, line_of("typo here"))
    assert f'File "{HERE}", line {error.lineno}, in ' in text and "Typo.compute_currents" in text
    shown = text.splitlines()
    assert shown[-2].strip() == "g = 2.0 * pp.gnbar  # typo here"
    # carets under pp.gnbar exactly
    assert shown[-1].index("^") == shown[-2].index("pp.gnbar") and shown[-1].count("^") == len("pp.gnbar")
    # the traceback ends at the user's code (one frame of register() is the raise itself)
    assert len(library_frames(error)) <= 1
    assert error.__suppress_context__ and error.__cause__ is None
    original = error.__context__
    assert isinstance(original, arbor_pycat.MechanismError) and str(original) == text
    assert len(library_frames(original)) >= 3          # the library frames are kept there


def test_no_suggestion_when_nothing_is_close():
    with pytest.raises(arbor_pycat.MechanismError) as info:
        @arbor_pycat.register
        class Far(arbor_pycat.CustomMechanism):
            name = "far"

            def compute_currents(self, pp):
                pp.i = pp.zzzzqqq
    assert "did you mean" not in str(info.value)


def test_read_only_write_points_at_the_assignment():
    with pytest.raises(arbor_pycat.MechanismError) as info:
        @arbor_pycat.register
        class Bad(arbor_pycat.CustomMechanism):
            name = "bad"

            def compute_currents(self, pp):
                x = pp.v
                pp.v = x - 1.0  # the write
    assert info.value.lineno == line_of("the write")
    assert "writes pp.v, which is read-only here" in str(info.value)


def test_wrong_signature_points_at_the_def():
    with pytest.raises(arbor_pycat.MechanismError) as info:
        @arbor_pycat.register
        class Sig(arbor_pycat.CustomMechanism):
            name = "sig"

            def compute_currents(self):  # the def
                pass
    assert info.value.lineno == line_of("the def")


def test_build_of_an_unregistered_class_hides_library_frames_too():
    class Unregistered(arbor_pycat.CustomMechanism):
        name = "unregistered"
        state_vars = [("m", "", 0.0)]

        def advance_state(self, pp):
            pp.m = 2.0 * pp.mm  # not m
    with pytest.raises(arbor_pycat.MechanismError) as info:
        arbor_pycat.build(Unregistered, backend="python")
    assert info.value.lineno == line_of("not m")
    assert "advance_state uses pp.mm" in str(info.value) and "did you mean 'm'?" in str(info.value)
    assert len(library_frames(info.value)) <= 1


class UsesSelf(arbor_pycat.CustomMechanism):
    name = "uses_self"
    parameters = [("g", "S/cm2", 0.001)]

    def __init__(self):          # an instance attribute: the compiler sees class attributes only
        super().__init__()
        self.erev = -65.0

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - self.erev)  # self here


class AssignsList(arbor_pycat.CustomMechanism):
    name = "assigns_list"
    state_vars = [("q10", "", 1.0)]

    def init_mechanism(self, pp):
        pp.q10 = [1.0, 1.0, 1.0]  # a list

    def compute_currents(self, pp):
        pp.i = 0.001 * pp.q10 * (pp.v + 65.0)


def fallback_warning(cls, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arbor_pycat.build(cls, **options)
    found = [w for w in caught if "falling back to the python backend" in str(w.message)]
    assert len(found) == 1, [str(w.message) for w in caught]
    assert builder.last_backends[cls.name] == "python"
    return found[0]


def test_fallback_warning_names_the_users_line():
    warning = fallback_warning(UsesSelf)
    assert (Path(warning.filename), warning.lineno) == (HERE, line_of("self here"))
    assert f"(line {line_of('self here')})" in str(warning.message)


def test_numba_typing_error_is_one_line_with_the_users_line():
    warning = fallback_warning(AssignsList)
    text = str(warning.message)
    assert (Path(warning.filename), warning.lineno) == (HERE, line_of("a list"))
    first = text.splitlines()[0]
    assert "numba cannot assign list(float64) to pp.q10 (assign a number or a numpy array)" in first
    assert "Failed in nopython" not in text and len(text) < 400, text
    assert "verbose=True" in text
    verbose = str(fallback_warning(AssignsList, verbose=True).message)
    assert "Failed in nopython mode pipeline" in verbose


def test_numba_forced_error_has_the_location():
    with pytest.raises(arbor_pycat.MechanismError) as info:
        arbor_pycat.build(AssignsList, backend="numba")
    assert info.value.lineno == line_of("a list")
    assert "backend='numba' cannot compile it" in str(info.value)
    assert len(library_frames(info.value)) <= 1


class Quick(arbor_pycat.CustomMechanism):
    name = "quick_leak"
    parameters = [("g", "S/cm2", 0.001)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v + 65.0)
        pp.conductance = pp.g

    def apply_events_helper(self):      # not a mechanism method: ignored
        return np.zeros(1)


def test_build_report():
    arbor_pycat.build(Quick, backend="numba")
    report = arbor_pycat.build_report()
    entry = report["quick_leak"]
    assert entry.backend == "numba" and entry.forms == {"compute_currents": "scalar"}
    assert entry.cache in ("compiled", "disk") and entry.seconds > 0 and entry.fallback is None
    assert "quick_leak (density, class Quick): numba backend" in str(report)
    arbor_pycat.build(Quick, backend="numba")
    assert arbor_pycat.build_report()["quick_leak"].cache == "memory"
    arbor_pycat.build(Quick, backend="python")
    entry = arbor_pycat.build_report()["quick_leak"]
    assert (entry.backend, entry.cache, entry.forms) == ("python", None, {"compute_currents": "python"})
    assert builder.last_backends == {"quick_leak": "python"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arbor_pycat.build(UsesSelf)
    assert "uses 'self'" in arbor_pycat.build_report()["uses_self"].fallback


def test_verbose_prints_the_report(capsys):
    arbor_pycat.build(Quick, backend="python", verbose=True)
    err = capsys.readouterr().err
    assert "arbor_pycat build: 1 mechanism(s)" in err and "quick_leak (density, class Quick)" in err


def test_progress_of_a_slow_build(capsys, caplog, monkeypatch):
    monkeypatch.setattr(builder, "PROGRESS_AFTER", 0.0)     # every build counts as slow
    with caplog.at_level(logging.INFO, logger="arbor_pycat"):
        arbor_pycat.build(Quick, backend="numba", progress=True)
    err = capsys.readouterr().err
    assert "arbor_pycat: building mechanism 'quick_leak' (class Quick)..." in err
    assert "mechanism 'quick_leak' (class Quick): " in err and " s" in err.splitlines()[-1]
    assert any("building mechanism 'quick_leak'" in r.getMessage() for r in caplog.records)
    arbor_pycat.build(Quick, backend="numba", progress=False)
    assert capsys.readouterr().err == ""


def test_fast_builds_are_quiet(capsys):
    arbor_pycat.build(Quick, backend="numba")             # maybe compiled: not interactive
    arbor_pycat.build(Quick, backend="numba", progress=True)   # from memory: fast
    assert capsys.readouterr().err == ""


# --- a rebuilt catalogue and long-lived properties ------------------------------------------

def test_extending_properties_twice_explains_what_to_do():
    import arbor
    from arbor_pycat import models
    properties = arbor.neuron_cable_properties()
    arbor_pycat.extend(properties, arbor_pycat.build(models.Pas, backend="python"))
    rebuilt = arbor_pycat.build(models.Pas, backend="python")
    with pytest.raises(arbor_pycat.MechanismError) as info:
        arbor_pycat.extend(properties, rebuilt)
    text = str(info.value)
    assert "cannot add mechanism 'py_pas'" in text and "Arbor cannot replace a mechanism" in text
    assert "arbor_pycat.cable_properties(catalogue)" in text and "prefix='v2_'" in text
    assert "already exists" in str(info.value.__cause__)           # Arbor's own message
    arbor_pycat.extend(properties, rebuilt, prefix="v2_")
    assert "v2_py_pas" in properties.catalogue
    fresh = arbor_pycat.cable_properties(rebuilt)
    assert "py_pas" in fresh.catalogue and "hh" in fresh.catalogue


# --- what Arbor reports about a mechanism ---------------------------------------------------

@pytest.mark.parametrize("declared, arbor_text", [
    ("S/cm2", "S / cm2"), ("mA/cm2", "mA / cm2"), ("1/ms", "1 / ms"), ("/ms", "/ ms"),
    ("m2/s", "m2 / s"), ("uS/um2/ms", "uS / um2 / ms"), ("mV ms", "mV ms"), ("mV", "mV"), ("", "")])
def test_units_are_written_as_modcc_writes_them(declared, arbor_text):
    """modcc's output for these units (PARAMETER { a = 1 (S/cm2) ... }, measured)."""
    from arbor_pycat.spec.units import arbor_units
    assert arbor_units(declared) == arbor_text


def test_catalogue_metadata_matches_arbors_hh():
    import arbor
    from arbor_pycat import models
    ours = arbor_pycat.build(models.HH, backend="python")["py_hh"]
    theirs = arbor.default_catalogue()["hh"]
    assert ours.kind == theirs.kind and ours.linear == theirs.linear is False
    assert set(ours.parameters) == set(theirs.parameters)
    for name, field in theirs.parameters.items():
        mine = ours.parameters[name]
        assert (mine.units, mine.default, mine.min, mine.max) == (field.units, field.default,
                                                                  field.min, field.max), name
    assert set(ours.state) == set(theirs.state)
    for name, field in theirs.state.items():
        assert (ours.state[name].units, ours.state[name].min, ours.state[name].max) == \
            (field.units, field.min, field.max)
    # documented difference: modcc reports NaN, arbor_pycat the declared default, which
    # Arbor writes into the state before init_mechanism (see the next test)
    assert np.isnan(theirs.state["q10"].default) and ours.state["q10"].default == 1.0


def test_declared_state_default_is_the_value_before_init():
    import arbor
    from arbor import units as U
    from pycat_cell import OneCell

    class Keeps(arbor_pycat.CustomMechanism):
        name = "keeps_default"
        state_vars = [("s", "", 3.0)]

        def advance_state(self, pp):
            pp.s = pp.s * 1.0

    class Recipe(OneCell):
        def probes(self, gid):
            return [arbor.cable_probe_density_state("(location 0 0.5)", "keeps_default", "s", "s")]

    recipe = Recipe(arbor_pycat.build(Keeps, backend="python"), paint=["keeps_default"], clamp=0)
    sim = arbor.simulation(recipe)
    handle = sim.sample((0, "s"), arbor.regular_schedule(0.1 * U.ms))
    sim.run(0.5 * U.ms, 0.025 * U.ms)
    assert_trace(sim.samples(handle)[0][0][:, 1], length=5, near=3.0, atol=0.0, label="s")


def test_help_shows_the_docstring_and_the_units_table():
    import pydoc

    @arbor_pycat.register
    class Documented(arbor_pycat.CustomMechanism):
        """A leak conductance."""
        name = "documented"
        parameters = [("gbar", "S/cm2", 0.001), ("e", "mV", -65.0)]
        state_vars = [("x", "", 0.5)]

        def compute_currents(self, pp):
            pp.i = pp.gbar * (pp.v - pp.e)

    arbor_pycat.register(Documented)           # registering again does not repeat the table
    text = pydoc.render_doc(Documented, renderer=pydoc.plaintext)
    assert "A leak conductance." in text and "arbor_pycat mechanism 'documented' (kind 'density')" in text
    assert text.count("arbor_pycat mechanism 'documented'") == 1
    rows = [" ".join(line.replace("|", "").split()) for line in text.splitlines()]
    assert "parameter gbar S / cm2 0.001" in rows and "parameter e mV -65" in rows
    assert "state x - 0.5" in rows


def test_a_method_arbor_never_calls_points_at_its_def():
    with pytest.raises(arbor_pycat.MechanismError) as info:
        @arbor_pycat.register
        class Never(arbor_pycat.CustomMechanism):
            name = "never"

            def apply_events(self, pp, events):  # never called
                pass
    assert info.value.lineno == line_of("never called")
    assert "which Arbor never calls on a density mechanism" in str(info.value)


def read_gnbar(pp):
    return pp.gnbar


def test_python_backend_suggests_at_run_time():
    """An access the static check cannot see (pp passed to a function) fails when it runs."""
    from pycat_cell import OneCell, failure_text

    class Opaque(arbor_pycat.CustomMechanism):
        name = "opaque_typo"
        parameters = [("gnabar", "S/cm2", 0.12)]

        def compute_currents(self, pp):
            pp.i = read_gnbar(pp) * (pp.v + 65.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # 'cannot see every pp access'
        catalogue = arbor_pycat.build(Opaque, backend="python")
    text = failure_text(OneCell(catalogue, paint=["opaque_typo"]))
    assert "pp.gnbar is not a field here; did you mean 'gnabar'?" in text


class _Opaque:
    value = 2.0


_settings = _Opaque()


class UsesAnObject(arbor_pycat.CustomMechanism):
    name = "uses_an_object"
    parameters = [("g", "S/cm2", 0.001)]

    def compute_currents(self, pp):
        x = pp.g * 2.0
        pp.i = x * (pp.v + 65.0) * _settings.value  # an object numba cannot type


def test_fallback_for_a_global_object_names_its_line():
    warning = fallback_warning(UsesAnObject)
    assert "uses '_settings'" in str(warning.message)
    assert (Path(warning.filename), warning.lineno) == (HERE, line_of("an object numba cannot type"))
