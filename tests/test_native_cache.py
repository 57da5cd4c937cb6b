"""The native library of a compiled mechanism (backends/numba/native.py): a new
process loads it without importing numba, and it computes what numba's JIT
computes, bit for bit; a corrupt or swapped library is discarded and rebuilt."""
import json
import re
from pathlib import Path

import pytest

from arbor_pycat.backends.numba import native
from pycat_cell import run_snippet

pytestmark = pytest.mark.skipif(not native.enabled() or native.host_key() is None,
                                reason="no native cache on this platform")

# Several mechanisms whose compiled code allocates (copies of scattered instances,
# the event columns of apply_events, an array-form method's temporaries) and one
# whose user error must keep its message: run in a fresh interpreter each time.
MIXED = """
import json, sys
import numpy as np
import arbor_pycat
from arbor_pycat import CustomMechanism, models, register
from pycat_cell import StateCell, run_probed


@register
class Leaky(CustomMechanism):
    name = "native_leaky"
    state_vars = [("s", "", 0.0)]
    parameters = [("g", "S/cm2", 2e-4)]

    def advance_state(self, pp):            # array form: a reduction over instances
        pp.s = pp.s + pp.dt * (np.mean(pp.v) - pp.s) * 0.1

    def compute_currents(self, pp):          # C math: numba binds it to its own helpers
        wiggle = np.sin(pp.v) + np.arctan2(pp.v, 3.0) + np.abs(pp.v) ** 0.37 + np.fmod(pp.v, 7.0)
        pp.i = pp.g * (pp.v + 60.0 + 0.01 * pp.s + 1e-3 * wiggle)
        pp.conductance = pp.g


region = "(join (cable 0 0 0.3) (cable 0 0.55 0.6) (cable 0 0.8 1))"    # three pieces of the index
catalogue = arbor_pycat.build(models.HH, models.ExpSyn, Leaky, backend="numba")
recipe = StateCell(catalogue, paint=["py_hh", "native_leaky"], region=region, ncv=40, clamp=0.0,
                   place=["py_expsyn", "py_expsyn"], events=[1.0, 2.5, 4.0], weight=0.02,
                   density_states=[("py_hh", "m"), ("native_leaky", "s")], point_states=[("py_expsyn", "g")])
samples, spikes = run_probed(recipe, t_end=8.0)
print("RESULT " + json.dumps({
    "numba_imported": "numba" in sys.modules,
    "forms": {m.name: m.forms for m in arbor_pycat.build_report().mechanisms},
    "traces": {tag: values.tolist() for tag, (_, values) in samples.items()},
    "spikes": spikes,
}))
"""


def _run(code, cache, **env):
    result = run_snippet(code, env={"ARBOR_PYCAT_CACHE_DIR": str(cache), "PYTHONWARNINGS": "default", **env},
                         timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    line = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):]), result.stderr


def _libraries(cache):
    return sorted(Path(cache).glob("arbor_pycat_generated_*.so"))


def test_the_native_library_computes_what_numba_computes_bit_for_bit(tmp_path):
    compiled, _ = _run(MIXED, tmp_path)
    assert compiled["numba_imported"]
    assert len(_libraries(tmp_path)) == 3, list(tmp_path.iterdir())
    # numba cannot type this scalar form (np.fmod, np.arctan2): the array form,
    # recorded so that the cached build goes there without numba
    assert compiled["forms"]["native_leaky"]["compute_currents"] == "array", compiled["forms"]
    loaded, stderr = _run(MIXED, tmp_path)
    assert not loaded["numba_imported"], "a cached build imported numba"
    assert loaded["forms"] == compiled["forms"]
    from_numba, _ = _run(MIXED, tmp_path, ARBOR_PYCAT_NATIVE_CACHE="0")
    assert from_numba["numba_imported"]
    for other in (loaded, from_numba):
        assert other["traces"] == compiled["traces"]          # exactly equal, every sample
        assert other["spikes"] == compiled["spikes"]
    assert max(abs(x) for row in compiled["traces"]["py_expsyn.g"] for x in row) > 0   # events arrived
    assert "Warning" not in stderr, stderr


