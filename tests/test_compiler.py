"""The numba backend's compiler against the python backend, the reference.

Whatever the compiler accepts must compute what the python backend computes
(to the rounding README documents: call-free exp/log/pow within a few ulp,
division by a literal as multiplication); what it cannot prove equivalent it
refuses with a reason. Every mechanism here runs under both backends on the
same cells, states and voltages compared:

* the element-wise vocabulary in many spellings (``compiler_mechanisms``),
  each of which must get the scalar form;
* the five styles of ``../shared/styles`` (when present);
* random compositions of the vocabulary, generated into a module;
* on an unbranched cable and on a forked cell (the index has gaps there);
* the silently wrong cases found before (aliases, name collisions, decorators,
  default arguments, writes into read-only arrays, recursion).
"""
import importlib.util
import random
import re
import sys
import warnings
from pathlib import Path

import arbor
import numpy as np
import pytest
from arbor import units as U

import arbor_pycat
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat import MechanismError
from arbor_pycat.declarations import spec_of
from arbor_pycat.recipe import CableRecipe

import compiler_mechanisms as M

STYLES = Path(__file__).resolve().parents[2] / "shared" / "styles"
# numba vs python: call-free exp/expm1/log/pow (a few ulp) and x/literal -> x*(1/literal).
RTOL, ATOL_MV = 1e-9, 1e-8


class Cells(CableRecipe):
    """One cell: an unbranched cable, or a Y (a soma branch forking into two), with
    ``mechanisms`` painted everywhere and every state of each probed on every CV."""

    def __init__(self, catalogue, mechanisms, fork=False, ncv=4):
        super().__init__(catalogue)
        self.mechanisms, self.fork, self.ncv = list(mechanisms), fork, ncv
        self.region = "(all)"
        if fork == "scattered":     # every other CV of an unbranched cable: pieces of one instance
            self.fork, self.ncv = False, 16
            self.region = "(join " + " ".join(f"(cable 0 {k / 16} {(k + 1) / 16})" for k in range(0, 16, 2)) + ")"

    def probes(self, gid):
        probes = [arbor.cable_probe_membrane_voltage_cell("v")]
        for mech, states in self.mechanisms:
            probes += [arbor.cable_probe_density_state_cell(mech, s, f"{mech}.{s}") for s in states]
        return probes

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        root = tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, 2), arbor.mpoint(60, 0, 0, 2), tag=1)
        if self.fork:
            tree.append(root, arbor.mpoint(60, 0, 0, 1), arbor.mpoint(100, 30, 0, 1), tag=3)
            tree.append(root, arbor.mpoint(60, 0, 0, 1), arbor.mpoint(100, -30, 0, 1), tag=3)
        decor = arbor.decor().set_property(Vm=-65 * U.mV)
        decor.paint("(all)", arbor.density("hh"))
        for mech, _ in self.mechanisms:
            decor.paint(self.region, arbor.density(mech))
        decor.place("(location 0 0)", arbor.i_clamp(2 * U.ms, 100 * U.ms, 0.4 * U.nA))
        return arbor.cable_cell(tree, decor, arbor.label_dict(),
                                discretization=arbor.cv_policy_fixed_per_branch(self.ncv))


def run(catalogue, mechanisms, fork=False, t_end=25.0):
    recipe = Cells(catalogue, mechanisms, fork)
    sim = arbor.simulation(recipe)
    tags = ["v"] + [f"{m}.{s}" for m, states in mechanisms for s in states]
    handles = {tag: sim.sample((0, tag), arbor.regular_schedule(0.5 * U.ms)) for tag in tags}
    sim.run(t_end * U.ms, 0.025 * U.ms)
    out = {}
    for tag, handle in handles.items():
        data, _ = sim.samples(handle)[0]
        out[tag] = data[:, 1:]
    return out


