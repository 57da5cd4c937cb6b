"""Reliability: whatever a user writes, no crash and no silently wrong run.

Each test reproduces one case that once crashed, ran silently wrong or gave a
misleading error. Where a crash is possible the case runs in a fresh
interpreter (``run_snippet``), so that a segmentation fault fails one test
instead of killing pytest.
"""
import abc
import math
from pathlib import Path

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


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_declared_names_are_normalised_like_python_identifiers(backend):
    """'tau_µ' (micro sign) in a declaration is 'tau_μ' (Greek mu) in source code."""
    micro = "tau_\u00b5"

    @register
    class Micro(CustomMechanism):
        name = "micro_sign"
        parameters = [(micro, "ms", 5.0)]

        def init_mechanism(self, pp):
            pp.v = -60.0 + pp.tau_µ      # the parser turns this into tau_μ

    spec = arbor_pycat.declarations.spec_of(Micro)
    assert spec.parameters[0].name == "tau_\u03bc"
    catalogue = arbor_pycat.build(Micro, backend=backend)
    assert arbor_pycat.builder.last_backends["micro_sign"] == backend
    trace, _, _ = simulate(OneCell(catalogue, paint=["micro_sign"], clamp=0.0), t_end=0.2)
    assert trace[0] == pytest.approx(-55.0)


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
    random = ["w"]
    how = {how!r}
    kept = []

    def advance_state(self, pp):
        if self.kept and Keeper.how != "slice":   # a later simulation: write what was kept
            target = self.kept[0]
            if isinstance(target, float):
                pass
            elif isinstance(target, np.ndarray) and Keeper.how == "random":
                float(target.sum())
            elif isinstance(target, np.ndarray):
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
        elif Keeper.how == "random":
            self.kept.append(pp.w)
        elif Keeper.how == "read":
            self.kept[:] = [float(pp.w[0] + pp.v[0] + pp.m[0])]
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
                                        ("v", "pp.v"), ("random", "pp.w")])
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


@pytest.mark.parametrize("how", ["copy", "read"])
def test_a_copy_kept_after_the_call_is_fine(how):
    result = _snippet(KEEPER.format(how=how))
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


# -- the numba backend's disk cache (each step in a fresh interpreter) ---------------

def _mechanism(name, value, extra=""):
    """A numba mechanism that sets v to ``value`` at init: the first sample shows
    which compiled code ran."""
    return f"""
{extra}
@register
class M_{name}(CustomMechanism):
    name = "{name}"
    state_vars = [("s", "", 0.0)]

    def init_mechanism(self, pp):
        pp.v = {value}
        pp.s = 1.0

    def advance_state(self, pp):
        pp.s = pp.s * 1.0
"""


def _first_sample(name):
    return f"""
cat = arbor_pycat.build(M_{name}, backend="numba")
assert arbor_pycat.builder.last_backends["{name}"] == "numba", arbor_pycat.builder.last_backends
trace, _, _ = simulate(OneCell(cat, paint=["{name}"], clamp=0.0), t_end=0.2)
print("FIRST", "{name}", round(float(trace[0]), 6))
"""


# numba's own cache files are what these tests corrupt: the native library
# (tests/test_native_cache.py), which a new process would load first, is off.
NUMBA_CACHE_ONLY = {"ARBOR_PYCAT_NATIVE_CACHE": "0"}


