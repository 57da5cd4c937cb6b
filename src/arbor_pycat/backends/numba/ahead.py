"""Entries compiled ahead, in forked processes, while this one compiles the others.

numba compiles one function at a time per process (its global compiler lock),
so a mechanism's entries, each typed, lowered and optimised on its own, take
the sum of their times. On a machine with more than one core, before
compiling a mechanism's entries this process forks helpers that compile some
of them into numba's disk cache while it compiles the rest; it then loads
those from the cache (a few milliseconds each: the helper's object code, the
same instructions), or compiles them itself where a helper did not finish.

* A fork copies the process as it is, numba and LLVM started and the generated
  module imported: a helper starts at once (a fresh interpreter would first
  spend about half a second importing numba). The fork happens with numba's
  compiler lock held, so that no other thread of this process is inside
  numba or LLVM at that moment; the helper only compiles, writes numba's cache
  files of its entries (atomically, as numba does; see :func:`save_only`) and
  their object code, and leaves with ``os._exit`` (no ``atexit`` handlers, no
  buffered output: its stdout and stderr are /dev/null; SIGINT stays blocked).
* Nothing the helper does is trusted beyond what numba's cache already is: a
  helper that fails, is killed or takes too long only costs time, since this
  process then compiles the entry itself (and reports any error of numba's
  as it always does).
* Only on Linux (fork with LLVM's state is not safe on macOS), with more than
  one core available, for a mechanism with more than one entry, not under an
  MPI launcher or once MPI has started (an MPI library may not survive a
  fork), and not while the NMODL importer's helper processes are using the
  other cores.
  ``ARBOR_PYCAT_BUILD_HELPER=0`` (or false/no/off) turns these helpers off
  too, a number sets how many (never more than the entries less one).
"""
from __future__ import annotations

import os
import sys
import time

# While > 0 (the NMODL importer's own helper processes are running), no forks.
paused = 0

# Called (each, in order) when a build finds a mechanism in no cache, before it
# compiles it: the NMODL importer starts its helper processes then, so that a
# build whose mechanisms all come from the cache starts none.
on_cache_miss: list = []


def cache_missed() -> None:
    for hook in list(on_cache_miss):
        hook()

# A helper that has not finished this long after this process finished its own
# entries (seconds, at least; see Ahead.wait) is stopped and its entries compiled here.
SLACK_S = 30.0


def helper_setting(per_core: int, at_most: int) -> int:
    """How many helper processes ``ARBOR_PYCAT_BUILD_HELPER`` asks for: 0 (or
    false/no/off): none; a number: that many; unset or ``auto``: ``per_core`` per
    core beyond the first (1 or 2), ``at_most`` at most. Shared with the NMODL
    importer's helpers (one per mechanism)."""
    setting = os.environ.get("ARBOR_PYCAT_BUILD_HELPER", "auto").strip().lower()
    if setting in ("0", "false", "no", "off"):
        return 0
    if setting.isdigit():
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cores < 2 else min(per_core * cores - 1, at_most)


def worker_count(n_entries: int) -> int:
    """How many helpers to fork for a mechanism of ``n_entries`` entries (0: none)."""
    if paused or n_entries < 2 or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 0
    if _mpi_running():
        return 0
    # One process per entry, up to two per core: entries take similar times, so
    # three processes on two cores finish three entries sooner than two would.
    return max(0, min(helper_setting(per_core=2, at_most=7), n_entries - 1))


# Set by MPI launchers (Open MPI, MPICH/PMI, PMIx, Slurm's srun) in every rank.
_MPI_LAUNCH = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_STEP_NUM_TASKS")


def _mpi_running() -> bool:
    """True once MPI has started in this process (mpi4py's or Arbor's), or where an
    MPI launcher started it (MPI may start later, and the ranks share the node's
    cores): an MPI library may not survive a fork (memory registered with the
    network card)."""
    for name in _MPI_LAUNCH:
        value = os.environ.get(name, "").strip()
        if value and (not value.isdigit() or name == "PMIX_RANK" or int(value) > 1):
            return True
    mpi = sys.modules.get("mpi4py.MPI")
    try:
        if mpi is not None and mpi.Is_initialized():
            return True
    except Exception:
        return True
    arbor = sys.modules.get("arbor")
    check = getattr(arbor, "mpi_is_initialized", None)
    try:
        return bool(check()) if check is not None else False
    except Exception:
        return False


def split(costs: dict[str, float], workers: int) -> tuple[list[str], list[list[str]]]:
    """(this process's entries, each helper's), balancing the estimated ``costs``
    ({entry: cost}): the largest first, each to the least loaded; this process
    counts as loaded by one more entry's worth (it loads the helpers' entries and
    writes the native library afterwards), so it takes the smaller share."""
    order = sorted(costs, key=lambda m: -costs[m])
    loads = [max(costs.values()) * 0.25] + [0.0] * workers
    shares: list[list[str]] = [[] for _ in range(workers + 1)]
    for method in order:
        k = min(range(workers + 1), key=lambda j: loads[j])
        shares[k].append(method)
        loads[k] += costs[method]
    if not shares[0]:        # this process would only wait: it takes the smallest entry
        donor = max((share for share in shares[1:] if share), key=len)
        shares[0].append(donor.pop())
    own = [m for m in costs if m in shares[0]]
    return own, [[m for m in costs if m in share] for share in shares[1:] if share]