def build_both(classes):
    """{backend: catalogue}, and the numba forms {name: {method: form}}."""
    forms = {cls.name: numba_backend.compile(spec_of(cls)).modes for cls in classes}
    catalogues = {}
    for backend in ("python", "numba"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")      # no fallback
            catalogues[backend] = arbor_pycat.build(*classes, backend=backend)
    return catalogues, forms


def assert_same(runs, where):
    python, numba = runs["python"], runs["numba"]
    moved = 0
    for tag in python:
        a, b = python[tag], numba[tag]
        assert a.shape == b.shape and a.size > 0, (where, tag)
        # a state made of v (cm_decorated's s = 2 v + 1) inherits v's differences,
        # up to ATOL_MV; relative to the states' size, 1e-9 of rounding
        atol = ATOL_MV if tag == "v" else 1e-9
        bad = ~np.isclose(b, a, rtol=RTOL, atol=atol)
        assert not bad.any(), f"{where}: {tag} differs, max {np.max(np.abs(a - b))} at {np.argwhere(bad)[:3]}"
        moved += int(np.ptp(a) > 0)
    return moved


@pytest.fixture(scope="module")
def vocabulary():
    return build_both(M.ELEMENTWISE)


def _states(classes):
    return [(cls.name, [s[0] for s in cls.state_vars]) for cls in classes]


def test_every_spelling_gets_the_scalar_form(vocabulary):
    _, forms = vocabulary
    for cls in M.ELEMENTWISE:
        assert set(forms[cls.name].values()) == {"scalar"}, (cls.__name__, forms[cls.name])


@pytest.mark.parametrize("fork", [False, True, "scattered"], ids=["cable", "forked", "scattered"])
def test_every_spelling_computes_what_python_computes(vocabulary, fork):
    """On one range of CVs, on a fork (long pieces), on every other CV (the indexed loop,
    with the values read through the index copied first where only states are written)."""
    catalogues, _ = vocabulary
    mechanisms = _states(M.ELEMENTWISE)
    runs = {backend: run(cat, mechanisms, fork) for backend, cat in catalogues.items()}
    moved = assert_same(runs, str(fork))
    # The runs are not trivial: the cell spikes and most states change.
    assert np.ptp(runs["python"]["v"]) > 50.0
    assert moved >= len(M.ELEMENTWISE)


def test_branch_conditions_decided_per_instance():
    """``if`` on one instance's value inside a loop over instances takes each branch
    somewhere: cm_instance_loop's s is positive after v > -64 mV (vtrap + exp) and
    negative after v <= -64 mV (max(v, -66) + 0.01), and both occur."""
    catalogue = arbor_pycat.build(M.InstanceLoop, backend="numba")
    out = run(catalogue, [("cm_instance_loop", ["s"])])
    s, v = out["cm_instance_loop.s"], out["v"]
    assert (v > -64.0).any() and (v <= -64.0).any()
    assert (s > 0.0).any() and (s < 0.0).any()


@pytest.mark.parametrize("cls, reason", [
    (M.WrappedHelper, "decorator"),
    (M.Recursive, "recursive"),
    (M.IfOnArray, "ambiguous"),
    (M.NamedUnknown, "not a constant string"),
    (M.NestedFunction, r"defines the function f\(\) inside it \(line \d+\).*nested functions"),
    (M.CurrentAlias, r"writes into pp.i through another name.*assign pp.i directly"),
    (M.UnstableArgsort, r"calls argsort without kind='stable' \(line \d+\)"),
    (M.ChainedComparison, r"a truth test of per-instance values"),
    # (numba cannot type it: refused for that, not as a truth test, which it is not)
    (M.UniformAnd, r"Cannot unify bool and array"),
    (M.NestedInHelper, r"calls counter\(\) \(.*compiler_mechanisms.py\), which defines the function bump\(\)"),
    (M.InvertsPythonBool, r"~ of one boolean: Python's ~True is -2"),
    (M.TupleItemUpdate, r"updates an item of the list or tuple 'items'.*'\+=' on a tuple item"),
    (M.ListItemUpdateArrayForm, r"updates an item of the list or tuple 'items' \(line \d+\)"),
    (M.MathOfArray, r"only 0-dimensional arrays convert to Python scalars"),
    (M.SetInInit, r"self.K is set in __init__"),
    (M.CustomGetattribute, r"the class defines __getattribute__"),
    (M.MetaclassAttribute, r"self.K is an attribute of the class's metaclass"),
    (M.UsedAfterDel, r"uses 'SCALE' after 'del SCALE' \(Python raises NameError\)"),
    (M.MixedBooleans, r"'\+' of two single booleans.*\(and not element-wise: arithmetic on a boolean that is "
                      r"Python's on one path and numpy's on another"),
    (M.SingleBooleansArrayForm, r"'\+' of two single booleans: Python's True \+ True is 2"),
    (M.FormatsWholeArray, r"a raise message formats something that is not a number.*\(and not element-wise: "
                          r"a message formats a whole per-instance array"),
], ids=lambda x: getattr(x, "__name__", x))
def test_refused_with_a_reason(cls, reason):
    """What the compiler cannot prove equivalent: backend='numba' refuses, naming why."""
    cls.backend = "numba"
    try:
        with pytest.raises(MechanismError, match=reason):
            arbor_pycat.build(cls)
    finally:
        del cls.backend


def test_a_current_written_through_another_name_reaches_arbor_in_the_python_backend():
    """``i = pp.i; i += ...`` gives the trace of ``pp.i = ...`` (python backend; the
    compiled code refuses it, so auto falls back to this)."""
    catalogue = arbor_pycat.build(M.CurrentDirect, M.CurrentAlias, backend="python")
    runs = {cls.name: run(catalogue, [(cls.name, ["s"])]) for cls in (M.CurrentDirect, M.CurrentAlias)}
    direct, alias = runs["cm_current_direct"], runs["cm_current_alias"]
    np.testing.assert_allclose(alias["v"], direct["v"], rtol=0, atol=1e-9)
    # the current matters: without it the cell (hh + clamp) is not the same
    assert np.ptp(direct["v"]) > 50.0


def test_wrapped_helper_falls_back_and_keeps_the_decorator():
    """functools.wraps decorators were once ignored (inspect follows __wrapped__):
    with auto the python backend runs the decorated function, x10."""
    with pytest.warns(UserWarning, match="decorator"):
        catalogue = arbor_pycat.build(M.WrappedHelper)
    assert arbor_pycat.builder.last_backends["cm_wrapped"] == "python"
    out = run(catalogue, [("cm_wrapped", ["s"])], t_end=2.0)
    ratio = out["cm_wrapped.s"][1:] / out["v"][1:]        # 20 = 10 (the decorator) x 2
    np.testing.assert_allclose(ratio, 20.0, rtol=1e-2)


# -- the five styles of ../shared/styles ------------------------------------------
def _load_style(path):
    spec = importlib.util.spec_from_file_location(f"style_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.MECHANISM


STYLE_FILES = sorted(STYLES.glob("*_hh.py")) if STYLES.is_dir() else []


@pytest.mark.skipif(not STYLE_FILES, reason="../shared/styles is not here")
def test_shared_styles_compile_and_match_python():
    classes = [_load_style(path) for path in STYLE_FILES]
    catalogues, forms = build_both(classes)
    for cls in classes:
        assert set(forms[cls.name].values()) == {"scalar"}, (cls.__name__, forms[cls.name])
    mechanisms = [(cls.name, [s[0] for s in cls.state_vars]) for cls in classes]
    for fork in (False, True, "scattered"):
        # each style alone on the cell (they are all full HH channels)
        for mech in mechanisms:
            runs = {backend: run(cat, [mech], fork, t_end=30.0) for backend, cat in catalogues.items()}
            assert_same(runs, f"{mech[0]} {fork}")


# -- random compositions ------------------------------------------------------------
_LEAVES = ["pp.v", "pp.s", "pp.r", "pp.dt", "1.5", "-0.25", "pp.g * 1e4"]


def _expression(rng, depth):
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(_LEAVES)
    a, b = _expression(rng, depth - 1), _expression(rng, depth - 1)
    forms = [
        f"({a} + {b})", f"({a} - {b})", f"({a} * {b})", f"({a} / (1.0 + np.abs({b})))",
        f"np.where({a} > {b}, {a}, {b} * 0.5)", f"np.maximum({a}, {b})", f"np.minimum({a}, -{b})",
        f"np.clip({a}, -3.0, 3.0)", f"np.exp(np.clip({a}, -5.0, 5.0) / 10.0)", f"np.tanh({a} / 50.0)",
        f"np.abs({a})", f"np.square(np.clip({a}, -4.0, 4.0))", f"np.sqrt(np.abs({a}) + 1.0)",
        f"np.log1p(np.abs({a}))", f"helper_pair({a})[{rng.randint(0, 1)}]",
        f"np.select([{a} < -1.0, {a} < 1.0], [{b}, 2.0], default=-2.0)",
        f"exprelr(np.clip({a}, -20.0, 20.0))", f"np.where(np.isclose({a}, {b}, atol=0.5), 1.0, {a})",
    ]
    return rng.choice(forms)


def _random_module(seed, count):
    rng = random.Random(seed)
    lines = ["import numpy as np", "from arbor_pycat import CustomMechanism, exprelr", "",
             "def helper_pair(x):", "    return np.tanh(x / 40.0), np.exp(-np.abs(x) / 30.0)", ""]
    for k in range(count):
        s_expr = _expression(rng, 3)
        r_expr = _expression(rng, 3)
        lines += [
            f"class Random{k}(CustomMechanism):",
            f"    name = 'cm_random_{seed}_{k}'",
            "    state_vars = [('s', '', 0.1), ('r', '', -0.2)]",
            "    parameters = [('g', 'S/cm2', 1e-5)]",
            "",
            "    def advance_state(self, pp):",
            f"        s = np.clip({s_expr}, -100.0, 100.0)",
            f"        r = np.clip({r_expr}, -100.0, 100.0)",
            "        pp.s = s",
            "        pp.r = np.where(np.isfinite(r), r, 0.0)",
            "",
            "    def compute_currents(self, pp):",
            "        pp.i = pp.g * (pp.v + 65.0) * (1.0 + 0.001 * np.tanh(pp.s + pp.r))",
            "",
        ]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_compositions_match_python(tmp_path, monkeypatch, seed):
    count = 10
    path = tmp_path / f"random_mechanisms_{seed}.py"
    path.write_text(_random_module(seed, count))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(path.stem)
    classes = [getattr(module, f"Random{k}") for k in range(count)]
    catalogues, forms = build_both(classes)
    for cls in classes:
        assert set(forms[cls.name].values()) == {"scalar"}, (cls.__name__, forms[cls.name])
    mechanisms = _states(classes)
    runs = {backend: run(cat, mechanisms, fork=True, t_end=15.0) for backend, cat in catalogues.items()}
    assert_same(runs, f"random seed {seed}")


# -- writes into Arbor's read-only arrays (once a segfault or silent) ---------------
READONLY_SNIPPET = """
import warnings
import arbor_pycat
from arbor_pycat import CustomMechanism, MechanismError


class Alias(CustomMechanism):
    name = "cm_readonly_{which}"
    state_vars = [("s", "", 0.0)]

    def {method}(self, pp):
        x = pp.{field}
        x[{index}] = {value}
        pp.s = pp.s + 1.0

    def compute_currents(self, pp):
        pp.i = 0.0 * pp.v


Alias.backend = "numba"
try:
    arbor_pycat.build(Alias)
except MechanismError as exc:
    print("refused:", exc)
else:
    print("compiled")
"""


@pytest.mark.parametrize("which, method, field, index, value", [
    ("node_index", "advance_state", "node_index", "0", "10**8"),
    ("weight", "advance_state", "weight", ":", "1000.0"),
    ("v", "advance_state", "v", ":", "0.0"),
])
def test_writes_into_readonly_arrays_are_refused(which, method, field, index, value):
    from pycat_cell import check_snippet
    code = READONLY_SNIPPET.format(which=which, method=method, field=field, index=index, value=value)
    out = check_snippet(code).stdout
    assert "refused:" in out and "read-only" in out and f"pp.{field}" in out, out


# -- the user's own exceptions survive compilation ------------------------------------
@pytest.mark.parametrize("cls, text, form", [
    (M.Raises, "Depolarised: depolarised!", "scalar"),
    (M.Asserts, "AssertionError: v above 0 mV", "scalar"),
    (M.RaisesInLoop, "ValueError: instance above 0 mV", "scalar"),
    (M.RaisesInArrayForm, "Depolarised: depolarised in the array form!", "array")],
    ids=["np.any", "assert", "loop", "array form"])
def test_raise_in_compiled_code_gives_the_users_message(cls, text, form):
    import inspect
    forms = numba_backend.compile(spec_of(cls)).modes
    assert forms["advance_state"] == form
    source, first = inspect.getsourcelines(cls.advance_state)
    line = first + next(k for k, s in enumerate(source) if text.split(": ", 1)[1] in s)
    messages = {}
    for backend in ("python", "numba"):
        catalogue = arbor_pycat.build(cls, backend=backend)
        with pytest.raises(RuntimeError) as info:
            run(catalogue, [(cls.name, ["s"])], t_end=20.0)
        messages[backend] = str(info.value)
        assert text in messages[backend], messages[backend]
        assert f"compiler_mechanisms.py{'' if backend == 'python' else ':'}" in messages[backend]
    assert f"compiler_mechanisms.py:{line}" in messages["numba"], messages["numba"]
    assert f"line {line}" in messages["python"]


def _users_exception(message):
    """``E: text`` of a run's failure, either backend's."""
    first = message.splitlines()[0]
    text = first.split("(numba backend): ", 1)[1] if "(numba backend): " in first else \
        re.split(r" failed in \w+: ", first, maxsplit=1)[1]
    return text.rsplit(" (raised at ", 1)[0]


def _failures(cls, recipe=None, t_end=20.0):
    """{backend: the message of the run's failure}."""
    messages = {}
    for backend in ("python", "numba"):
        catalogue = arbor_pycat.build(cls, backend=backend)
        with pytest.raises(RuntimeError) as info:
            if recipe is None:
                run(catalogue, [(cls.name, ["s"])], t_end=t_end)
            else:
                arbor.simulation(recipe(catalogue)).run(t_end * U.ms, 0.025 * U.ms)
        messages[backend] = str(info.value)
    return messages


@pytest.mark.parametrize("cls, form, expected", [
    (M.RaisesComputed, "scalar", r"Depolarised: instance 0: v = \+\d+\.\d{6} mV, s > 0: np.True_, "
                                 r"above 1 mV: (True|False),   2.0, step \d+"),
    (M.RaisesComputedWithTemperature, "scalar", r"ValueError: q = 1.000000, r = \d+\.0000 at 0"),
    (M.RaisesComputedInCurrents, "scalar", r"ValueError: i = \d\.\d{4}e-0\d A/m2 at instance 0"),
    (M.RaisesComputedUniform, "scalar", r"ValueError: dt = 0.0250 ms, 4 instances, +0\.0\d+\|True"),
    (M.RaisesComputedArrayForm, "array", r"Depolarised: max v \d+\.\d{5} mV at instance 0, mean -?\d\.\d{3}e[+-]\d+"),
], ids=["loop", "temperature", "currents", "uniform", "array form"])
def test_computed_raise_messages_are_pythons(cls, form, expected):
    """A message the method computes (f-strings, %, str(), str.format, repr of numpy's
    scalars) is the python backend's text, with the file and line of the raise."""
    import inspect
    method = "compute_currents" if "compute_currents" in vars(cls) else "advance_state"
    assert numba_backend.compile(spec_of(cls)).modes[method] == form
    messages = _failures(cls)
    python, numba = (_users_exception(messages[b]) for b in ("python", "numba"))
    assert numba == python, messages
    assert re.fullmatch(expected, python), python
    source, first = inspect.getsourcelines(getattr(cls, method))
    line = first + next(k for k, text in enumerate(source) if "raise " in text)
    assert f"compiler_mechanisms.py:{line})" in messages["numba"], messages["numba"]


def test_a_message_python_cannot_make_says_so():
    """``"v = " + float``: the python backend raises TypeError making the message; the
    compiled code fails the run with the raise's class, place and a fixed text."""
    messages = _failures(M.MessageNotMade)
    assert "TypeError" in messages["python"] and "concatenate" in messages["python"]
    assert "ValueError: (a message the compiled code computes, which could not be made" \
        in messages["numba"], messages["numba"]
    assert "compiler_mechanisms.py:" in messages["numba"]


def test_message_templates_split_numbers_from_text():
    """What the compiled code computes (the leaves) and what Python makes (the rest)."""
    import ast
    import struct
    from arbor_pycat.abi import contract
    from arbor_pycat.backends.numba import messages

    def split(text, cls=ValueError):
        return messages.split(cls, ast.parse(text, mode="eval").body.args, lambda name: True)

    s = split('E(f"v = {v:.2f} at {t!s}, {n:>{w}}" + " mV" + str(k) + "%d" % j + "{}".format(q))')
    assert [ast.unparse(leaf) for leaf in s.leaves] == ["v", "t", "n", "w", "k", "j", "q"]
    assert not s.uses_repr
    for text in ('E(f"{v!r}")', 'E("%r" % v)', 'E("{!r}".format(v))', 'E(repr(v))', 'E("a", v)',
                 'E(f"{w}" % v)'):
        assert split(text).uses_repr, text
    assert split("E(v)", KeyError).uses_repr        # str(KeyError(x)) is repr(x)
    assert not split("E(v)").uses_repr
    template = messages.Template(ValueError, split('E(f"v = {v:.2f}, n = {n}, {b}")').source, "f.py:3",
                                 (), (False, True, True))
    bits = struct.unpack("<q", struct.pack("<d", -65.125))[0]
    words = (3, contract.RAISE_FLOAT, bits, contract.RAISE_INT, -7, contract.RAISE_BOOL, 1) + (0,) * 10
    assert template.text(words) == "ValueError: v = -65.12, n = -7, True (raised at f.py:3)"
    assert template.text((2,) + words[1:]) is None        # not this template's record
    formatter = messages.Formatter({5: template}, {5: "prefix: "})
    assert formatter(5, words) == "prefix: ValueError: v = -65.12, n = -7, True (raised at f.py:3)"
    assert formatter(6, words) is None and formatter(5, ()) is None


class Halves(Cells):
    """cm_raises_in_order's cable: parameter a is 0 on the half at the clamp, 1 on the other."""

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, 2), arbor.mpoint(60, 0, 0, 2), tag=1)
        decor = arbor.decor().set_property(Vm=-65 * U.mV)
        decor.paint("(all)", arbor.density("hh"))
        for mech, _ in self.mechanisms:
            decor.paint("(cable 0 0 0.5)", arbor.density(mech, {"a": 0.0}))
            decor.paint("(cable 0 0.5 1)", arbor.density(mech, {"a": 1.0}))
        return arbor.cable_cell(tree, decor, arbor.label_dict(),
                                discretization=arbor.cv_policy_fixed_per_branch(4))