def _cached_run(body, cache, env=None, check=True):
    environment = {"ARBOR_PYCAT_CACHE_DIR": str(cache), "PYTHONWARNINGS": "default"}
    environment.update(env or {})
    result = run_snippet(PRELUDE + body, env=environment, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _firsts(result):
    return {line.split()[1]: float(line.split()[2]) for line in result.stdout.splitlines()
            if line.startswith("FIRST")}


def _entries(cache):
    return sorted(cache.glob("arbor_pycat_generated_*.py"))


def test_garbage_in_a_cached_module_is_discarded_and_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    body = _mechanism("garbled", -30.0) + _first_sample("garbled")
    assert _firsts(_cached_run(body, cache, NUMBA_CACHE_ONLY)) == {"garbled": -30.0}
    [entry] = _entries(cache)
    entry.write_bytes(b"\xff\xfe\x00garbage\x9c" * 50)
    again = _cached_run(body, cache, NUMBA_CACHE_ONLY)
    assert _firsts(again) == {"garbled": -30.0}
    assert "discarded the corrupt cache entry" in again.stderr, again.stderr
    third = _cached_run(body, cache, NUMBA_CACHE_ONLY)          # rebuilt: no warning any more
    assert _firsts(third) == {"garbled": -30.0} and "discarded" not in third.stderr, third.stderr


def test_garbage_in_numbas_cache_files_is_discarded_and_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    body = _mechanism("garbled_nbc", -31.0) + _first_sample("garbled_nbc")
    _cached_run(body, cache, NUMBA_CACHE_ONLY)
    data = sorted((cache / "__pycache__").glob("*.nbc")) + sorted((cache / "__pycache__").glob("*.nbi"))
    assert data
    for f in data:
        f.write_bytes(b"\x80\x04garbage" * 10)
    again = _cached_run(body, cache, NUMBA_CACHE_ONLY)
    assert _firsts(again) == {"garbled_nbc": -31.0}
    assert "discarded the corrupt cache entry" in again.stderr, again.stderr


def test_swapped_cache_entries_are_detected(tmp_path):
    """Two valid entries' compiled files swapped: each is verified against its
    key before use, and rebuilt, never run as the other mechanism's code."""
    cache = tmp_path / "cache"
    body = (_mechanism("swap_a", -32.0) + _mechanism("swap_b", -48.0)
            + _first_sample("swap_a") + _first_sample("swap_b"))
    assert _firsts(_cached_run(body, cache, NUMBA_CACHE_ONLY)) == {"swap_a": -32.0, "swap_b": -48.0}
    a, b = _entries(cache)
    pycache = cache / "__pycache__"
    for fa in sorted(pycache.glob(a.stem + ".*")):
        fb = pycache / fa.name.replace(a.stem, b.stem)
        assert fb.exists(), fb
        da, db = fa.read_bytes(), fb.read_bytes()
        fa.write_bytes(db)
        fb.write_bytes(da)
    again = _cached_run(body, cache, NUMBA_CACHE_ONLY)
    assert _firsts(again) == {"swap_a": -32.0, "swap_b": -48.0}, again.stdout
    assert "discarded the corrupt cache entry" in again.stderr, again.stderr


def test_the_key_follows_helpers_through_modules(tmp_path):
    """A helper calling inner.f(v) and reading consts.K: editing either module
    gives a new key, never the old compiled code."""
    cache = tmp_path / "cache"
    package = tmp_path / "lib"
    package.mkdir()
    (package / "consts.py").write_text("K = 2.0\n")
    (package / "inner.py").write_text("from numba import njit\n\n@njit\ndef f(x):\n    return 3.0 * x\n")
    (package / "helper.py").write_text(
        "from numba import njit\nimport consts\nimport inner\n\n"
        "@njit\ndef offset(x):\n    return inner.f(x) + consts.K\n")
    body = _mechanism("through_modules", "-60.0 + helper.offset(1.0)", extra="import helper") \
        + _first_sample("through_modules")
    env = {"PYTHONPATH": f"{package}{__import__('os').pathsep}{Path(__file__).parent}"}
    assert _firsts(_cached_run(body, cache, env)) == {"through_modules": -55.0}
    (package / "consts.py").write_text("K = 4.0\n")
    assert _firsts(_cached_run(body, cache, env)) == {"through_modules": -53.0}
    (package / "inner.py").write_text("from numba import njit\n\n@njit\ndef f(x):\n    return 10.0 * x\n")
    assert _firsts(_cached_run(body, cache, env)) == {"through_modules": -46.0}


def test_a_helper_edited_on_disk_after_import_is_refused(tmp_path):
    """Rebuilding in the same process after the helper's file changed: the source
    on disk is not the code Python runs, so numba refuses instead of mixing them."""
    cache = tmp_path / "cache"
    package = tmp_path / "lib"
    package.mkdir()
    rates = package / "rates.py"
    rates.write_text("def rate(x):\n    return 2.0 * x\n")
    body = _mechanism("edited_helper", "-60.0 + rates.rate(1.0)", extra="import rates") + f"""
{_first_sample("edited_helper")}
import pathlib, time
time.sleep(0.01)
pathlib.Path({str(rates)!r}).write_text("def other(x):\\n    return 100.0 * x\\n\\ndef rate(x):\\n    return 5.0 * x\\n")
try:
    arbor_pycat.build(M_edited_helper, backend="numba")
except arbor_pycat.MechanismError as exc:
    print("REFUSED", exc)
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    cat = arbor_pycat.build(M_edited_helper, backend="auto")     # auto: the python backend runs the imported code
trace, _, _ = simulate(OneCell(cat, paint=["edited_helper"], clamp=0.0), t_end=0.2)
print("AUTO", arbor_pycat.builder.last_backends["edited_helper"], round(float(trace[0]), 6))
print("WARNED", any("has changed since it was imported" in str(w.message) for w in caught))
"""
    env = {"PYTHONPATH": f"{package}{__import__('os').pathsep}{Path(__file__).parent}"}
    result = _cached_run(body, cache, env)
    assert _firsts(result) == {"edited_helper": -58.0}
    refused = [line for line in result.stdout.splitlines() if line.startswith("REFUSED")]
    assert refused and "rate" in refused[0] and "has changed since it was imported" in refused[0], result.stdout
    assert "AUTO python -58.0" in result.stdout and "WARNED True" in result.stdout, result.stdout


def test_unwritable_cache_folder_uses_a_private_fallback(tmp_path):
    """The cache path is unusable and a file sits at the old predictable fallback:
    a private temporary folder (mode 0700) with a warning, not FileExistsError."""
    import os
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    if hasattr(os, "getuid"):
        (tmp / f"arbor_pycat_cache_{os.getuid()}").write_text("planted")
    body = _mechanism("fallback", -33.0) + _first_sample("fallback") + """
from arbor_pycat.backends.numba import generate
import os, stat
folder = generate._fallback_dir
print("FALLBACK", folder.name.startswith("arbor_pycat_cache_"), oct(stat.S_IMODE(os.stat(folder).st_mode)),
      folder.parent == __import__("pathlib").Path(os.environ["TMPDIR"]))
"""
    result = _cached_run(body, blocker / "cache", env={"TMPDIR": str(tmp)})
    assert _firsts(result) == {"fallback": -33.0}
    assert "FALLBACK True 0o700 True" in result.stdout, result.stdout
    assert "not using the cache folder" in result.stderr and "private folder" in result.stderr, result.stderr


def test_a_cache_folder_others_can_write_is_not_used(tmp_path):
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(0o777)
    planted = cache / "arbor_pycat_generated_planted.py"
    planted.write_text("raise SystemExit('planted code ran')\n")
    result = _cached_run(_mechanism("guarded", -34.0) + _first_sample("guarded"), cache)
    assert _firsts(result) == {"guarded": -34.0}
    assert "others can write it" in result.stderr and "chmod go-w" in result.stderr, result.stderr
    assert _entries(cache) == [planted]           # nothing written to, or loaded from, it


@pytest.mark.skipif(not hasattr(__import__("os"), "getuid") or __import__("os").getuid() != 0,
                    reason="needs root to give the folder to another user")
def test_a_cache_folder_of_another_user_is_not_used(tmp_path):
    import os
    cache = tmp_path / "theirs"
    cache.mkdir(mode=0o755)
    os.chown(cache, 65534, 65534)
    result = _cached_run(_mechanism("not_mine", -35.0) + _first_sample("not_mine"), cache)
    assert _firsts(result) == {"not_mine": -35.0}
    assert "belongs to another user" in result.stderr, result.stderr


def test_concurrent_builds_share_one_cache_folder(tmp_path):
    """Four processes build the same mechanism into one empty cache folder at the
    same moment (a cluster job's ranks): all succeed with the same result, and
    one valid entry remains, which a fifth process loads without a warning."""
    import os
    import subprocess
    import sys
    import time
    cache = tmp_path / "cache"
    start = time.time() + 3.0
    body = PRELUDE + _mechanism("concurrent", -36.0) + f"""
import time
time.sleep(max(0.0, {start} - time.time()))      # start together
""" + _first_sample("concurrent")
    script = tmp_path / "rank.py"
    script.write_text(body)
    env = dict(os.environ, ARBOR_PYCAT_CACHE_DIR=str(cache), PYTHONWARNINGS="default",
               PYTHONPATH=str(Path(__file__).parent))
    ranks = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=tmp_path) for _ in range(4)]
    outputs = [rank.communicate(timeout=300) for rank in ranks]
    for rank, (out, err) in zip(ranks, outputs):
        assert rank.returncode == 0, out + err
        assert _firsts(type("R", (), {"stdout": out})) == {"concurrent": -36.0}, out + err
        assert "discarded" not in err and "Traceback" not in err, err
    [entry] = _entries(cache)
    assert entry.with_suffix(".sums").exists()
    assert not list(cache.glob(".*.tmp")), list(cache.iterdir())
    fifth = _cached_run(_mechanism("concurrent", -36.0) + _first_sample("concurrent"), cache)
    assert _firsts(fifth) == {"concurrent": -36.0} and "discarded" not in fifth.stderr, fifth.stderr


