"""``compare()``'s options: the keywords and the dataclasses ``Cell``, ``Stimulus``
and ``Run`` give the same runs, bad values are clear errors before anything is
built, and the backend reported is the one the twin's own build gave.
"""
import dataclasses
import math
import threading

import numpy as np
import pytest

import arbor_pycat
from arbor_pycat import CustomMechanism, builder, compare, models
from arbor_pycat.comparison import Cell, Run, Stimulus

BACKEND = "python"      # these test compare()'s options; test_equivalence.py covers the backends

# Every option away from its default, as keywords and as the three dataclasses.
SYNAPSE_KEYWORDS = dict(cvs=3, cells=2, length=150.0, radius=0.8, temperature=10.0, region="(all)",
                        base=["hh"], stimulus=0.3, stimulus_start=2.0, stimulus_duration=20.0,
                        weight=0.03, event_start=3.0, event_interval=6.0, duration=30.0, dt=0.02,
                        sample_interval=0.1, threads=1, seed=3, backend=BACKEND)
SYNAPSE_OBJECTS = dict(
    cell=Cell(cvs=3, cells=2, length=150.0, radius=0.8, temperature=10.0, region="(all)", base=["hh"]),
    stimulus=Stimulus(amplitude=0.3, start=2.0, duration=20.0, weight=0.03, event_start=3.0,
                      event_interval=6.0),
    run=Run(duration=30.0, dt=0.02, sample_interval=0.1, threads=1, seed=3, backend=BACKEND))


