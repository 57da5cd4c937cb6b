"""Helpers forked to compile some of a mechanism's entries meanwhile
(backends/numba/ahead.py): the same code and numbers as without them, the
native library written from their object code, and a helper that fails or
hangs costs only time."""
import json
import os
from pathlib import Path

import pytest

from arbor_pycat.backends.numba import ahead
from pycat_cell import check_snippet

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not os.uname().sysname == "Linux",
                                reason="helpers are forked on Linux only")

SNIPPET = """
import json, os, sys, time
import numpy as np
import arbor_pycat
import arbor_pycat.backends.numba as numba_backend
from arbor_pycat import CustomMechanism
from arbor_pycat.backends.numba import ahead
from arbor_pycat.declarations import spec_of
from pycat_cell import OneCell, simulate

PATCH

class Gate(CustomMechanism):
    name = "ahead_gate"
    state_vars = [("m", "", 0.0)]
    parameters = [("gbar", "S/cm2", 0.01), ("e", "mV", -80.0)]

    def rates(self, v):
        alpha = 0.1 * np.exp(-(v + VHALF) / 18.0)
        beta = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
        return alpha, beta

    def init_mechanism(self, pp):
        a, b = self.rates(pp.v)
        pp.m = a / (a + b)

    def advance_state(self, pp):
        a, b = self.rates(pp.v)
        pp.m = pp.m + (a - (a + b) * pp.m) * pp.dt

    def compute_currents(self, pp):
        pp.i = pp.gbar * pp.m * (pp.v - pp.e)


start = time.perf_counter()
compiled = numba_backend.compile(spec_of(Gate))
seconds = time.perf_counter() - start
catalogue = arbor_pycat.build(Gate, backend="numba")
trace, _, _ = simulate(OneCell(catalogue, paint=["ahead_gate"], clamp=0.2), t_end=5.0)
module = compiled.module
native = not hasattr(module, "_pycat_cfuncs")
try:
    os.waitpid(-1, os.WNOHANG)
    children = True
except ChildProcessError:
    children = False
print("RESULT " + json.dumps({
    "native": native,
    "cache": compiled.cache,
    "ahead": None if native else sorted(module._pycat_ahead),
    "cache_hits": None if native else {m: c.cache_hits for m, c in module._pycat_cfuncs.items()},
    "libraries": sorted(p.name for p in __import__("pathlib").Path(os.environ["ARBOR_PYCAT_CACHE_DIR"]).glob("*.so")),
    "indexes": sorted(p.name for p in __import__("pathlib").Path(os.environ["ARBOR_PYCAT_CACHE_DIR"]).rglob("*.nbi")),
    "children_left": children,
    "seconds": seconds,
    "trace": [float(x) for x in trace],
}))
"""


