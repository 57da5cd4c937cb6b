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
    erev = -65.0

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
    assert "arbor_pycat: compiling mechanism 'quick_leak' (class Quick)..." in err
    assert "mechanism 'quick_leak' (class Quick): " in err and " s" in err.splitlines()[-1]
    assert any("compiling mechanism 'quick_leak'" in r.getMessage() for r in caplog.records)
    arbor_pycat.build(Quick, backend="numba", progress=False)
    assert capsys.readouterr().err == ""


def test_fast_builds_are_quiet(capsys):
    arbor_pycat.build(Quick, backend="numba")             # maybe compiled: not interactive
    arbor_pycat.build(Quick, backend="numba", progress=True)   # from memory: fast
    assert capsys.readouterr().err == ""
