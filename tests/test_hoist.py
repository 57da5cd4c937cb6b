"""Temperature-only values of a kernel, computed once per call (backends/numba/hoist.py).

The split itself (what moves into the prelude, what stays), and whole runs
against the python backend on a cell whose temperature is the same everywhere
(the prelude runs once) and on one painted with two temperatures (it runs per
instance).
"""
import ast
import warnings

import arbor
import numpy as np
import pytest
from arbor import units as U

import arbor_pycat
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat import CustomMechanism
from arbor_pycat.backends.numba import hoist
from arbor_pycat.declarations import spec_of
from arbor_pycat.recipe import CableRecipe


def _kernel(text):
    tree = ast.parse(text).body[0]
    params = {a.arg[len("__pc_f_"):]: a.arg for a in tree.args.args}
    return tree, params


def test_temperature_only_assignments_move_to_the_prelude():
    tree, params = _kernel(
        "def k(__pc_f_temperature, __pc_f_v, __pc_f_m):\n"
        "    __pc_1_x = (__pc_f_temperature - 6.3) * 0.1\n"
        "    __pc_2_q = __pc_s_pow(float(3.0), float(__pc_1_x))\n"
        "    __pc_3_a = __pc_s_exp(float(-__pc_f_v)) * __pc_2_q\n"
        "    __pc_f_m = __pc_f_m + __pc_3_a\n"
        "    return (__pc_f_m,)\n")
    prelude = hoist.split(tree, params)
    assert prelude is not None and prelude.field == "temperature"
    assert prelude.values == ("__pc_2_q",)            # __pc_1_x is used by the prelude only
    assert not prelude.kernel_reads_field
    assert [a.arg for a in tree.args.args] == ["__pc_f_v", "__pc_f_m", "__pc_2_q"]
    kept = ast.unparse(tree)
    assert "__pc_s_pow" not in kept and "__pc_f_temperature" not in kept
    assert "__pc_s_pow" in prelude.source and prelude.source.startswith(f"def {prelude.name}(__pc_f_temperature)")


@pytest.mark.parametrize("line, why", [
    ("__pc_2_q = __pc_s_pow(float(3.0), float(__pc_f_temperature * __pc_f_v))", "reads v"),
    ("__pc_2_q = __pc_g_user(__pc_f_temperature)", "calls a function that may have effects"),
    ("__pc_2_q = __pc_s_pow(3.0, __pc_f_temperature, extra=1)", "keyword arguments"),
    ("__pc_2_q = __pc_np.empty(__pc_f_temperature)", "not an element-wise numpy function"),
    ("__pc_2_q = (__pc_f_temperature - 6.3) * 0.1", "nothing costly to save"),
])
def test_what_stays_in_the_kernel(line, why):
    tree, params = _kernel(
        "def k(__pc_f_temperature, __pc_f_v, __pc_f_m):\n"
        f"    {line}\n"
        "    __pc_f_m = __pc_f_m + __pc_2_q\n"
        "    return (__pc_f_m,)\n")
    before = ast.dump(tree)
    assert hoist.split(tree, params) is None, why
    assert ast.dump(tree) == before


def test_costly_parts_of_other_expressions_move_too():
    tree, params = _kernel(
        "def k(__pc_f_temperature, __pc_f_v, __pc_f_i):\n"
        "    __pc_f_i = __pc_f_v * __pc_s_pow(float(1.5), float((__pc_f_temperature - 6.3) * 0.1)) + __pc_f_temperature\n"
        "    return (__pc_f_i,)\n")
    prelude = hoist.split(tree, params)
    assert prelude.values == ("__pc_hoisted_1",) and prelude.kernel_reads_field
    assert ast.unparse(tree.body[0]) == "__pc_f_i = __pc_f_v * __pc_hoisted_1 + __pc_f_temperature"


def test_a_name_assigned_twice_stays():
    tree, params = _kernel(
        "def k(__pc_f_temperature, __pc_f_v, __pc_f_m):\n"
        "    __pc_2_q = __pc_s_exp(float(__pc_f_temperature))\n"
        "    if __pc_f_v > 0.0:\n"
        "        __pc_2_q = 1.0\n"
        "    __pc_f_m = __pc_f_m + __pc_2_q\n"
        "    return (__pc_f_m,)\n")
    prelude = hoist.split(tree, params)      # its costly value moves, the name stays
    assert prelude.values == ("__pc_hoisted_1",)
    assert ast.unparse(tree.body[0]) == "__pc_2_q = __pc_hoisted_1"
    assert ast.unparse(tree.body[1]).startswith("if __pc_f_v > 0.0:")


def test_the_field_stays_a_parameter_where_the_rest_reads_it():
    tree, params = _kernel(
        "def k(__pc_f_temperature, __pc_f_v, __pc_f_m):\n"
        "    __pc_2_q = __pc_s_exp(float(__pc_f_temperature))\n"
        "    __pc_f_m = __pc_f_m + __pc_2_q * __pc_f_v / __pc_f_temperature\n"
        "    return (__pc_f_m,)\n")
    prelude = hoist.split(tree, params)
    assert prelude.kernel_reads_field
    assert [a.arg for a in tree.args.args] == ["__pc_f_temperature", "__pc_f_v", "__pc_f_m", "__pc_2_q"]