ERRORS = """
import json, sys
import numpy as np
import arbor_pycat
from arbor_pycat import CustomMechanism, register
from pycat_cell import OneCell, failure_text


@register
class Guarded(CustomMechanism):
    name = "native_guarded"
    state_vars = [("s", "", 0.0)]

    def advance_state(self, pp):
        if np.any(pp.s > 0.5):
            raise ValueError("s went above one half")
        pp.s = pp.s + pp.dt


catalogue = arbor_pycat.build(Guarded, backend="numba")
text = failure_text(OneCell(catalogue, paint=["native_guarded"]), t_end=1.0)
print("RESULT " + json.dumps({"numba_imported": "numba" in sys.modules, "text": text}))
"""


def test_a_users_error_keeps_its_message_from_the_native_library(tmp_path):
    compiled, _ = _run(ERRORS, tmp_path)
    loaded, _ = _run(ERRORS, tmp_path)
    assert not loaded["numba_imported"]
    assert "s went above one half" in loaded["text"] and "native_guarded" in loaded["text"], loaded["text"]
    assert "snippet.py:16" in loaded["text"], loaded["text"]         # the line of the raise
    same_file = re.sub(r"\S*snippet\.py", "snippet.py", loaded["text"])  # each run has its own folder
    assert same_file == re.sub(r"\S*snippet\.py", "snippet.py", compiled["text"])


ONE = """
import json, sys
import arbor_pycat
from arbor_pycat import CustomMechanism, register
from pycat_cell import OneCell, simulate


@register
class Marker(CustomMechanism):
    name = "native_marker_{tag}"
    state_vars = [("s", "", 0.0)]

    def init_mechanism(self, pp):
        pp.v = {value}
        pp.s = 1.0

    def advance_state(self, pp):
        pp.s = pp.s * 1.0


catalogue = arbor_pycat.build(Marker, backend="numba")
trace, _, _ = simulate(OneCell(catalogue, paint=["native_marker_{tag}"], clamp=0.0), t_end=0.2)
print("RESULT " + json.dumps({{"numba_imported": "numba" in sys.modules, "first": float(trace[0])}}))
"""


def test_a_corrupt_library_is_discarded_and_rebuilt(tmp_path):
    code = ONE.format(tag="corrupt", value=-30.0)
    assert _run(code, tmp_path)[0]["first"] == -30.0
    [library] = _libraries(tmp_path)
    library.write_bytes(b"\x7fELF garbage" * 100)
    again, stderr = _run(code, tmp_path)
    assert again["first"] == -30.0 and again["numba_imported"]
    assert "discarded the corrupt cache entry" in stderr and "checksum" in stderr, stderr
    healed, stderr = _run(code, tmp_path)            # compiled again, library written again
    assert healed["first"] == -30.0 and not healed["numba_imported"], stderr
    assert "discarded" not in stderr, stderr


def test_swapped_libraries_are_never_run_as_the_other_mechanism(tmp_path):
    codes = {tag: ONE.format(tag=tag, value=value) for tag, value in (("a", -32.0), ("b", -48.0))}
    for tag, code in codes.items():
        _run(code, tmp_path)
    a, b = _libraries(tmp_path)
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    for tag, value in (("a", -32.0), ("b", -48.0)):
        result, stderr = _run(codes[tag], tmp_path)
        assert result["first"] == value, (tag, result)
        assert "discarded the corrupt cache entry" in stderr, stderr


