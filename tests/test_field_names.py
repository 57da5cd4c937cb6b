"""Fields named by strings: ``getattr(pp, name)`` and ``setattr(pp, name, value)``.

The access analysis (``spec.inspection.analyse`` with ``spec.field_names``)
must find exactly the fields a method touches through them, from the loop that
binds the name where it is used, and give up (an opaque access, with the line)
where it cannot. No simulation here: ``tests/test_compiler.py`` runs
``NamedFields`` under both backends.
"""
import pytest

from arbor_pycat import CustomMechanism, MechanismError
from arbor_pycat.spec import make_spec
from arbor_pycat.spec.inspection import analyse

GATES = ("m", "h")
RATES = {"m": 1.0, "h": 2.0}
CURRENTS = ("ina", "ik")
NOT_NAMES = (1, 2)


class Gates:
    STATES = ("m", "h", "n")

    def literal(self, pp):
        pp.x = getattr(pp, "m")

    def loop(self, pp):
        for gate in GATES:
            setattr(pp, gate, getattr(pp, gate) * 2.0)

    def items(self, pp):
        for gate, rate in RATES.items():
            getattr(pp, gate)[:] = rate

    def class_constant(self, pp):
        total = sum(getattr(pp, g) for g in self.STATES)
        pp.i = total

    def zipped(self, pp):
        for gate, current in zip(GATES, CURRENTS):
            setattr(pp, current, getattr(pp, gate))

    def innermost(self, pp):
        for g in GATES:                 # reads m and h
            pp.x = getattr(pp, g)
        for g in CURRENTS:              # writes ina and ik, reads neither
            setattr(pp, g, pp.v)

    def literal_list(self, pp):
        for g in ["n"]:
            setattr(pp, g, 0.0)

    def rebound(self, pp):
        for g in GATES:
            g = g + "x"
            setattr(pp, g, 0.0)

    def computed(self, pp):
        name = "m" if pp.dt > 0.1 else "h"
        setattr(pp, name, 0.0)

    def numbers(self, pp):
        for g in NOT_NAMES:
            setattr(pp, g, 0.0)

    def default(self, pp):
        getattr(pp, "m", None)

    def passed(self, pp):
        print(pp)


@pytest.mark.parametrize("method, reads, writes", [
    ("literal", {"m"}, {"x"}),
    ("loop", {"m", "h"}, {"m", "h"}),
    ("items", {"m", "h"}, {"m", "h"}),
    ("class_constant", {"m", "h", "n"}, {"i"}),
    ("zipped", {"m", "h"}, {"ina", "ik"}),
    ("innermost", {"m", "h", "v"}, {"x", "ina", "ik"}),
    ("literal_list", set(), {"n"}),
])
def test_names_are_resolved_where_they_are_used(method, reads, writes):
    access = analyse(getattr(Gates, method), owner=Gates)
    assert not access.opaque, access.why_opaque
    assert access.reads == reads and access.writes == writes
    assert access.named


@pytest.mark.parametrize("method, why", [
    ("rebound", "not a constant string"),
    ("computed", "not a constant string"),
    ("numbers", "not a constant string"),
    ("default", "only getattr(pp, name)"),
    ("passed", "other than as 'pp.<field>'"),
])
def test_unresolved_names_make_the_access_opaque(method, why):
    access = analyse(getattr(Gates, method), owner=Gates)
    assert access.opaque and why in access.why_opaque
    if method != "passed":
        assert "(line " in access.why_opaque


SHADOWED = """
def getattr(obj, name):      # a module function shadowing the builtin
    return 0.0


class Shadowed:
    def compute_currents(self, pp):
        pp.i = getattr(pp, "g")     # this module's getattr: pp is passed to a function
"""


def test_a_shadowed_getattr_is_not_the_builtin(tmp_path, monkeypatch):
    import importlib
    (tmp_path / "shadowed_getattr.py").write_text(SHADOWED)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("shadowed_getattr")
    access = analyse(module.Shadowed.compute_currents, owner=module.Shadowed)
    assert access.opaque and "other than as 'pp.<field>'" in access.why_opaque


def test_a_named_field_that_does_not_exist_is_an_error_at_register():
    class Typo(CustomMechanism):
        name = "typo_named"
        state_vars = [("m", "", 0.0)]

        def advance_state(self, pp):
            for gate in ("m", "mm"):
                setattr(pp, gate, 0.0)

    with pytest.raises(MechanismError, match="mm"):
        make_spec(Typo)


def _line_of(marker):
    from pathlib import Path
    lines = Path(__file__).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.rstrip().endswith(f"# {marker}"))


def test_a_read_only_field_written_by_name_is_refused_at_its_line():
    class Writer(CustomMechanism):
        name = "named_readonly"
        state_vars = [("m", "", 0.0)]

        def advance_state(self, pp):
            for field in ("m", "v"):
                setattr(pp, field, 0.0)   # named-readonly

    with pytest.raises(MechanismError, match=r"pp\.v") as caught:
        make_spec(Writer)
    assert caught.value.lineno == _line_of("named-readonly")
    assert caught.value.filename == __file__