def assert_same_runs(a, b):
    for name in ("time", "v_reference", "v_python"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.spikes_reference == b.spikes_reference and a.spikes_python == b.spikes_python
    assert a.state_differences == b.state_differences and a.ion_differences == b.ion_differences
    for name in a.states_python:
        assert np.array_equal(a.states_python[name], b.states_python[name]), name
    assert (a.cvs, a.cells, a.duration, a.dt, a.threads, a.backend) == \
        (b.cvs, b.cells, b.duration, b.dt, b.threads, b.backend)


def test_dataclasses_and_keywords_give_identical_runs():
    by_keyword = compare(models.ExpSyn, **SYNAPSE_KEYWORDS)
    by_object = compare(models.ExpSyn, **SYNAPSE_OBJECTS)
    assert_same_runs(by_keyword, by_object)
    # every option reached the run: 2 cells of 3 CVs, sampled every 0.1 ms up to 30 ms, with
    # events (the synapse's g moved) and spikes; and the two implementations agree
    assert (by_object.cvs, by_object.cells, by_object.dt) == (3, 2, 0.02)
    assert by_object.v_python.shape == (300, 6) and by_object.time[1] - by_object.time[0] == \
        pytest.approx(0.1)
    assert np.max(by_object.states_python["g"]) > 0.02
    assert by_object.spike_counts[0] > 0 and by_object.agrees(), by_object
    # and they changed the run: the defaults give another one
    default = compare(models.ExpSyn, backend=BACKEND, duration=30.0)
    assert default.v_python.shape != by_object.v_python.shape


def test_keywords_and_objects_mix():
    keywords = compare(models.Pas, backend=BACKEND, cvs=2, duration=20.0, stimulus=0.1,
                       parameters={"g": 2e-4})
    mixed = compare(models.Pas, cell=Cell(cvs=2), run=Run(duration=20.0, backend=BACKEND), stimulus=0.1,
                    parameters={"g": 2e-4})
    amplitude_only = compare(models.Pas, cell=Cell(cvs=2), duration=20.0, backend=BACKEND,
                             stimulus=Stimulus(0.1), parameters={"g": 2e-4})
    assert_same_runs(keywords, mixed)
    assert_same_runs(keywords, amplitude_only)
    v = keywords.v_python
    assert v.shape[1] == 2 and np.ptp(v) > 1.0, "the clamp moved v"


def test_options_are_frozen_reusable_and_normalised():
    cell = Cell(cvs=4.0, base="pas")
    assert cell.cvs == 4 and isinstance(cell.cvs, int) and cell.base == ("pas",)
    assert Cell(base=None).base == () and Cell().base == "auto"
    assert Stimulus(None).amplitude == 0.0 and Stimulus(0).amplitude == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cell.cvs = 2
    assert hash(cell) == hash(Cell(cvs=4, base=("pas",))) and cell == Cell(cvs=4, base=["pas"])
    assert dataclasses.replace(Run(), dt=0.01).dt == 0.01
    with pytest.raises(ValueError, match=r"Run\.dt \(dt=\)"):
        dataclasses.replace(Run(), dt=0.0)


# (keyword, bad value, words the message must have besides the keyword and the value)
BAD = [
    ("cvs", 0, "CVs"), ("cvs", 2.5, "whole"), ("cvs", "4", "whole"), ("cvs", True, "whole"),
    ("cells", 0, "cells"),
    ("length", -1.0, "µm"), ("length", math.inf, "µm"), ("radius", 0.0, "µm"),
    ("temperature", -300.0, "°C"), ("temperature", math.nan, "°C"),
    ("region", "", "region"), ("region", 3, "region"),
    ("base", [3], "arbor.density"), ("base", 5, "list"),
    ("diffusivity", -1e-9, "m²/s"), ("decorate", 5, "function"),
    ("stimulus", "big", "nA"), ("stimulus", math.nan, "nA"),
    ("stimulus_start", -1.0, "ms"), ("stimulus_duration", -5.0, "ms"),
    ("weight", math.inf, "weight"), ("event_start", -1.0, "ms"), ("event_interval", 0.0, "ms"),
    ("duration", 0.0, "ms"), ("duration", -10.0, "ms"), ("dt", 0.0, "ms"), ("dt", math.nan, "ms"),
    ("sample_interval", -0.1, "ms"), ("threads", 0, "threads"), ("seed", -1, ">= 0"),
    ("backend", 3, "python"),
    ("parameters", [("g", 1.0)], "dict"), ("states", "g", "names"), ("states", [1], "names"),
    ("ion", "na+", "ion"), ("cell", 5, "Cell"), ("run", Cell(), "Run"),
]


@pytest.mark.parametrize("keyword, value, words", BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_a_bad_option_is_a_clear_error_before_anything_is_built(keyword, value, words):
    before = arbor_pycat.build_report()
    with pytest.raises(ValueError) as info:
        compare(models.ExpSyn, **{"backend": BACKEND, keyword: value})
    message = str(info.value)
    assert keyword in message, message
    assert repr(value) in message and words in message, message
    assert message.startswith("compare(): ")
    assert arbor_pycat.build_report() is before, "nothing may be built for a bad option"


@pytest.mark.parametrize("cls, field, value", [
    (Cell, "cvs", -2), (Cell, "radius", "thick"), (Stimulus, "start", -3.0),
    (Stimulus, "event_interval", -1.0), (Run, "threads", 1.5), (Run, "duration", math.nan)])
def test_a_bad_value_is_refused_when_the_object_is_made(cls, field, value):
    with pytest.raises(ValueError) as info:
        cls(**{field: value})
    message = str(info.value)
    assert f"{cls.__name__}.{field}" in message and repr(value) in message, message


@pytest.mark.parametrize("name, value, says", [
    ("gbar", 1.0, "'gbar' is not a parameter or global of mechanism 'py_expsyn'"),
    ("tau", "slow", "parameters['tau'] must be a finite number, not 'slow'"),
    ("tau", math.nan, "parameters['tau'] must be a finite number, not nan"),
])
def test_bad_parameters_name_the_parameter(name, value, says):
    with pytest.raises(ValueError) as info:
        compare(models.ExpSyn, backend=BACKEND, parameters={name: value})
    assert says in str(info.value)


def test_a_parameter_the_reference_lacks_is_named():
    class Leakier(models.Pas):
        name = "leakier"
        parameters = [("g", "S/cm2", 0.001), ("scale", "", 1.0)]

        def compute_currents(self, pp):
            pp.i = pp.scale * pp.g * (pp.v - pp.e)

    with pytest.raises(ValueError, match="'scale' is not a parameter or global of the compiled 'pas'"):
        compare(Leakier, "pas", backend=BACKEND, parameters={"scale": 2.0})


def test_a_state_that_only_one_side_has_is_named():
    with pytest.raises(ValueError, match=r"states: 'h' is not a state variable of both"):
        compare(models.ExpSyn, backend=BACKEND, states=["g", "h"])


@pytest.mark.parametrize("keyword, value, objects", [
    ("cvs", 4, dict(cell=Cell(cvs=2))),
    ("temperature", 20.0, dict(cell=Cell())),
    ("duration", 50.0, dict(run=Run(duration=20.0))),
    ("weight", 0.5, dict(stimulus=Stimulus(0.1))),
    ("stimulus_start", 1.0, dict(stimulus=Stimulus())),
])
def test_a_keyword_beside_its_object_is_an_error(keyword, value, objects):
    with pytest.raises(ValueError) as info:
        compare(models.ExpSyn, **{keyword: value}, **objects)
    message = str(info.value)
    assert f"{keyword}={value!r}" in message and "not both" in message, message


def test_an_unknown_backend_is_named():
    with pytest.raises(arbor_pycat.MechanismError, match="backend 'cuda'"):
        compare(models.Pas, backend="cuda", duration=1.0)


# -- which backend ran: the twin's own build report -----------------------------

def test_the_backend_reported_is_the_one_the_twin_got_despite_a_build_in_between(monkeypatch):
    """Right after compare()'s own build, another thread builds a python mechanism
    of the very same name: build_report() and last_backends then say "python", but
    the twin that ran was built by numba, and compare() must say so."""
    class SameName(CustomMechanism):
        name = "pas_pycat"            # the name compare() gives the twin of models.Pas
        parameters = [("g", "S/cm2", 0.001)]

        def compute_currents(self, pp):
            pp.i = pp.g * (pp.v + 70.0)

    publish = builder._publish
    in_between = []

    def publish_then_build_in_another_thread(report):
        publish(report)
        if not in_between:
            in_between.append(None)
            thread = threading.Thread(target=lambda: in_between.append(
                arbor_pycat.build(SameName, backend="python")))
            thread.start()
            thread.join()

    monkeypatch.setattr(builder, "_publish", publish_then_build_in_another_thread)
    result = compare(models.Pas, backend="numba", duration=5.0, stimulus=0.1)
    assert len(in_between) == 2 and "pas_pycat" in set(in_between[1]), "the other build ran"
    assert arbor_pycat.build_report()["pas_pycat"].backend == "python"
    assert builder.last_backends == {"pas_pycat": "python"}
    assert result.backend == "numba", result
    assert "(numba backend)" in str(result) and result.agrees(), result


def test_build_with_report_returns_its_own_report_and_updates_the_aliases():
    def leak(mechanism_name):
        class Leak(CustomMechanism):
            name = mechanism_name

            def compute_currents(self, pp):
                pp.i = 1e-4 * (pp.v + 65.0)
        return Leak

    first, second = leak("alias_first"), leak("alias_second")
    catalogue, report = builder.build_with_report(first, backend="python")
    assert set(catalogue) == {"alias_first"} and [m.name for m in report.mechanisms] == ["alias_first"]
    assert arbor_pycat.build_report() is report and builder.last_report is report
    assert builder.last_backends == {"alias_first": "python"}
    arbor_pycat.build(second, backend="python")
    assert [m.name for m in report.mechanisms] == ["alias_first"]     # its own, unchanged
    assert arbor_pycat.build_report()["alias_second"].backend == "python"
    assert builder.last_backends == {"alias_second": "python"}