def test_a_native_load_and_a_numba_build_share_one_process(tmp_path):
    """A cached mechanism loaded without numba, then a new one compiled (numba
    imported then, its runtime the one the library already uses): both run."""
    _run(ONE.format(tag="first", value=-40.0), tmp_path)
    code = ONE.format(tag="first", value=-40.0) + ONE.format(tag="second", value=-44.0) + """
import numba
print("RESULT " + json.dumps({"attributes": [hasattr(numba, "_helperlib"),
                                             hasattr(numba.core.runtime, "_nrt_python")]}))
"""
    result = run_snippet(code, env={"ARBOR_PYCAT_CACHE_DIR": str(tmp_path)}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line[len("RESULT "):]) for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines == [{"numba_imported": False, "first": -40.0}, {"numba_imported": True, "first": -44.0},
                     {"attributes": [True, True]}], lines


def test_another_processor_or_numba_setting_is_another_entry(monkeypatch):
    key = native.host_key()
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    assert native.host_key() != key
    monkeypatch.delenv("NUMBA_CPU_NAME")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/elsewhere")      # where numba's files go: same code
    assert native.host_key() == key


def test_the_native_cache_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("ARBOR_PYCAT_NATIVE_CACHE", "off")
    assert not native.enabled()


FORCE_PIC = """
from arbor_pycat.backends.numba import native
_link, calls = native._link, []


def refuse_the_jit_objects(compiler, work, objects, slots, entries):
    calls.append(len(calls))
    if len(calls) == 1:
        return None, "refused by the test"
    return _link(compiler, work, objects, slots, entries)


native._link = refuse_the_jit_objects
"""


PIC = """
import json, sys
import arbor_pycat
from arbor_pycat import models
from pycat_cell import OneCell, simulate

catalogue = arbor_pycat.build(models.HH, backend="numba")
trace, spikes, _ = simulate(OneCell(catalogue, paint=["py_hh"], ncv=5, clamp=0.2, detector=True), t_end=30.0)
print("RESULT " + json.dumps({"numba_imported": "numba" in sys.modules, "trace": trace.tolist(), "spikes": spikes}))
"""


def test_position_independent_code_where_numbas_objects_do_not_link(tmp_path):
    """The fallback: the optimised modules emitted again (position-independent):
    the same numbers as numba's JIT."""
    compiled, _ = _run(FORCE_PIC + PIC, tmp_path)
    assert len(_libraries(tmp_path)) == 1
    loaded, _ = _run(PIC, tmp_path)
    assert not loaded["numba_imported"]
    assert loaded["trace"] == compiled["trace"] and loaded["spikes"] == compiled["spikes"]
    assert compiled["spikes"], "the clamp makes it spike"


def _library_of(ir_text, dynamic=False, reload_init=()):
    import llvmlite.binding as ll
    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    return type("Library", (), {"has_dynamic_globals": dynamic, "_reload_init": set(reload_init),
                                "_final_module": ll.parse_assembly(ir_text)})()


CALLS_NRT = """
declare void @NRT_Free(i8*)
declare void @PyErr_Clear()
define void @entry(i8* %p) {
  call void @NRT_Free(i8* %p)
  call void @PyErr_Clear()
  ret void
}
"""


@pytest.mark.parametrize("ir_text, dynamic, why", [
    (CALLS_NRT, False, None),
    (CALLS_NRT, True, "addresses or initialisation of this process"),
    ("declare void @only_in_numbas_jit()\ndefine void @entry() {\n  call void @only_in_numbas_jit()\n  ret void\n}\n",
     False, "which only numba's JIT resolves"),
    ("@_ZN08NumbaEnv1f = global i8* null\ndefine i8* @entry() {\n  %e = load i8*, i8** @_ZN08NumbaEnv1f\n"
     "  ret i8* %e\n}\n", False, "uses numba's environment"),
    ("@_ZN08NumbaEnv1f = global i8* null\ndefine void @entry() {\n  ret void\n}\n", False, None),
])
def test_what_a_library_may_hold(ir_text, dynamic, why):
    """Runtime functions become slots, Python's C API stays; code that needs numba's
    JIT at load time (its symbols, environments, this process's addresses) is not written."""
    slots, problem = native._external_symbols(_library_of(ir_text, dynamic))
    if why is None:
        assert problem is None and slots == ({"NRT_Free"} if "NRT_Free" in ir_text else set())
    else:
        assert problem is not None and why in problem, problem