def test_a_placeholder_method_under_numba_says_it_always_raises():
    @register
    class Placeholder(CustomMechanism):
        name = "placeholder"
        state_vars = ["s"]

        def init_mechanism(self, pp):
            pp.s = 0.0

        def advance_state(self, pp):
            """To do."""
            raise NotImplementedError("not written yet")

    with pytest.raises(MechanismError) as info:
        arbor_pycat.build(Placeholder, backend="numba")
    message = str(info.value)
    assert "placeholder" in message and "advance_state always raises NotImplementedError" in message, message
    assert "line" in message


# -- Ctrl-C -----------------------------------------------------------------------------

INTERRUPTED = PRELUDE + """
import sys, time
backend, threads = sys.argv[1], int(sys.argv[2])
N = 200 if backend == "python" else 200000


@register
class Busy(CustomMechanism):
    name = "busy"
    state_vars = [("s", "", 0.0)]

    def advance_state(self, pp):
        x = 0.0
        for k in range(N):
            x += k * 1e-9
        pp.s = pp.s + x


class Cells(OneCell):
    def num_cells(self):
        return 8


catalogue = arbor_pycat.build(Busy, backend=backend)
sim = arbor.simulation(Cells(catalogue, paint=["busy"]), arbor.context(threads=threads))
print("READY", flush=True)
outcome = {}
try:
    try:
        sim.run(5000 * arbor.units.ms, 0.025 * arbor.units.ms)
        print("FINISHED", flush=True)
    except RuntimeError as exc:
        outcome["stopped"] = time.monotonic()
        outcome["error"] = str(exc)
        time.sleep(1.0)                 # the KeyboardInterrupt itself follows
except KeyboardInterrupt as interrupt:
    outcome.setdefault("stopped", time.monotonic())
    outcome["keyboard"] = True
    outcome.setdefault("error", str(interrupt.__context__))
print("STOPPED", outcome["stopped"], flush=True)
print("ERROR", outcome.get("error"), flush=True)
print("KEYBOARD", outcome.get("keyboard"), flush=True)
# A Ctrl-C handled earlier must not stop the next run.
again = arbor.simulation(Cells(catalogue, paint=["busy"]), arbor.context(threads=threads))
again.run(0.25 * arbor.units.ms, 0.025 * arbor.units.ms)
print("AGAIN OK", flush=True)
"""


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_ctrl_c_stops_a_run_promptly_and_says_where(backend, threads, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    child = subprocess.Popen([sys.executable, str(script), backend, str(threads)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert child.stdout.readline().startswith("READY"), child.stderr.read()
        time.sleep(1.0)                  # well inside the run (it takes far longer)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, out + err
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert "FINISHED" not in out, out
    reaction = float(lines["STOPPED"]) - sent
    print(f"{backend}, threads={threads}: sim.run() stopped {reaction:.3f} s after SIGINT")
    # about a second at most is the goal; the bound leaves room for a loaded machine
    assert reaction < 2.0, f"{reaction:.2f} s\n{out}"
    assert ("KeyboardInterrupt (Ctrl-C): the simulation was interrupted while mechanism 'busy' "
            "ran advance_state") in lines["ERROR"], out
    assert lines["KEYBOARD"] == "True", out
    assert "AGAIN OK" in out, out + err


# -- many builds in one process ---------------------------------------------------------

def test_many_builds_cost_few_memory_maps_and_little_memory():
    """Thousands of build() calls once exhausted the kernel's memory maps (6 a
    build) and aborted the process. Now a copy of the shim serves many builds;
    the first catalogue still works at the end."""
    _snippet("""
def maps():
    with open("/proc/self/maps", "rb") as f:
        return f.read().count(b"\\n")

def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

@register
class Leak(CustomMechanism):
    name = "leak_many"
    parameters = [("g", "S/cm2", 1e-3), ("e", "mV", -70.0)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v - pp.e)
        pp.conductance = pp.g

first = arbor_pycat.build(Leak, backend="python")
for backend, n in (("python", 3000), ("numba", 200)):
    arbor_pycat.build(Leak, backend=backend)
    m0, r0 = maps(), rss_kb()
    for _ in range(n):
        arbor_pycat.build(Leak, backend=backend)
    per_build = (maps() - m0) / n, (rss_kb() - r0) / n
    print("PER BUILD", backend, per_build)
    assert per_build[0] < 0.05, per_build          # was 6
    assert per_build[1] < 60, per_build            # kB; was about 200
trace, _, _ = simulate(OneCell(first, paint=["leak_many"], clamp=0.0), t_end=5.0)
assert np.allclose(trace[-1], -70.0, atol=0.5), trace[-5:]
print("OK")
""", timeout=300)


def test_a_clear_error_before_the_memory_map_limit():
    _snippet("""
from arbor_pycat import MechanismError
from arbor_pycat.bridge import shim as bridge

@register
class Leak(CustomMechanism):
    name = "leak_limit"
    parameters = [("g", "S/cm2", 1e-3)]

    def compute_currents(self, pp):
        pp.i = pp.g * (pp.v + 65.0)
        pp.conductance = pp.g

arbor_pycat.build(Leak, backend="python")
bridge._map_limit = lambda: bridge._map_count() + 10     # as if the kernel allowed 10 more
try:
    arbor_pycat.build(Leak, backend="python")
except MechanismError as exc:
    message = str(exc)
else:
    raise AssertionError("no error")
assert "memory maps" in message and "vm.max_map_count" in message and "reuse" in message, message
print("OK")
""")
