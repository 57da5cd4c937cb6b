"""The numba backend's disk cache: a second process loads generated modules,
and a change of a helper, a constant or a closure value gives a new module
(no stale code)."""
import importlib.util
import json
from pathlib import Path

import pytest

import arbor_pycat.backends.numba as numba_backend
from arbor_pycat import CustomMechanism
from arbor_pycat.declarations import spec_of
from pycat_cell import check_snippet, import_file, state_slope


# -- the disk cache ------------------------------------------------------------

CACHE_SNIPPET = """
import json
import sys
import arbor
import arbor_pycat
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat import CustomMechanism
from arbor_pycat.declarations import spec_of
from pycat_cell import OneCell, simulate

SCALE = 2.0


def bump(x):
    return SCALE * x


class Cached(CustomMechanism):
    name = "nbt_cached"
    state_vars = [("m", "", 0.0)]
    parameters = [("g", "S/cm2", 1e-3)]

    def init_mechanism(self, pp):           # array form (a while loop)
        k = 0
        while k < pp.width:
            pp.m[k] = 0.0
            k += 1

    def advance_state(self, pp):            # scalar form
        pp.m = pp.m + bump(pp.dt)

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v + 65.0) * (1.0 + 0.0 * pp.m)
        pp.conductance = pp.g


compiled = numba_backend.compile(spec_of(Cached))
catalogue = arbor_pycat.build(Cached, backend="numba")
trace, _, _ = simulate(OneCell(catalogue, paint=["nbt_cached"], clamp=0.0), t_end=2.0)
native = not hasattr(compiled.module, "_pycat_cfuncs")
print("RESULT " + json.dumps({
    "file": str(compiled.module.path) if native else compiled.module.__file__,
    "native": native,
    "cache": compiled.cache,
    "numba_imported": "numba" in sys.modules,
    "modes": compiled.modes,
    "cache_hits": None if native else {m: f.cache_hits for m, f in compiled.module._pycat_cfuncs.items()},
    "ahead": None if native else sorted(compiled.module._pycat_ahead),
    "trace": [float(x) for x in trace],
}))
"""


def _result(output):
    line = [line for line in output.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _numba_cache_files(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in Path(folder).rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_second_process_loads_from_the_disk_cache(tmp_path):
    """The first process compiles (numba's files and the native library are written);
    a second one loads the native library without importing numba; with the native
    cache off, a third one loads numba's files. The same trace, bit for bit, each time."""
    env = {"ARBOR_PYCAT_CACHE_DIR": str(tmp_path)}
    first = _result(check_snippet(CACHE_SNIPPET, env=env).stdout)
    assert Path(first["file"]).parent == tmp_path
    assert (first["native"], first["cache"]) == (False, "compiled")
    assert first["modes"] == {"init_mechanism": "array", "advance_state": "scalar",
                              "compute_currents": "scalar"}
    # compiled here, or by a helper of this build (then loaded from numba's cache)
    assert first["cache_hits"] == {m: int(m in first["ahead"]) for m in first["modes"]}, first["cache_hits"]
    files = _numba_cache_files(tmp_path)
    assert any(name.endswith(".nbi") for name in files), files
    assert any(name.endswith(".nbc") for name in files), files
    stem = Path(first["file"]).stem
    libraries = sorted(p.name for p in tmp_path.glob(f"{stem}.*.so"))
    assert len(libraries) == 1 and (tmp_path / libraries[0]).with_suffix(".native").is_file(), libraries

    second = _result(check_snippet(CACHE_SNIPPET, env=env).stdout)
    assert (second["native"], second["cache"], second["numba_imported"]) == (True, "disk", False)
    assert Path(second["file"]).name == libraries[0]
    assert second["modes"] == first["modes"]
    assert second["trace"] == first["trace"]

    third = _result(check_snippet(CACHE_SNIPPET, env={**env, "ARBOR_PYCAT_NATIVE_CACHE": "0"}).stdout)
    assert (third["native"], third["cache"]) == (False, "disk")
    assert third["file"] == first["file"]
    assert all(hits >= 1 for hits in third["cache_hits"].values()), third["cache_hits"]
    assert _numba_cache_files(tmp_path) == files       # nothing compiled, nothing rewritten
    assert third["trace"] == first["trace"]


MECHANISM_MODULE = """
import numpy as np
from arbor_pycat import CustomMechanism
import {config} as config

SCALE = {scale}


def bump(x):
    return {bump}


class Stale(CustomMechanism):
    name = "nbt_stale"
    state_vars = [("m", "", 0.0)]

    def advance_state(self, pp):
        pp.m = pp.m + bump(pp.dt) + config.OFFSET * pp.dt
"""


def test_changed_helpers_and_constants_give_new_modules(tmp_path, monkeypatch):
    """A changed helper, module constant or constant of another module is never served stale."""
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path / "cache"))
    config_name = f"nbt_config_{tmp_path.name}"
    (tmp_path / f"{config_name}.py").write_text("OFFSET = 0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = importlib.import_module(config_name)

    variants = {
        "base": dict(scale="2.0", bump="SCALE * x"),            # slope 2
        "constant": dict(scale="3.0", bump="SCALE * x"),        # slope 3
        "helper": dict(scale="2.0", bump="SCALE * x + 3.0 * x"),   # slope 5
    }
    files, slopes = {}, {}
    for label, options in variants.items():
        path = tmp_path / f"nbt_mechanisms_{label}.py"
        path.write_text(MECHANISM_MODULE.format(config=config_name, **options))
        module = import_file(path, f"nbt_mechanisms_{label}_{tmp_path.name}")
        compiled = numba_backend.compile(spec_of(module.Stale), native_library=False)
        files[label] = compiled.module.__file__
        slopes[label] = state_slope(module.Stale)
    # a constant of another module, changed in place (a notebook editing its settings)
    config.OFFSET = 10.0
    compiled = numba_backend.compile(spec_of(module.Stale), native_library=False)
    files["other module"] = compiled.module.__file__
    slopes["other module"] = state_slope(module.Stale)

    assert len(set(files.values())) == len(files), files
    assert all(Path(f).parent == tmp_path / "cache" for f in files.values())
    assert "3.0 * " in Path(files["helper"]).read_text()
    expected = {"base": 2.0, "constant": 3.0, "helper": 5.0, "other module": 15.0}
    for label, slope in expected.items():
        assert slopes[label] == pytest.approx(slope, rel=1e-9), (label, slopes)


def test_closure_values_are_part_of_the_fingerprint(tmp_path, monkeypatch):
    """Classes made by a factory differ only in a closure value: two modules, two results."""
    monkeypatch.setenv("ARBOR_PYCAT_CACHE_DIR", str(tmp_path))

    def make(scale):
        class Made(CustomMechanism):
            name = "nbt_made"
            state_vars = [("m", "", 0.0)]

            def advance_state(self, pp):
                pp.m = pp.m + scale * pp.dt
        return Made

    two, three = make(2.0), make(3.0)
    files = {numba_backend.compile(spec_of(cls), native_library=False).module.__file__ for cls in (two, three)}
    assert len(files) == 2
    assert state_slope(two) == pytest.approx(2.0, rel=1e-9)
    assert state_slope(three) == pytest.approx(3.0, rel=1e-9)
