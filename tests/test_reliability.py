"""Reliability: whatever a user writes, no crash and no silently wrong run.

Each test reproduces one case that once crashed, ran silently wrong or gave a
misleading error. Where a crash is possible the case runs in a fresh
interpreter (``run_snippet``), so that a segmentation fault fails one test
instead of killing pytest.
"""
import abc
import math

import numpy as np
import pytest

import arbor_pycat
from arbor_pycat import CustomMechanism, MechanismError, register
from pycat_cell import OneCell, check_snippet, run_snippet, simulate


def _message(cls_body):
    with pytest.raises(MechanismError) as info:
        cls_body()
    return str(info.value)


# -- declarations and signatures (register time) ----------------------------------

@pytest.mark.parametrize("attribute", ["parameters", "state_vars", "globals"])
def test_nan_default_is_refused_at_register(attribute):
    def declare():
        @register
        class NanDefault(CustomMechanism):
            name = "nan_default"
            locals()[attribute] = [("g", "", math.nan)]
    message = _message(declare)
    assert "NanDefault" in message and "'g'" in message and "NaN" in message, message


def test_complex_default_is_refused_at_register():
    def declare():
        @register
        class ComplexDefault(CustomMechanism):
            name = "complex_default"
            parameters = [("g", "", 1 + 2j)]
    message = _message(declare)
    assert "ComplexDefault" in message and "'g'" in message and "real" in message, message


def test_async_method_is_refused_at_register():
    def declare():
        @register
        class Async(CustomMechanism):
            name = "async_mech"

            async def advance_state(self, pp):
                pass
    message = _message(declare)
    assert "Async" in message and "advance_state" in message and "async def" in message, message


def test_generator_method_is_refused_at_register():
    def declare():
        @register
        class Gen(CustomMechanism):
            name = "gen_mech"
            state_vars = ["s"]

            def advance_state(self, pp):
                pp.s[:] = 1.0
                yield
    message = _message(declare)
    assert "Gen" in message and "advance_state" in message and "generator" in message, message


def test_required_keyword_only_argument_is_refused_at_register():
    def declare():
        @register
        class KwOnly(CustomMechanism):
            name = "kw_only"

            def advance_state(self, pp, *, k):
                pass
    message = _message(declare)
    assert "KwOnly" in message and "advance_state" in message and "keyword-only" in message, message
    assert "k" in message


def test_keyword_only_argument_with_a_default_is_fine():
    @register
    class KwDefault(CustomMechanism):
        name = "kw_default"
        state_vars = ["s"]

        def advance_state(self, pp, *, k=2.0):
            pp.s[:] = k
    assert "kw_default" in set(arbor_pycat.build(KwDefault, backend="python"))


def test_abstract_class_is_refused_at_register():
    class Base(CustomMechanism, abc.ABC):
        @abc.abstractmethod
        def rate(self):
            ...

    def declare():
        @register
        class Abstract(Base):
            name = "abstract_mech"

            def advance_state(self, pp):
                pass
    message = _message(declare)
    assert "Abstract" in message and "abstract" in message and "rate" in message, message


def test_init_with_required_arguments_is_refused_at_register():
    def declare():
        @register
        class NeedsArgs(CustomMechanism):
            name = "needs_args"

            def __init__(self, tau):
                self.tau = tau

            def advance_state(self, pp):
                pass
    message = _message(declare)
    assert "NeedsArgs" in message and "__init__" in message and "tau" in message, message


def test_init_that_raises_is_a_mechanism_error_at_build():
    @register
    class InitFails(CustomMechanism):
        name = "init_fails"

        def __init__(self):
            raise RuntimeError("no licence")

        def advance_state(self, pp):
            pass
    with pytest.raises(MechanismError) as info:
        arbor_pycat.build(InitFails, backend="python")
    message = str(info.value)
    assert "InitFails" in message and "no licence" in message, message