def save_only(is_entry):
    """In a helper process: numba saves to its disk cache only the functions
    ``is_entry`` accepts (the entries, whose cache holds everything they call;
    the NMODL importer's helpers: the generated modules' functions). Its cache
    index of a function is read, extended and rewritten without a lock, so two
    processes saving different signatures of one shared function (one of
    arbor_pycat's math functions, say) at once can leave an index pointing at
    the other's code; only this process then saves those."""
    from numba.core import caching
    save = caching.Cache.save_overload

    def save_entries_only(cache, sig, data):
        if is_entry(cache._py_func):
            save(cache, sig, data)
    caching.Cache.save_overload = save_entries_only


def _warm_up():
    """Load numba's typing and target registries (done at the first compile of a
    process, a few tenths of a second), so that the helpers start with them."""
    from numba.core.registry import cpu_target
    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()


class Ahead:
    """The helpers compiling some of one mechanism's entries (see the module's doc).

    ``compile_one(method)`` compiles one entry (in a helper: into numba's cache),
    ``object_of(method)`` is then its object code (the bytes numba's JIT loaded),
    which the helper hands back in a file: numba's cache keeps it too, but
    numba's JIT consumes it when loading, and the native library links it.
    Used as::

        with Ahead(compile, costs) as ahead:
            for method in ahead.own: compile(method)
            for method in ahead.theirs: ahead.wait(method)
            # then compile(method) for theirs: from numba's cache where a helper finished

    ``compiled_ahead``: the entries a helper finished; ``objects``: {entry: its
    object code} of those; ``failed``: the entries of helpers that did not."""

    def __init__(self, compile_one, costs: dict[str, float], object_of=lambda method: None,
                 enabled: bool = True, is_entry=lambda function: True):
        self.compile_one = compile_one
        self.enabled = enabled
        self.is_entry = is_entry
        self.object_of = object_of
        self.objects: dict[str, bytes] = {}
        self.folder = None
        self.deadline = None
        self.costs = costs
        self.own = list(costs)
        self.theirs: list[str] = []
        self.helpers: dict[int, list[str]] = {}    # pid -> its entries
        self.compiled_ahead: set[str] = set()
        self.failed: set[str] = set()
        self.started = None

    def __enter__(self):
        workers = worker_count(len(self.costs)) if self.enabled else 0
        if workers == 0:
            return self
        _, shares = split(self.costs, workers)
        import tempfile
        from numba.core.compiler_lock import global_compiler_lock
        try:
            self.folder = tempfile.mkdtemp(prefix="arbor_pycat_ahead_")
        except OSError:
            return self
        import gc
        import signal
        try:
            with global_compiler_lock:          # no other thread in numba or LLVM while forking
                _warm_up()
                # The helpers share this process's memory until they write to it; the
                # cyclic garbage collector would touch (and so copy) every object.
                freeze = gc.get_freeze_count() == 0     # (unless the caller froze some)
                if freeze:
                    gc.freeze()
                # Ctrl-C is for this process (which then stops the helpers): the helpers
                # keep SIGINT blocked from before the fork on, so that none unwinds into
                # the caller's code.
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    for share in shares:
                        try:
                            pid = os.fork()
                        except OSError:
                            break
                        if pid == 0:                # the helper: never returns
                            status = 1
                            try:
                                gc.disable()
                                self._helper(share)
                                status = 0
                            finally:
                                os._exit(status)    # whatever happened: no unwinding
                        self.helpers[pid] = share
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    if freeze:
                        gc.unfreeze()
        except BaseException:
            self.__exit__()
            raise
        self.theirs = [m for pid in self.helpers for m in self.helpers[pid]]
        self.own = [m for m in self.costs if m not in self.theirs]
        self.started = time.perf_counter()
        return self

    def _helper(self, methods):
        """A helper's work: compile ``methods``, hand back their object code."""
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        save_only(self.is_entry)
        for method in methods:
            self.compile_one(method)
            data = self.object_of(method)
            if isinstance(data, bytes):
                path = os.path.join(self.folder, method + ".o")
                with open(path + ".part", "wb") as f:
                    f.write(data)
                os.replace(path + ".part", path)

    def wait(self, method: str) -> bool:
        """Wait for the helper that compiles ``method``; True if it finished it. Helpers
        still running ``SLACK_S`` seconds (or as long again as this process took for
        its own entries, if longer) after the first call are stopped. An entry
        counts as finished when its object code is there: the helper writes it
        (atomically) after numba has saved the entry in its cache, so this holds
        whatever became of the helper afterwards (killed, or reaped by someone
        else where SIGCHLD is ignored)."""
        pid = next((p for p, share in self.helpers.items() if method in share), None)
        if pid is None:
            return method in self.compiled_ahead
        if self.deadline is None:     # one deadline for all helpers, from the first wait
            own_time = time.perf_counter() - self.started
            self.deadline = time.perf_counter() + max(SLACK_S, own_time)
        deadline = self.deadline
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:     # already reaped (SIGCHLD ignored)
                break
            if done == pid:
                break
            if time.perf_counter() > deadline:
                self._stop(pid)
                break
            time.sleep(0.002)
        for m in self.helpers.pop(pid):
            try:
                with open(os.path.join(self.folder, m + ".o"), "rb") as f:
                    self.objects[m] = f.read()
                self.compiled_ahead.add(m)
            except OSError:
                self.failed.add(m)
        return method in self.compiled_ahead

    @staticmethod
    def _stop(pid):
        """Stop and reap helper ``pid``, unless it is gone: where SIGCHLD is ignored the
        kernel reaps it at once, and its pid may then be another process's."""
        import signal
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def __exit__(self, *exc):
        for pid in list(self.helpers):     # not waited for (this process stopped early)
            self._stop(pid)
            self.helpers.pop(pid)
        if self.folder is not None:
            import shutil
            shutil.rmtree(self.folder, ignore_errors=True)
        return False