@pytest.mark.parametrize("cls, expected", [
    (M.RaisesInOrder, "ValueError: first in the code, dt 0.025"),
    (M.RaisesInLoopOrder, "ValueError: first in the code, instance 0"),
], ids=["vectorised", "loop"])
def test_the_raise_python_raises_first_fails_the_run(cls, expected):
    """Raises that trip on different instances in the same step: vectorised code
    raises the first in the code, a loop over instances the first instance's."""
    assert numba_backend.compile(spec_of(cls)).modes["advance_state"] == "scalar"
    messages = _failures(cls, lambda catalogue: Halves(catalogue, [(cls.name, ["s"])]), t_end=1.0)
    for backend, message in messages.items():
        assert _users_exception(message).startswith(expected), (backend, message)


def test_python_division_by_zero_fails_the_run_in_both_backends():
    """1.0 / x of Python floats raises ZeroDivisionError in Python; the scalar form
    checks the divisor and fails the run with it (numpy's inf would run on)."""
    assert numba_backend.compile(spec_of(M.DividesByZero)).modes["advance_state"] == "scalar"
    for backend in ("python", "numba"):
        catalogue = arbor_pycat.build(M.DividesByZero, backend=backend)
        with pytest.raises(RuntimeError, match=r"ZeroDivisionError: (float )?division by zero"):
            run(catalogue, [(M.DividesByZero.name, ["s"])], t_end=20.0)