def test_declared_names_are_normalised_like_python_identifiers():
    """'tau_µ' (micro sign) in a declaration is 'tau_μ' (Greek mu) in source code."""
    micro = "tau_\u00b5"

    @register
    class Micro(CustomMechanism):
        name = "micro_sign"
        parameters = [(micro, "ms", 2.0)]
        state_vars = [("s", "", 0.0)]

        def init_mechanism(self, pp):
            pp.s[:] = pp.tau_µ      # the parser turns this into tau_μ

    spec = arbor_pycat.declarations.spec_of(Micro)
    assert spec.parameters[0].name == "tau_\u03bc"
    catalogue = arbor_pycat.build(Micro, backend="python")
    assert "micro_sign" in set(catalogue)


def test_names_equal_after_normalisation_are_duplicates():
    def declare():
        @register
        class Twice(CustomMechanism):
            name = "twice"
            parameters = [("tau_\u00b5", "", 1.0)]
            state_vars = [("tau_\u03bc", "", 1.0)]
    message = _message(declare)
    assert "Twice" in message and "already declared" in message, message


# -- the python backend's pp (run time, in a subprocess) ---------------------------

PRELUDE = """
import arbor
import numpy as np
import arbor_pycat
from arbor_pycat import CustomMechanism, register
from pycat_cell import OneCell, failure_text, simulate
"""


def _snippet(body, timeout=120):
    """Run PRELUDE + body in a fresh interpreter; it must exit with 0 and print OK."""
    result = check_snippet(PRELUDE + body, timeout=timeout)
    assert "OK" in result.stdout, result.stdout + result.stderr
    return result


def test_pp_raw_is_read_only():
    _snippet("""
@register
class Raw(CustomMechanism):
    name = "raw_writer"
    state_vars = ["s"]
    what = "width"

    def advance_state(self, pp):
        assert pp.raw.width == len(pp.s) and pp.raw.dt > 0
        assert pp.raw.vec_v.shape[0] >= 1 and not pp.raw.vec_v.flags.writeable
        if Raw.what == "width":
            pp.raw.width = 10**7
        elif Raw.what == "vec_v":
            pp.raw.vec_v[5 * 10**7] = 0.0
        elif Raw.what == "vec_v0":
            pp.raw.vec_v[0] = 0.0
        else:
            pp.raw.parameters

catalogue = arbor_pycat.build(Raw, backend="python")
texts = {}
for what in ("width", "vec_v", "vec_v0", "parameters"):
    Raw.what = what
    texts[what] = failure_text(OneCell(catalogue, paint=["raw_writer"]))
assert "pp.raw is read-only" in texts["width"], texts["width"]
assert "read-only" in texts["vec_v"], texts["vec_v"]
assert "read-only" in texts["vec_v0"], texts["vec_v0"]
assert "pp.raw.parameters is not available" in texts["parameters"], texts["parameters"]
print("OK")
""")


KEEPER = """
@register
class Keeper(CustomMechanism):
    name = "keeper"
    state_vars = [("m", "", 0.5)]
    how = {how!r}
    kept = []

    def advance_state(self, pp):
        if self.kept and Keeper.how != "slice":   # a later simulation: write what was kept
            target = self.kept[0]
            if isinstance(target, np.ndarray):
                target[:] = 123.0
            else:
                target.m[:] = 123.0
        if Keeper.how == "view":
            self.kept.append(pp.m)
        elif Keeper.how == "slice":
            self.kept.append(pp.m[0:])
        elif Keeper.how == "pp":
            self.kept.append(pp)
        elif Keeper.how == "v":
            self.kept.append(pp.v)
        elif Keeper.how == "copy":
            self.kept[:] = [np.array(pp.m)]
        pp.m[:] = pp.m + 0.0

catalogue = arbor_pycat.build(Keeper, backend="python")
for attempt in range(3):
    recipe = OneCell(catalogue, paint=["keeper"], ncv=3)
    sim = arbor.simulation(recipe, arbor.context(threads=1))
    try:
        sim.run(1 * arbor.units.ms, 0.025 * arbor.units.ms)
        print("RAN", attempt)
    except RuntimeError as exc:
        print("REFUSED", attempt, str(exc).splitlines()[0])
    del sim, recipe
print("OK")
"""


