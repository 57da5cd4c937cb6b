"""build() and register(): repeated builds, chosen classes, redefinition.

Tests that load catalogues into simulations run in a subprocess
(``check_snippet``) so that a crash fails one test instead of pytest.
"""
import pytest

import arbor_pycat
from arbor_pycat import CustomMechanism, register
from arbor_pycat import declarations

from pycat_cell import check_snippet


def _leak(name, e=-65.0):
    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g

    return type(f"Leak_{name}", (CustomMechanism,), {
        "name": name, "parameters": [("g", "S/cm2", 1e-3), ("e", "mV", e)],
        "compute_currents": compute_currents})


def test_register_returns_the_class_as_a_decorator():
    @register
    class Decorated(CustomMechanism):
        name = "decorated"

    assert isinstance(Decorated, type) and issubclass(Decorated, CustomMechanism)
    assert Decorated.name == "decorated"
    assert "decorated" in set(arbor_pycat.build(Decorated, backend="python"))


def test_build_selects_exactly_the_given_classes():
    a, b, c = (register(_leak(n)) for n in ("sel_a", "sel_b", "sel_c"))
    assert set(arbor_pycat.build(a, c, backend="python")) == {"sel_a", "sel_c"}
    assert set(arbor_pycat.build(b, backend="python")) == {"sel_b"}
    everything = set(arbor_pycat.build(backend="python"))
    assert {"sel_a", "sel_b", "sel_c"} <= everything
    assert set(arbor_pycat.builder.last_backends) == everything


def test_build_accepts_an_unregistered_class_without_registering_it():
    loose = _leak("loose")
    assert set(arbor_pycat.build(loose, backend="python")) == {"loose"}
    assert "loose" not in declarations._registry


def test_build_returns_a_new_catalogue_each_time():
    """Each build is a catalogue of its own: one built later, of a changed
    class, does not change those built before (distinct ids alone prove
    nothing: live objects always have distinct ids)."""
    catalogues = []
    for k in range(5):
        cls = register(_leak("again", e=-60.0 - k))
        catalogues.append(arbor_pycat.build(cls, backend="python"))
    assert all(set(c) == {"again"} for c in catalogues)
    defaults = [c["again"].parameters["e"].default for c in catalogues]
    assert defaults == [-60.0, -61.0, -62.0, -63.0, -64.0]


def test_last_backends_reports_the_backend_used():
    cls = register(_leak("which_backend"))
    arbor_pycat.build(cls, backend="python")
    assert arbor_pycat.builder.last_backends == {"which_backend": "python"}


def test_redefinition_replaces_the_class_in_the_registry():
    first = register(_leak("cell_rerun", e=-50.0))
    second = register(_leak("cell_rerun", e=-80.0))
    assert declarations._registry["cell_rerun"] is second
    assert [cls for cls in declarations.registered() if cls.name == "cell_rerun"] == [second]
    # build() of the registry builds the second class; the first stays buildable by hand
    assert arbor_pycat.build(backend="python")["cell_rerun"].parameters["e"].default == -80.0
    assert arbor_pycat.build(first, backend="python")["cell_rerun"].parameters["e"].default == -50.0


PRELUDE = """
import arbor
import numpy as np
import arbor_pycat
from arbor_pycat import CustomMechanism, register
from pycat_cell import OneCell, simulate

def rest(catalogue, name, t_end=20.0, threads=1):
    trace, _, _ = simulate(OneCell(catalogue, paint=[name], clamp=0.0), t_end=t_end, threads=threads)
    return trace[-1]
"""


def test_many_builds_in_one_process_all_keep_working():
    result = check_snippet(PRELUDE + """
catalogues = []
for k in range(40):
    @register
    class Leak(CustomMechanism):
        name = "many"
        parameters = [("g", "S/cm2", 1e-3), ("e", "mV", -60.0 - k)]

        def compute_currents(self, pp):
            pp.i = pp.g * (pp.v - pp.e)
            pp.conductance = pp.g

    catalogues.append(arbor_pycat.build(backend="python"))

# every catalogue, old or new, runs its own version of the class
for k in (0, 1, 17, 38, 39, 0):
    v = rest(catalogues[k], "many", t_end=100.0)
    assert abs(v - (-60.0 - k)) < 0.05, (k, v)
print("MANY OK")
""")
    assert "MANY OK" in result.stdout