def _run(tmp_path, name, vhalf="40.0", patch="", helpers="2"):
    cache = tmp_path / name
    code = SNIPPET.replace("PATCH", f"VHALF = {vhalf}\n{patch}")
    env = {"ARBOR_PYCAT_CACHE_DIR": str(cache), "ARBOR_PYCAT_BUILD_HELPER": helpers}
    output = check_snippet(code, env=env, timeout=300).stdout
    line = [line for line in output.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_helpers_compile_entries_this_process_then_loads(tmp_path):
    """Two helpers compile two of the three entries; this process loads them from
    numba's cache, writes the native library with their object code, and a new
    process loads that library. The traces are those of a build without helpers,
    bit for bit."""
    with_helpers = _run(tmp_path, "with")
    assert (with_helpers["native"], with_helpers["cache"]) == (False, "compiled")
    assert len(with_helpers["ahead"]) == 2, with_helpers["ahead"]
    assert with_helpers["cache_hits"] == {m: int(m in with_helpers["ahead"]) for m in with_helpers["cache_hits"]}
    assert len(with_helpers["libraries"]) == 1
    assert not with_helpers["children_left"]          # every helper reaped
    # numba's cache holds the entries; a scalar kernel is inlined into its entry
    # (numba's inline="always"), so it has no cache file of its own
    kernels = {m for m in with_helpers["cache_hits"]
               if any(f".__pc_kernel_{m}_" in name for name in with_helpers["indexes"])}
    entries = {m for m in with_helpers["cache_hits"]
               if any(f".__pc_entry_{m}-" in name for name in with_helpers["indexes"])}
    assert entries == set(with_helpers["cache_hits"]), with_helpers["indexes"]
    assert not kernels, with_helpers["indexes"]

    again = _run(tmp_path, "with")                     # the same cache: the native library
    assert (again["native"], again["cache"]) == (True, "disk")
    assert again["trace"] == with_helpers["trace"]

    alone = _run(tmp_path, "alone", helpers="0")
    assert alone["ahead"] == [] and alone["cache_hits"] == {m: 0 for m in alone["cache_hits"]}
    assert alone["trace"] == with_helpers["trace"]
    assert min(alone["trace"]) < -70.0                  # the channel pulls v towards e


def test_a_helper_that_fails_costs_only_time(tmp_path):
    patch = ("def fail(self, methods):\n"
             "    os._exit(3)\n"
             "ahead.Ahead._helper = fail\n")
    failed = _run(tmp_path, "failed", vhalf="41.0", patch=patch)
    assert failed["ahead"] == [] and failed["cache_hits"] == {m: 0 for m in failed["cache_hits"]}
    assert len(failed["libraries"]) == 1 and not failed["children_left"]
    alone = _run(tmp_path, "alone", vhalf="41.0", helpers="0")
    assert failed["trace"] == alone["trace"]


def test_a_helper_that_hangs_is_stopped(tmp_path):
    patch = ("def hang(self, methods):\n"
             "    time.sleep(600)\n"
             "ahead.Ahead._helper = hang\n"
             "ahead.SLACK_S = 0.2\n")
    hung = _run(tmp_path, "hung", vhalf="42.0", patch=patch)
    assert hung["ahead"] == [] and not hung["children_left"]
    assert hung["seconds"] < 120
    alone = _run(tmp_path, "alone", vhalf="42.0", helpers="0")
    assert hung["trace"] == alone["trace"]


def test_a_helper_ignores_ctrl_c(tmp_path):
    """Ctrl-C reaches every process of the group; a helper keeps SIGINT blocked (this
    process stops the helpers), so none unwinds into the caller's code."""
    patch = ("import signal\n"
             "_helper = ahead.Ahead._helper\n"
             "def interrupted(self, methods):\n"
             "    os.kill(os.getpid(), signal.SIGINT)\n"
             "    _helper(self, methods)\n"
             "ahead.Ahead._helper = interrupted\n")
    interrupted = _run(tmp_path, "interrupted", vhalf="44.0", patch=patch)
    assert len(interrupted["ahead"]) == 2 and not interrupted["children_left"]


def test_one_deadline_for_every_helper(tmp_path, monkeypatch):
    """Helpers that hang are all stopped at one deadline (not one per helper,
    each later than the last)."""
    import time
    monkeypatch.setattr(ahead, "SLACK_S", 0.2)
    waiting = ahead.Ahead(None, {"a": 1.0, "b": 1.0, "c": 1.0})
    waiting.folder = str(tmp_path)
    for method in ("b", "c"):
        pid = os.fork()
        if pid == 0:
            try:
                time.sleep(60)
            finally:
                os._exit(0)
        waiting.helpers[pid] = [method]
    waiting.started = time.perf_counter()
    assert not waiting.wait("b")
    first = waiting.deadline
    assert not waiting.wait("c")
    assert waiting.deadline == first and waiting.failed == {"b", "c"} and not waiting.helpers
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)                  # both stopped and reaped


def test_under_an_mpi_launcher_no_helpers(monkeypatch):
    monkeypatch.delenv("ARBOR_PYCAT_BUILD_HELPER", raising=False)
    for name in ahead._MPI_LAUNCH:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert ahead.worker_count(3) == 0
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "1")
    monkeypatch.setenv("ARBOR_PYCAT_BUILD_HELPER", "2")
    assert ahead.worker_count(3) == 2


def test_the_entries_are_shared_out_largest_first():
    own, shares = ahead.split({"a": 5.0, "b": 4.0, "c": 1.0}, 2)
    assert sorted(own + [m for share in shares for m in share]) == ["a", "b", "c"]
    assert len(shares) == 2 and own == ["c"]            # this process: the smallest share
    own, shares = ahead.split({"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}, 1)
    assert len(own) == 2 and len(shares[0]) == 2
    own, shares = ahead.split({"a": 10.0, "b": 1.0, "c": 1.0}, 2)   # this process never only waits
    assert own and sorted(own + [m for share in shares for m in share]) == ["a", "b", "c"]


def test_how_many_helpers(monkeypatch):
    monkeypatch.setenv("ARBOR_PYCAT_BUILD_HELPER", "0")
    assert ahead.worker_count(3) == 0
    monkeypatch.setenv("ARBOR_PYCAT_BUILD_HELPER", "5")
    assert ahead.worker_count(3) == 2                   # never more than the entries less one
    assert ahead.worker_count(1) == 0
    monkeypatch.setattr(ahead, "paused", 1)              # the NMODL importer's helpers are running
    assert ahead.worker_count(3) == 0


def test_helpers_where_sigchld_is_ignored(tmp_path):
    """With SIGCHLD ignored the kernel reaps the helpers itself (waitpid fails): their
    entries still count once their object code is there."""
    patch = "import signal\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
    ignored = _run(tmp_path, "ignored", vhalf="43.0", patch=patch)
    assert len(ignored["ahead"]) == 2 and len(ignored["libraries"]) == 1
    alone = _run(tmp_path, "alone", vhalf="43.0", helpers="0")
    assert ignored["trace"] == alone["trace"]
