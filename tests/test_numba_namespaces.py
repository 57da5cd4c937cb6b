"""The method and the helpers it calls (from any module) each keep their own
globals in compiled code, or the mechanism is not compiled."""
import importlib.util
import warnings

import numpy as np
import pytest

import arbor_pycat
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat.declarations import spec_of
from pycat_cell import import_file, state_slope


# -- one namespace for the method and its helpers ------------------------------------

OTHER_LIBRARY = """
SCALE = 3.0
TAU = 4.0


def rate(x):
    return SCALE * x


def twice(x):
    return 2.0 * x


def rate2(x):
    return twice(x)


def relax(x):
    return x / TAU
"""

CLASHING_MECHANISMS = """
from arbor_pycat import CustomMechanism
from {library} import rate, rate2, relax

SCALE = 2.0
TAU = 4.0


def twice(x):
    return 5.0 * x


class SameConstantName(CustomMechanism):
    name = "nbt_same_constant_name"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + rate(pp.dt) + 0.0 * SCALE          # slope 3 (rate uses its own SCALE)


class SameHelperName(CustomMechanism):
    name = "nbt_same_helper_name"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + twice(pp.dt) + rate2(pp.dt)        # slope 5 + 2


class EqualConstants(CustomMechanism):
    name = "nbt_equal_constants"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + relax(pp.dt) * TAU * 8.0           # slope 8 (both TAU are 4.0)
"""


def test_names_meaning_different_objects_in_helpers_are_not_mixed_up(tmp_path, monkeypatch):
    """A helper from another module keeps its own globals (the compiled code once used the method's)."""
    library = f"nbt_library_{tmp_path.name}"
    (tmp_path / f"{library}.py").write_text(OTHER_LIBRARY)
    (tmp_path / f"nbt_clashing_{tmp_path.name}.py").write_text(CLASHING_MECHANISMS.format(library=library))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(f"nbt_clashing_{tmp_path.name}")
    expected = {module.SameConstantName: ("numba", None, 3.0),
                module.SameHelperName: ("numba", None, 7.0),
                module.EqualConstants: ("numba", None, 8.0)}
    for cls, (backend, word, slope) in expected.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            arbor_pycat.build(cls)
        assert arbor_pycat.builder.last_backends == {cls.name: backend}
        messages = [str(w.message) for w in caught if "backend" in str(w.message)]
        if word is None:
            assert not messages, messages
        else:
            assert len(messages) == 1 and word in messages[0] and cls.name in messages[0], messages
        assert state_slope(cls, backend="auto") == pytest.approx(slope, rel=1e-9), cls.__name__


NJIT_MODULE = """
from numba import njit
from arbor_pycat import CustomMechanism


@njit
def inner(x):
    return {factor} * x


@njit
def outer(x):
    return inner(x)


class CallsNjit(CustomMechanism):
    name = "nbt_calls_njit"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + outer(pp.dt)
"""


def test_a_users_njit_function_is_keyed_by_what_it_calls(tmp_path, monkeypatch):
    """Two modules whose @njit ``outer`` is the same text but calls a different
    ``inner``: numba's cache sees only ``outer``; arbor_pycat must not mix them up."""
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path / "cache"))
    slopes, files = {}, {}
    for factor in ("2.0", "3.0"):
        path = tmp_path / f"nbt_njit_{factor[0]}.py"
        path.write_text(NJIT_MODULE.format(factor=factor))
        module = import_file(path, f"nbt_njit_{factor[0]}_{tmp_path.name}")
        files[factor] = numba_backend.compile(spec_of(module.CallsNjit), native_library=False).module.__file__
        slopes[factor] = state_slope(module.CallsNjit)
        assert arbor_pycat.builder.last_backends["nbt_calls_njit"] == "numba"
    assert files["2.0"] != files["3.0"]
    assert slopes["2.0"] == pytest.approx(2.0, rel=1e-9)
    assert slopes["3.0"] == pytest.approx(3.0, rel=1e-9)


RATES_MODULE = """
import numpy as np


def rate(v):
    return 0.5 * np.exp(-v / 20.0) + offset(v)


def offset(v):
    return 0.01 * v / 4.0
"""

USES_MODULE = """
import numpy as np
from arbor_pycat import CustomMechanism
import {rates} as rates


class ViaModule(CustomMechanism):
    name = "nbt_via_module"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):            # scalar form
        pp.m = pp.m + pp.dt * rates.rate(pp.v)


class ViaModuleLoop(CustomMechanism):
    name = "nbt_via_module_loop"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):            # array form (a while loop)
        k = 0
        while k < pp.width:
            pp.m[k] += pp.dt * rates.rate(pp.v[k])
            k += 1
"""


def test_functions_called_through_their_module_compile(tmp_path, monkeypatch):
    """``rates.rate(v)`` (a function of the user's own module, called through the
    module) compiles like a function called by its name, in both forms."""
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    rates = f"nbt_rates_{tmp_path.name}"
    (tmp_path / f"{rates}.py").write_text(RATES_MODULE)
    path = tmp_path / "nbt_uses_module.py"
    path.write_text(USES_MODULE.format(rates=rates))
    module = import_file(path, f"nbt_uses_module_{tmp_path.name}")
    expected = 0.5 * np.exp(65.0 / 20.0) + 0.01 * -65.0 / 4.0     # dm/dt at rest (v = -65 mV)
    for cls, form in ((module.ViaModule, "scalar"), (module.ViaModuleLoop, "array")):
        compiled = numba_backend.compile(spec_of(cls))
        assert compiled.modes["advance_state"] == form
        assert state_slope(cls, backend="numba") == pytest.approx(expected, rel=1e-9)
        assert arbor_pycat.builder.last_backends[cls.name] == "numba"