def test_redefined_class_replaces_the_old_one_while_old_simulations_keep_working():
    result = check_snippet(PRELUDE + """
@register
class Leak(CustomMechanism):                # the first run of a notebook cell
    name = "rerun"
    parameters = [("g", "S/cm2", 1e-3)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v + 50.0)
        pp.conductance = pp.g

old_catalogue = arbor_pycat.build(backend="python")
old_recipe = OneCell(old_catalogue, paint=["rerun"], clamp=0.0)
old_sim = arbor.simulation(old_recipe)
old_handle = old_sim.sample((0, "v"), arbor.regular_schedule(1 * arbor.units.ms))
old_sim.run(10 * arbor.units.ms, 0.025 * arbor.units.ms)
first_half = old_sim.samples(old_handle)[0][0][:, 1].copy()

@register
class Leak(CustomMechanism):                # the same cell, run again with a change
    name = "rerun"
    parameters = [("g", "S/cm2", 1e-3)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v + 80.0)
        pp.conductance = pp.g

new_catalogue = arbor_pycat.build(backend="python")
assert sorted(new_catalogue) == ["rerun"]
assert abs(rest(new_catalogue, "rerun", t_end=100.0) + 80.0) < 0.05

# The simulation made before the redefinition goes on with the old class ...
old_sim.run(100 * arbor.units.ms, 0.025 * arbor.units.ms)
trace = old_sim.samples(old_handle)[0][0][:, 1]
assert np.all(trace[:len(first_half)] == first_half)
assert abs(trace[-1] + 50.0) < 0.05, trace[-1]
# ... and new simulations from the old catalogue still use the old class.
assert abs(rest(old_catalogue, "rerun", t_end=100.0) + 50.0) < 0.05
# Interleaving does not mix them up.
assert abs(rest(new_catalogue, "rerun", t_end=100.0) + 80.0) < 0.05
print("REDEFINED OK")
""")
    assert "REDEFINED OK" in result.stdout


def test_old_catalogue_gives_the_same_results_after_redefinitions():
    # Compare the whole trace of a spiking simulation before and after the
    # class was redefined and rebuilt several times.
    result = check_snippet(PRELUDE + """
@register
class Kick(CustomMechanism):
    name = "kick"
    state_vars = [("t", "ms", 0.0)]
    parameters = [("g", "S/cm2", 1e-3)]

    def advance_state(self, pp):
        pp.t += pp.dt

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v + 65.0) - np.where(pp.t % 20.0 > 15.0, 0.2, 0.0)
        pp.conductance = pp.g

cat = arbor_pycat.build(backend="python")
before, _, _ = simulate(OneCell(cat, paint=["hh", "kick"], clamp=0.0), t_end=60.0)
for _ in range(5):
    @register
    class Kick(CustomMechanism):
        name = "kick"
        parameters = [("g", "S/cm2", 1e-3)]

        def compute_currents(self, pp):
            pp.i = pp.g * (pp.v + 65.0)
            pp.conductance = pp.g
    arbor_pycat.build(backend="python")
after, _, _ = simulate(OneCell(cat, paint=["hh", "kick"], clamp=0.0), t_end=60.0)
assert np.array_equal(before, after)
assert before.max() > 0.0      # it spiked: the old class with its kicks ran
print("SAME OK")
""")
    assert "SAME OK" in result.stdout


def test_catalogues_built_at_once_can_run_side_by_side_with_threads():
    result = check_snippet(PRELUDE + """
@register
class LeakA(CustomMechanism):
    name = "side_a"
    def compute_currents(self, pp):
        pp.i = 1e-3 * (pp.v + 55.0)
        pp.conductance = 1e-3

@register
class LeakB(CustomMechanism):
    name = "side_b"
    def compute_currents(self, pp):
        pp.i = 1e-3 * (pp.v + 75.0)
        pp.conductance = 1e-3

cat_a = arbor_pycat.build(LeakA, backend="python")
cat_b = arbor_pycat.build(LeakB, backend="python")
assert sorted(cat_a) == ["side_a"] and sorted(cat_b) == ["side_b"]
assert abs(rest(cat_a, "side_a", 100.0, threads=2) + 55.0) < 0.05
assert abs(rest(cat_b, "side_b", 100.0, threads=2) + 75.0) < 0.05
print("SIDE OK")
""")
    assert "SIDE OK" in result.stdout


def test_extending_one_catalogue_with_two_builds_of_the_same_name_is_arbors_error():
    """Documented Arbor behaviour: names must be unique in the properties' catalogue."""
    result = check_snippet(PRELUDE + """
@register
class Leak(CustomMechanism):
    name = "twice"
    def compute_currents(self, pp):
        pp.i = 0.0
        pp.conductance = 0.0

props = arbor.neuron_cable_properties()
props.catalogue.extend(arbor_pycat.build(backend="python"), "")
try:
    props.catalogue.extend(arbor_pycat.build(backend="python"), "")
except Exception as exc:
    assert "twice" in str(exc), exc
else:
    raise AssertionError("extend accepted a duplicate")
props.catalogue.extend(arbor_pycat.build(backend="python"), "v2_")
assert "v2_twice" in set(props.catalogue)
print("PREFIX OK")
""")
    assert "PREFIX OK" in result.stdout