@pytest.mark.parametrize("how, field", [("view", "pp.m"), ("slice", "pp.m"), ("pp", "pp"),
                                        ("v", "pp.v")])
def test_a_view_kept_after_the_call_is_refused(how, field):
    """Keeping pp.m (or a view of it, or pp) beyond the call: a clear error at that call,
    every time; what was kept is disarmed, so that writing it in a later simulation is
    an error too, never a write into freed memory. (A slice the method made itself
    cannot be disarmed: that case only checks the error.)"""
    result = _snippet(KEEPER.format(how=how))
    lines = [line for line in result.stdout.splitlines() if line.startswith(("RAN", "REFUSED"))]
    assert len(lines) == 3 and all(line.startswith("REFUSED") for line in lines), result.stdout
    assert "still referenced after the method returned" in lines[0], lines[0]
    assert f"{field} " in lines[0] and "keeper" in lines[0] and "advance_state" in lines[0], lines[0]


def test_a_copy_kept_after_the_call_is_fine():
    result = _snippet(KEEPER.format(how="copy"))
    assert "RAN 0" in result.stdout and "RAN 2" in result.stdout, result.stdout


@pytest.mark.parametrize("assignment, field, what", [
    ("pp.m = None", "pp.m", "None"),
    ("pp.i = None", "pp.i", "None"),
    ("pp.m = pp.m * (1 + 1j)", "pp.m", "complex"),
    ("pp.i = np.zeros(len(pp.v), dtype=complex)", "pp.i", "complex"),
    ("pp.m = [None] * len(pp.v)", "pp.m", "None"),
    ("pp.m = 'abc'", "pp.m", "not real numbers"),
])
def test_none_and_complex_assignments_name_the_field(assignment, field, what):
    _snippet(f"""
@register
class Assigns(CustomMechanism):
    name = "assigns"
    state_vars = [("m", "", 0.5)]

    def compute_currents(self, pp):
        {assignment}
        pp.conductance = 0.0

text = failure_text(OneCell(arbor_pycat.build(Assigns, backend="python"), paint=["assigns"], ncv=2))
assert "{field} was assigned" in text and "{what}" in text and "assigns" in text, text
print("OK")
""")


def test_writes_through_an_alias_reach_arbor_on_non_contiguous_cvs():
    """x = pp.v; x[:] = -20 in init_mechanism: the same run as pp.v[:] = -20, also
    where the mechanism's CVs are not contiguous (pp.v is a gathered copy)."""
    _snippet("""
class Probed(OneCell):
    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage('(location 0 0.05)', "v")]


def make(alias):
    @register
    class Init(CustomMechanism):
        name = "alias_init" if alias else "direct_init"
        state_vars = [("s", "", 0.0)]

        if alias:
            def init_mechanism(self, pp):
                x = pp.v
                x[:] = -20.0
                s = pp.s
                s[:] = 1.0
        else:
            def init_mechanism(self, pp):
                pp.v[:] = -20.0
                pp.s[:] = 1.0
    return Init

traces = {}
region = "(join (cable 0 0 0.2) (cable 0 0.8 1))"      # CVs 0 and 2 of 3: not contiguous
for alias in (True, False):
    cls = make(alias)
    catalogue = arbor_pycat.build(cls, backend="python")
    recipe = Probed(catalogue, paint=[cls.name], ncv=3, region=region, clamp=0.0)
    traces[alias], _, _ = simulate(recipe, t_end=2.0)
assert abs(traces[False][0] - (-65.0)) > 10.0, traces[False][:3]     # the write took effect
assert np.array_equal(traces[True], traces[False]), (traces[True][:5], traces[False][:5])
print("OK")
""")