def test_a_method_replaced_after_register_is_compiled_as_it_is_now():
    """The python backend calls the class's methods as they are at build(): so does the
    numba backend (it once compiled the spec made at register, silently)."""
    @arbor_pycat.register
    class Replaced(M.Base):
        name = "cm_replaced_after_register"

        def advance_state(self, pp):
            pp.s = pp.v * 0.0 + 1.0

    def new_advance(self, pp):
        pp.s = pp.v * 0.0 + 9.0

    first = spec_of(Replaced)
    Replaced.advance_state = new_advance
    assert spec_of(Replaced) is not first and spec_of(Replaced) is spec_of(Replaced)
    for backend in ("python", "numba"):
        out = run(arbor_pycat.build(Replaced, backend=backend), [(Replaced.name, ["s"])], t_end=1.0)
        np.testing.assert_array_equal(out[f"{Replaced.name}.s"][1:], 9.0)
    Replaced.backend = "numba"
    Replaced.advance_state = lambda self, pp: setattr(pp, "s", pp.v * 2.0)     # no source to compile
    with pytest.raises(MechanismError):
        arbor_pycat.build(Replaced)


def test_exception_of_a_users_numba_function_fails_the_run():
    """A user's @njit function that raises fails sim.run() with the user's message in
    both backends (inlined into the scalar form like any helper; called per instance
    as a numba function, as it once was, its exception was printed and dropped)."""
    forms = numba_backend.compile(spec_of(M.RaisesInUserJit)).modes
    assert forms["advance_state"] == "scalar"       # inlined: the user's raise, per instance
    for backend, text in (("python", "jitted: above 0 mV"), ("numba", "jitted: above 0 mV")):
        catalogue = arbor_pycat.build(M.RaisesInUserJit, backend=backend)
        with pytest.raises(RuntimeError, match=text):
            run(catalogue, [(M.RaisesInUserJit.name, ["s"])], t_end=20.0)