def _numba_files(cache):
    return {p.name: p.stat().st_mtime_ns for p in Path(cache).rglob("*") if p.suffix in (".nbi", ".nbc")}


MARKER_CACHE = """
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat.declarations import spec_of
print("RESULT " + json.dumps({"numba_imported": "numba" in sys.modules, "first": float(trace[0]),
                             "cache": numba_backend.compile(spec_of(Marker)).cache}))
"""


def test_numbas_files_without_a_library_are_compiled_once_more(tmp_path):
    """An entry compiled with the native cache off (or by a build stopped before its
    library was written) gets its library at the next build with it on, once."""
    code = ONE.format(tag="late", value=-37.0)
    _run(code, tmp_path, ARBOR_PYCAT_NATIVE_CACHE="0")
    assert not _libraries(tmp_path) and _numba_files(tmp_path)
    healed, _ = _run(code, tmp_path)
    assert healed["numba_imported"] and healed["first"] == -37.0
    assert len(_libraries(tmp_path)) == 1
    loaded, _ = _run(code, tmp_path)
    assert not loaded["numba_imported"] and loaded["first"] == -37.0


def test_where_no_library_can_be_written_numbas_cache_serves(tmp_path):
    """No working C compiler: the record says so, and later builds load numba's
    cache without compiling again."""
    code = ONE.format(tag="no_cc", value=-38.0) + MARKER_CACHE
    first, _ = _run(code, tmp_path, CC="false")
    assert first["cache"] == "memory" and not _libraries(tmp_path)     # build() compiled it just before
    [note] = Path(tmp_path).glob("arbor_pycat_generated_*.native")
    assert "linking failed" in json.loads(note.read_text())["unavailable"]
    files = _numba_files(tmp_path)
    again, _ = _run(code, tmp_path, CC="false")
    assert again["numba_imported"] and again["first"] == -38.0
    assert _numba_files(tmp_path) == files          # loaded, not compiled again
    healed, _ = _run(code, tmp_path)                 # another compiler: tried again, once
    assert healed["first"] == -38.0 and len(_libraries(tmp_path)) == 1
    loaded, _ = _run(code, tmp_path)
    assert not loaded["numba_imported"] and loaded["first"] == -38.0


FULL_DISK = """
import errno
from arbor_pycat.backends.numba import native


class FullDisk:
    def __init__(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")


native.tempfile.TemporaryDirectory = FullDisk
"""


def test_a_failure_to_write_the_library_does_not_fail_the_build(tmp_path):
    """The library only saves time: a full disk while writing it leaves the build
    working and nothing recorded, and a later build writes it."""
    code = ONE.format(tag="full", value=-39.0)
    first, stderr = _run(FULL_DISK + code, tmp_path)
    assert first["first"] == -39.0 and not list(Path(tmp_path).glob("*.native")), stderr
    healed, _ = _run(code, tmp_path)
    assert healed["first"] == -39.0 and len(_libraries(tmp_path)) == 1
    loaded, _ = _run(code, tmp_path)
    assert not loaded["numba_imported"]


def test_a_library_that_does_not_load_here_is_noted_once(tmp_path):
    code = ONE.format(tag="unloadable", value=-41.0)
    _run(code, tmp_path)
    [record] = Path(tmp_path).glob("*.native")
    meta = json.loads(record.read_text())
    meta["slots"]["NRT_Free"] = ["numba._helperlib", "no_such_helper"]     # as if numba's runtime changed
    record.write_text(json.dumps(meta))
    first, stderr = _run(code, tmp_path)
    assert first["first"] == -41.0 and first["numba_imported"]
    assert "does not load in this process" in stderr, stderr
    assert "does not load" in json.loads(record.read_text())["unavailable"]
    again, stderr = _run(code, tmp_path)
    assert again["first"] == -41.0 and "does not load" not in stderr, stderr