# -- whole runs ------------------------------------------------------------------
def _gate(v):
    alpha = 0.1 * (v + 40.0) / (1.0 - np.exp(-(v + 40.0) / 10.0))
    beta = 4.0 * np.exp(-(v + 65.0) / 18.0)
    return alpha / (alpha + beta), 1.0 / (alpha + beta)


class Q10Gate(CustomMechanism):
    """A gate whose rates scale with 3^((T - 6.3)/10), computed at every step."""
    name = "hoist_q10"
    state_vars = [("m", "", 0.05)]
    parameters = [("gbar", "S/cm2", 0.01)]

    def init_mechanism(self, pp):
        pp.m, _ = _gate(pp.v)

    def advance_state(self, pp):
        phi = 3.0 ** ((pp.temperature - 6.3) / 10.0)
        m_inf, tau = _gate(pp.v)
        pp.m = m_inf + (pp.m - m_inf) * np.exp(-pp.dt * phi / tau)

    def compute_currents(self, pp):
        pp.i = pp.gbar * pp.m ** 3 * (pp.v + 70.0)


class Q10AndT(Q10Gate):
    """The same, the temperature read elsewhere too (it stays a kernel parameter), and a
    temperature factor in a current whose conductance is computed numerically."""
    name = "hoist_q10_t"

    def advance_state(self, pp):
        phi = np.exp(np.log(3.0) * (pp.temperature - 6.3) / 10.0)
        m_inf, tau = _gate(pp.v)
        pp.m = m_inf + (pp.m - m_inf) * np.exp(-pp.dt * phi / tau) + 1e-6 * (pp.temperature - 6.3)

    def compute_currents(self, pp):      # no conductance: Arbor's is computed at v and v + DV
        pp.i = pp.gbar * pp.m ** 3 * (pp.v + 70.0) * 1.5 ** ((pp.temperature - 6.3) / 10.0)


class TwoTemperatures(CableRecipe):
    """A Y-shaped cell; ``hot``: the two dendrites at 37 °C, the soma branch at 6.3 °C."""

    def __init__(self, catalogue, names, hot):
        super().__init__(catalogue)
        self.names, self.hot = names, hot

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage_cell("v")] + \
            [arbor.cable_probe_density_state_cell(n, "m", n) for n in self.names]

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        root = tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, 2), arbor.mpoint(60, 0, 0, 2), tag=1)
        tree.append(root, arbor.mpoint(60, 0, 0, 1), arbor.mpoint(100, 30, 0, 1), tag=3)
        tree.append(root, arbor.mpoint(60, 0, 0, 1), arbor.mpoint(100, -30, 0, 1), tag=3)
        decor = arbor.decor().set_property(Vm=-65 * U.mV, tempK=279.45 * U.Kelvin)
        if self.hot:
            decor.paint("(tag 3)", tempK=310.15 * U.Kelvin)
        decor.paint("(all)", arbor.density("hh"))
        for name in self.names:
            decor.paint("(all)", arbor.density(name))
        decor.place("(location 0 0)", arbor.i_clamp(2 * U.ms, 100 * U.ms, 0.4 * U.nA))
        return arbor.cable_cell(tree, decor, arbor.label_dict(),
                                discretization=arbor.cv_policy_fixed_per_branch(4))


def _run(catalogue, names, hot):
    sim = arbor.simulation(TwoTemperatures(catalogue, names, hot))
    tags = ["v"] + names
    handles = {t: sim.sample((0, t), arbor.regular_schedule(0.5 * U.ms)) for t in tags}
    sim.run(25 * U.ms, 0.025 * U.ms)
    return {t: sim.samples(h)[0][0][:, 1:] for t, h in handles.items()}


@pytest.fixture(scope="module")
def catalogues():
    classes = (Q10Gate, Q10AndT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no fallback
        return {b: arbor_pycat.build(*classes, backend=b) for b in ("python", "numba")}


def test_both_mechanisms_get_a_prelude():
    for cls in (Q10Gate, Q10AndT):
        compiled = numba_backend.compile(spec_of(cls), native_library=False)
        assert compiled.modes["advance_state"] == "scalar"
        assert hasattr(compiled.module, "__pc_kernel_advance_state_scalar_prelude"), cls.name
    assert hasattr(numba_backend.compile(spec_of(Q10AndT), native_library=False).module, "__pc_kernel_compute_currents_scalar_prelude")


@pytest.fixture(scope="module")
def runs(catalogues):
    names = [Q10Gate.name, Q10AndT.name]
    return {hot: {b: _run(c, names, hot) for b, c in catalogues.items()} for hot in (False, True)}


@pytest.mark.parametrize("hot", [False, True], ids=["one temperature", "two temperatures"])
def test_same_as_python(runs, hot):
    for tag, a in runs[hot]["python"].items():
        b = runs[hot]["numba"][tag]
        assert a.shape == b.shape and a.size > 0
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-8 if tag == "v" else 1e-12, err_msg=tag)


def test_the_painted_temperature_matters(runs):
    for tag in runs[False]["python"]:
        cold, hot = runs[False]["numba"][tag], runs[True]["numba"][tag]
        assert np.max(np.abs(hot - cold)) > 1e-3, tag