@pytest.mark.parametrize("fork", [False, True], ids=["cable", "forked"])
def test_array_form_where_the_scalar_form_cannot_tell(fork):
    """The python backend passes the user's @njit function the whole array; one that is
    not element-wise (v / max|v|) takes the array form and gives the same states. A
    name bound to one of two fields by ``x if c else y`` and updated in place: the
    array form too. So is a stable argsort (ties in the same order as numpy's),
    in-place updates reading views of the array they write, an integer array
    from np.full (stores truncated, as numpy's), numpy's floor_divide and
    ``array ** 0.5`` where numba's differ, a division that Python's ``or``
    skips where its divisor is 0 (the scalar form would check it first), and
    masks added and multiplied (numpy's 'or' and 'and')."""
    classes = [M.UserJitAcross, M.ChosenAlias, M.StableArgsort, M.OverlappingViews, M.IntegerFull,
               M.ArrayFormSpecials, M.ShortCircuitDivision, M.MaskArithmetic]
    catalogues, forms = build_both(classes)
    assert all(forms[cls.name]["advance_state"] == "array" for cls in classes), forms
    mechanisms = _states(classes)
    runs = {backend: run(cat, mechanisms, fork) for backend, cat in catalogues.items()}
    assert_same(runs, str(fork))
    s = runs["python"][f"{M.UserJitAcross.name}.s"]
    assert np.max(np.abs(s)) <= 1.0 + 1e-12 and np.min(np.abs(s)) < 0.999    # not +-1 everywhere
    chosen = runs["python"]
    np.testing.assert_allclose(chosen["cm_chosen_alias.s"][1:] * 4.0, chosen["cm_chosen_alias.r"][1:])


# -- linear point mechanisms: Arbor merges identical synapses --------------------------
class Synapses(CableRecipe):
    """One soma with ``count`` identical synapses of ``mech`` on one CV, events to three."""

    def __init__(self, catalogue, mech, count=6):
        super().__init__(catalogue)
        self.mech, self.count = mech, count

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage("(location 0 0.5)", "v")]

    def event_generators(self, gid):
        return [arbor.event_generator(f"s{k}", 0.01 * (k + 1), arbor.explicit_schedule(
            [t * U.ms for t in (2.0 + k, 9.0, 15.0 + 2 * k)])) for k in range(3)]

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(-3, 0, 0, 3), arbor.mpoint(3, 0, 0, 3), tag=1)
        decor = arbor.decor().set_property(Vm=-65 * U.mV).paint("(all)", arbor.density("pas"))
        for k in range(self.count):
            decor.place("(location 0 0.5)", arbor.synapse(self.mech), f"s{k}")
        return arbor.cable_cell(tree, decor, arbor.label_dict())


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("port, twin", [("ExpSyn", "expsyn"), ("Exp2Syn", "exp2syn")])
def test_linear_synapses_are_merged_and_exact(backend, port, twin):
    """Six identical synapses on one CV, merged by Arbor into one instance of
    multiplicity 6. Exp2Syn's factor is ASSIGNED in exp2syn.mod (``assigned``):
    scaled by the multiplicity, as it once was, every event counted six times."""
    from arbor_pycat import models
    cls = getattr(models, port)
    catalogue = arbor_pycat.build(cls, backend=backend)
    assert catalogue[cls.name].linear is True and arbor.default_catalogue()[twin].linear
    traces = {}
    for mech, cat in ((twin, None), (cls.name, catalogue)):
        sim = arbor.simulation(Synapses(cat, mech))
        handle = sim.sample((0, "v"), arbor.regular_schedule(0.1 * U.ms))
        sim.run(30 * U.ms, 0.025 * U.ms)
        traces[mech] = sim.samples(handle)[0][0][:, 1]
    assert np.ptp(traces[twin]) > 1.0           # the events moved v
    np.testing.assert_allclose(traces[cls.name], traces[twin], rtol=0, atol=1e-9)


class Bursts(Synapses):
    """One synapse and bursts of events at one time: one call of apply_events
    brings ``sizes[k]`` events at ``2 + 3 k`` ms."""

    def __init__(self, catalogue, mech, sizes):
        super().__init__(catalogue, mech, count=1)
        self.sizes = sizes

    def event_generators(self, gid):
        times = [2.0 + 3 * k for k, size in enumerate(self.sizes) for _ in range(size)]
        return [arbor.event_generator("s0", 0.001, arbor.explicit_schedule([t * U.ms for t in times]))]


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_events_of_one_call_on_the_stack_and_beyond_are_all_delivered(backend):
    """The array form copies a call's events into columns on its stack up to
    access.EVENTS_ON_STACK of them, into allocated arrays beyond: every size
    gives the trace of Arbor's expsyn."""
    from arbor_pycat import models
    from arbor_pycat.backends.numba.access import EVENTS_ON_STACK
    sizes = [1, EVENTS_ON_STACK - 1, EVENTS_ON_STACK, EVENTS_ON_STACK + 1, 3 * EVENTS_ON_STACK, 2]
    catalogue = arbor_pycat.build(models.ExpSyn, backend=backend)
    traces = {}
    for mech, cat in (("expsyn", None), ("py_expsyn", catalogue)):
        sim = arbor.simulation(Bursts(cat, mech, sizes))
        handle = sim.sample((0, "v"), arbor.regular_schedule(0.1 * U.ms))
        sim.run(20 * U.ms, 0.025 * U.ms)
        traces[mech] = sim.samples(handle)[0][0][:, 1]
    jumps = np.diff(traces["expsyn"])
    assert np.sum(jumps > 0.05) >= len(sizes) - 1, jumps     # every burst moved v
    np.testing.assert_allclose(traces["py_expsyn"], traces["expsyn"], rtol=0, atol=1e-9)


def test_assigned_names_state_vars():
    class Bad(arbor_pycat.CustomMechanism):
        name = "cm_bad_assigned"
        kind = "point"
        state_vars = ["g"]
        assigned = ["factor"]

        def compute_currents(self, pp):
            pp.i = pp.g * pp.v
    with pytest.raises(MechanismError, match="assigned names 'factor', which state_vars does not declare"):
        arbor_pycat.build(Bad)


def test_linear_must_be_a_bool():
    class Bad(arbor_pycat.CustomMechanism):
        name = "cm_bad_linear"
        kind = "point"
        linear = "yes"

        def compute_currents(self, pp):
            pp.i = 0.0 * pp.v
    with pytest.raises(MechanismError, match="linear must be True or False"):
        arbor_pycat.build(Bad)
