"""arbor_pycat benchmarks: Python mechanisms against Arbor's compiled ones.

Run ``make bench`` or ``python benchmarks/run.py [--backend python|numba|both (default)]
[--cases NAME,...] [--repeat N] [--duration MS] [--json FILE]``.

Cases (``--cases``, default: all but the last):

``hh_1cv``       Hodgkin-Huxley (:class:`arbor_pycat.models.HH`) vs Arbor's ``hh``,
                 1 cell x 1 CV: the per-call cost dominates.
``hh_1024cv``    the same, 1 cell x 1024 CVs: the per-instance cost dominates.
``hh_256cells``  256 cells x 1 CV, with threads=1 and threads=2, the cells in
                 one cell group per thread (a partition hint): one call of each
                 method per group and step.
``kernels``      (numba backend) HH's compute_currents and advance_state alone,
                 called in a loop on 256 and 1024 instances without Arbor:
                 ns per instance, ours against ``bench_hh.mod`` (the same
                 model in NMODL) compiled by modcc with Arbor's compiler flags
                 (``arbor-build-catalogue``; skipped if that cannot run).
``bridge``       the bridge's own cost per method call: a mechanism whose
                 methods all do nothing, painted next to ``hh``, minus ``hh``
                 alone, divided by the number of calls Arbor made.
``build``        build() time: cold (fresh process, empty compile caches), library
                 cached (a new mechanism; numba's cache of arbor_pycat's math
                 filled), cached (fresh process, disk cache: the native library),
                 numba's cache (the same with ``ARBOR_PYCAT_NATIVE_CACHE=0``),
                 warm (again in the same process).
``bbp_build``    (numba) ``nmodl.build()`` of the 12 bbp .mod files of ``../shared``:
                 cold (every cache empty), cached (fresh process: the native
                 libraries) and numba's cache only (``ARBOR_PYCAT_NATIVE_CACHE=0``).
``styles``       (numba) each HH style of ``../shared/styles`` at 1 and 1024 CVs
                 (``style_check.py``: compiled, equal to the python backend, ratio to ``hh``).
``branched``     (numba) ``../shared/bench/branched_hh.py``: a Y-shaped cell vs a cable.
``network``      (numba) ``../shared/bench/network_expsyn.py 200 20``.
``forked_network`` (numba) ``benchmarks/forked_network.py``: 10 and 2000 small
                 Y-shaped cells (one per cell group) and 10 cables of the same CVs.
``l5pc``         (numba) ``benchmarks/l5pc.py``: Arbor's L5PC example (14k CVs) on the 12 bbp
                 mechanisms imported from their .mod files, against the compiled catalogue.
``hh_256cells_ungrouped``  (not run by default) 256 cells with Arbor's default
                 partition, one cell per group, so one call per cell: slow with
                 the python backend; runs 1/50 of the duration.

Wall times are of ``sim.run()`` only (not building the simulation), the
median of ``--repeat`` runs, each on a fresh simulation after one warm-up
run. Arbor's mechanism and ours run in turns (one round: one run of each),
and a ratio is the median of the rounds' ratios, so that the load of a
shared machine changing during the benchmark hits both alike. A case is a function ``case(backend, options) -> list of rows``
registered in :data:`CASES`; a row is a dict printed by :func:`report`.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import types
import warnings

import arbor
import numpy as np
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism, builder, models
from arbor_pycat.recipe import CableRecipe

BACKENDS = ("python", "numba")


# -- the cells ----------------------------------------------------------------------

class Cells(CableRecipe):
    """``n_cells`` unconnected cables (length 6 µm per CV, Ø 6 µm), every one with
    ``mechanisms`` painted everywhere and a 0.2 nA clamp at one end (HH spikes)."""

    def __init__(self, catalogue, mechanisms, n_cells=1, n_cv=1):
        super().__init__(catalogue, n_cells)
        self.mechanisms = list(mechanisms)
        self.n_cv = n_cv

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        length = 6.0 * self.n_cv
        tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, 3), arbor.mpoint(length, 0, 0, 3), tag=1)
        decor = arbor.decor()
        for mechanism in self.mechanisms:
            decor.paint("(all)", arbor.density(mechanism))
        decor.place("(location 0 0)", arbor.i_clamp(5 * U.ms, 1e9 * U.ms, 0.2 * U.nA))
        return arbor.cable_cell(tree, decor, arbor.label_dict(),
                                discretization=arbor.cv_policy_fixed_per_branch(self.n_cv))


def _simulation(recipe, context, group_size):
    if group_size:
        hints = {arbor.cell_kind.cable: arbor.partition_hint(cpu_group_size=group_size)}
        return arbor.simulation(recipe, context, arbor.partition_load_balance(recipe, context, hints))
    return arbor.simulation(recipe, context)


def _timed_run(make_recipe, context, group_size, duration, dt):
    sim = _simulation(make_recipe(), context, group_size)
    start = time.perf_counter()
    sim.run(duration * U.ms, dt * U.ms)
    return time.perf_counter() - start


def time_runs(recipes, options, threads=1, group_size=None, duration=None):
    """Median wall times (s) of sim.run(), one per recipe maker, and the median
    of their per-round ratios to the first.

    Each round runs every recipe once, on a fresh simulation, in turns
    (alternating the order), so that a change in the machine's load hits
    all of them alike; one warm-up round first. ``group_size``: cells per
    cell group (Arbor's default is 1: one call of each method per cell).
    """
    context = arbor.context(threads=threads)
    duration = duration or options.duration
    times = [[] for _ in recipes]
    for k in range(options.repeat + 1):          # round 0 is a warm-up
        order = list(range(len(recipes)))
        if k % 2:
            order.reverse()
        for j in order:
            elapsed = _timed_run(recipes[j], context, group_size, duration, options.dt)
            if k:
                times[j].append(elapsed)
    medians = [statistics.median(t) for t in times]
    ratios = [statistics.median(b / a for a, b in zip(times[0], t)) for t in times]
    return medians, ratios


def steps(options, duration=None):
    return int(round((duration or options.duration) / options.dt))


def build(backend, *classes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        catalogue = arbor_pycat.build(*classes, backend=backend)
    used = {builder.last_backends.get(c.name) for c in classes}
    if used != {backend}:
        raise RuntimeError(f"asked for the {backend} backend, got {used}")
    return catalogue


# -- cases ----------------------------------------------------------------------------

def _hh_row(case, backend, options, n_cells, n_cv, threads=1, group_size=None, duration=None):
    catalogue = build(backend, models.HH)
    (builtin, ours), (_, ratio) = time_runs(
        [lambda: Cells(None, ["hh"], n_cells, n_cv), lambda: Cells(catalogue, [models.HH.name], n_cells, n_cv)],
        options, threads, group_size, duration)
    n = steps(options, duration)
    note = f", threads={threads}" if n_cells > 1 else ""
    if duration:
        note += f", {n} steps"
    return {"case": case, "note": note, "backend": backend, "threads": threads, "steps": n,
            "builtin_s": builtin, "pycat_s": ours, "ratio": ratio,
            "builtin_step_us": builtin / n * 1e6, "pycat_step_us": ours / n * 1e6,
            "overhead_step_us": (ours - builtin) / n * 1e6}


def numpy_floor_us(width, repeat=2000):
    """µs per step that HH's own numpy code takes on plain arrays, without Arbor.

    compute_currents and advance_state once each on a plain object holding
    float64 arrays of ``width``: the cost of the user's code alone, which no
    bridge can remove (the python backend's floor).
    """
    fields = types.SimpleNamespace(v=np.full(width, -65.0), dt=0.025, temperature=np.full(width, 6.3),
                                   ena=np.full(width, 50.0), ek=np.full(width, -77.0))
    for name, _, default in models.HH.parameters + models.HH.state_vars:
        setattr(fields, name, np.full(width, float(default) or 0.5))
    hh = models.HH()
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            hh.compute_currents(fields)
            hh.advance_state(fields)
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1e6


def _with_floor(row, backend, width):
    if backend == "python":
        floor = numpy_floor_us(width)
        row["numpy_floor_step_us"] = floor
        row["floor_ratio"] = (row["builtin_step_us"] + floor) / row["builtin_step_us"]
    return row


def case_hh_1cv(backend, options):
    return [_with_floor(_hh_row("hh 1 cell x 1 CV", backend, options, 1, 1), backend, 1)]


def case_hh_1024cv(backend, options):
    return [_with_floor(_hh_row("hh 1 cell x 1024 CVs", backend, options, 1, 1024), backend, 1024)]


def case_hh_256cells(backend, options):
    """256 cells in one cell group per thread (partition_hint cpu_group_size=256/threads);
    then the threads=2 over threads=1 speed-up of both."""
    rows = [_hh_row("hh 256 cells x 1 CV", backend, options, 256, 1,
                    threads, group_size=256 // threads)
            for threads in (1, 2)]
    one, two = rows
    rows.append({"case": "hh 256 cells: threads=2 speed-up", "backend": backend, "threads": 2,
                 "speedup_builtin": one["builtin_s"] / two["builtin_s"],
                 "speedup_pycat": one["pycat_s"] / two["pycat_s"]})
    return rows


def case_hh_256cells_ungrouped(backend, options):
    """Arbor's default partition: one cell group, so one call per method, per cell.

    Expensive with the python backend (256 calls of every method per step):
    runs 1/50 of ``--duration``. Not in the default list of cases.
    """
    return [_hh_row("hh 256 cells, 1 per group", backend, options, 256, 1, threads,
                    duration=options.duration / 50)
            for threads in (1, 2)]


class Empty(CustomMechanism):
    """Every method a density mechanism gets called, each doing nothing."""
    name = "bench_empty"

    def init_mechanism(self, pp):
        pass

    def compute_currents(self, pp):
        pass

    def advance_state(self, pp):
        pass

    def write_ions(self, pp):
        pass


def _count_calls(options):
    """How often Arbor calls each method of ``Empty`` in one run (python backend)."""
    counts = {}

    def counting(method):
        def body(self, pp):
            counts[method] = counts.get(method, 0) + 1
        return body

    methods = ("init_mechanism", "compute_currents", "advance_state", "write_ions")
    Counter = type("Counter", (CustomMechanism,),
                   {"name": Empty.name, **{m: counting(m) for m in methods}})
    catalogue = build("python", Counter)
    recipe = Cells(catalogue, ["hh", Empty.name])
    sim = arbor.simulation(recipe)
    counts.clear()        # only the calls sim.run() makes
    sim.run(options.duration * U.ms, options.dt * U.ms)
    return counts


def case_bridge(backend, options):
    calls = _count_calls(options)
    n_calls = sum(calls.values())
    catalogue = build(backend, Empty)
    (without, with_empty), _ = time_runs(
        [lambda: Cells(catalogue, ["hh"]), lambda: Cells(catalogue, ["hh", Empty.name])], options)
    per_call = (with_empty - without) / n_calls
    return [{"case": "bridge: empty methods, per call", "backend": backend, "threads": 1,
             "builtin_s": without, "pycat_s": with_empty, "calls": n_calls,
             "calls_by_method": calls, "per_call_us": per_call * 1e6}]


# -- kernels: the methods alone, without Arbor ---------------------------------------

def _modcc_hh(workdir):
    """The interface of ``bench_hh.mod`` compiled by modcc (``arbor-build-catalogue``,
    Arbor's own compiler flags), or a reason why it could not be built."""
    import ctypes
    import shutil
    from arbor_pycat import abi
    script = os.path.join(os.path.dirname(arbor.__file__), "bin", "arbor-build-catalogue")
    if not os.path.exists(script):
        return None, "arbor-build-catalogue not found"
    mods = os.path.join(workdir, "mod")
    os.makedirs(mods)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_hh.mod"), mods)
    result = subprocess.run([sys.executable, script, "bench", mods], cwd=workdir, capture_output=True, text=True)
    library = os.path.join(workdir, "bench-catalogue.so")
    if result.returncode != 0 or not os.path.exists(library):
        return None, "arbor-build-catalogue failed: " + (result.stderr or result.stdout).strip()[-300:]
    lib = ctypes.CDLL(library)
    lib.get_catalogue.restype = ctypes.POINTER(abi.Mechanism)
    count = ctypes.c_int()
    interface = lib.get_catalogue(ctypes.byref(count))[0].i_cpu()[0]
    return (lib, interface), None


class _HHInstances:
    """A ppack of ``width`` HH instances on consecutive CVs (v from -70 to 20 mV),
    laid out as Arbor does: parameters gnabar, gkbar, gl, el; states m, h, n,
    q10; ions na, k."""

    def __init__(self, width, partition_width):
        import ctypes
        from arbor_pycat import abi
        self.keep = []

        def array(values, dtype=np.float64):
            a = np.ascontiguousarray(values, dtype=dtype)
            self.keep.append(a)
            return a.ctypes.data_as(ctypes.POINTER(abi.index_t if dtype == np.int32 else abi.value_t))

        table = lambda rows: ctypes.cast((ctypes.POINTER(abi.value_t) * len(rows))(*rows),  # noqa: E731
                                         ctypes.POINTER(ctypes.POINTER(abi.value_t)))
        pp = self.pp = abi.PPack()
        pp.width, pp.dt = width, 0.025
        pp.vec_v = array(np.linspace(-70.0, 20.0, width))
        pp.vec_i, pp.vec_g = array(np.zeros(width)), array(np.zeros(width))
        pp.temperature_degC = array(np.full(width, 6.3))
        pp.diam_um, pp.area_um2 = array(np.full(width, 6.0)), array(np.full(width, 113.1))
        pp.node_index, pp.weight = array(np.arange(width), np.int32), array(np.ones(width))
        pp.parameters = table([array(np.full(width, x)) for x in (0.12, 0.036, 0.0003, -54.3)])
        pp.state_vars = table([array(np.zeros(width)) for _ in range(4)])
        self.keep += [pp.parameters, pp.state_vars]
        ions = (abi.IonState * 2)()
        for ion, e in zip(ions, (50.0, -77.0)):
            ion.current_density, ion.reversal_potential = array(np.zeros(width)), array(np.full(width, e))
            ion.index = array(np.arange(width), np.int32)
        self.keep.append(ions)
        pp.ion_states = ions
        # modcc's SIMD kernels loop over [begin, end) ranges of contiguous indices
        pp.index_constraints.n_contiguous = 2
        pp.index_constraints.contiguous = array([0, width], np.int32)
        self.address = ctypes.addressof(pp)


def _call_loop(address):
    """A compiled loop calling the C function at ``address`` n times: f(pp, 0, flags)."""
    import ctypes
    from numba import njit
    function = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64)(address)

    @njit
    def loop(n, pp, flags):
        for _ in range(n):
            function(pp, 0, flags)
    return loop


def case_kernels(backend, options):
    """ns per instance of HH's compute_currents and advance_state called directly
    (no Arbor), ours against the same NMODL compiled by modcc with Arbor's flags."""
    if backend != "numba":
        return []
    import ctypes
    from arbor_pycat import abi
    from arbor_pycat.backends import numba as numba_backend
    from arbor_pycat.declarations import spec_of
    with tempfile.TemporaryDirectory() as workdir:
        modcc, why = _modcc_hh(workdir)
        if modcc is None:
            return [{"case": "kernels", "backend": backend, "skipped": why}]
        _, interface = modcc
        ours = numba_backend.compile(spec_of(models.HH), native_library=False).module._pycat_cfuncs
        methods = ("init_mechanism", "compute_currents", "advance_state")
        address = {"modcc": {m: ctypes.cast(getattr(interface, m), ctypes.c_void_p).value for m in methods},
                   "pycat": {m: ours[m].address for m in methods}}
        # the shim's layout flags for these instances: every index array is a range
        all_ranges = (1 << abi.LAYOUT_NODE_INDEX_BIT) | (1 << abi.LAYOUT_PEER_INDEX_BIT) \
            | (0b11 << abi.LAYOUT_FIRST_ION_BIT)

        rows = []
        for width in (256, 1024):
            calls = max(200, 400_000 // width)
            runs = {}
            for who in ("modcc", "pycat"):
                instances = _HHInstances(width, interface.partition_width)
                loops = {m: _call_loop(address[who][m]) for m in methods}
                loops["init_mechanism"](1, instances.address, all_ranges)
                runs[who] = (instances, loops)
            best = {(who, m): math.inf for who in runs for m in methods[1:]}
            for _ in range(max(5, options.repeat * 3)):     # in turns; the fastest of each
                for who, (instances, loops) in runs.items():
                    for m in methods[1:]:
                        start = time.perf_counter()
                        loops[m](calls, instances.address, all_ranges)
                        best[who, m] = min(best[who, m], (time.perf_counter() - start) / calls / width * 1e9)
            row = {"case": f"kernels, {width} instances", "backend": backend, "threads": 1}
            for who, m in best:
                row[f"{who}_{m}_ns"] = best[who, m]
            row["ratio"] = sum(best["pycat", m] for m in methods[1:]) / sum(best["modcc", m] for m in methods[1:])
            rows.append(row)
        return rows


BUILD_SNIPPET = """
import time, warnings, json
start = time.perf_counter()
import arbor_pycat
from arbor_pycat import models
imported = time.perf_counter()
warnings.simplefilter("ignore")
t0 = time.perf_counter(); arbor_pycat.build(models.HH, backend=BACKEND); t1 = time.perf_counter()
arbor_pycat.build(models.HH, backend=BACKEND); t2 = time.perf_counter()
print(json.dumps({"import_s": imported - start, "cold_s": t1 - t0, "warm_s": t2 - t1}))
"""


def case_build(backend, options):
    """Cold: a fresh process, every compile cache empty (numba's included);
    cached: a fresh process with the caches the cold one filled; warm: build()
    again in that process; library cached: a fresh process with an empty
    arbor_pycat cache but numba's cache of arbor_pycat's own math functions
    filled (a mechanism compiled for the first time on a machine that has
    compiled one before)."""
    code = textwrap.dedent(BUILD_SNIPPET).replace("BACKEND", repr(backend))

    def run(env):
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, env={**os.environ, **env}).stdout
        return json.loads(output.strip().splitlines()[-1])

    runs = []
    for _ in range(options.repeat):
        with tempfile.TemporaryDirectory() as numba_cache, tempfile.TemporaryDirectory() as first_cache, \
                tempfile.TemporaryDirectory() as second_cache:
            env = {"ARBOR_PYCAT_CACHE_DIR": first_cache, "NUMBA_CACHE_DIR": numba_cache}
            first, second = run(env), run(env)
            numba_only = run({**env, "ARBOR_PYCAT_NATIVE_CACHE": "0"})
            library = run({**env, "ARBOR_PYCAT_CACHE_DIR": second_cache})
        runs.append({"import_s": second["import_s"], "cold_s": first["cold_s"],
                     "cached_s": second["cold_s"], "warm_s": second["warm_s"],
                     "numba_cached_s": numba_only["cold_s"], "library_cached_s": library["cold_s"]})
    row = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    return [{"case": "build() of HH", "backend": backend, "threads": 1, **row}]


BBP_SNIPPET = """
import sys, time, warnings
warnings.simplefilter("ignore")
from arbor_pycat import nmodl
start = time.perf_counter()
nmodl.build(sys.argv[1], backend="numba")
print(time.perf_counter() - start)
"""


def case_bbp_build(backend, options):
    """nmodl.build() of the 12 bbp files in fresh processes: cold, cached, numba's cache only."""
    folder = os.path.join(SHARED, "nmodl", "arbor", "bbp")
    if backend != "numba":
        return []
    if not os.path.isdir(folder):
        return [{"case": "bbp_build", "backend": backend, "skipped": f"{os.path.normpath(folder)} is not here"}]

    def run(env):
        output = subprocess.run([sys.executable, "-c", BBP_SNIPPET, folder], capture_output=True, text=True,
                                check=True, env={**os.environ, **env}).stdout
        return float(output.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as numba_cache, tempfile.TemporaryDirectory() as cache:
        env = {"ARBOR_PYCAT_CACHE_DIR": cache, "NUMBA_CACHE_DIR": numba_cache}
        cold = run(env)
        cached = [run(env) for _ in range(3)]
        numba_only = [run({**env, "ARBOR_PYCAT_NATIVE_CACHE": "0"}) for _ in range(3)]
    return [{"case": "bbp_build", "backend": backend,
             "output": f"12 bbp files: cold {cold:.1f} s, cached {min(cached):.2f}-{max(cached):.2f} s "
                       f"(numba's cache only: {min(numba_only):.2f}-{max(numba_only):.2f} s)"}]


# -- the realistic cases of ../shared (scripts run as they are, numba backend) ----------

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "shared")


def _shared_script(case, backend, *args, timeout=1200):
    """Run one of ../shared's scripts; a row with its last output line."""
    path = os.path.join(SHARED, *args[:2])
    if backend != "numba":
        return []
    if not os.path.exists(path):
        return [{"case": case, "backend": backend, "skipped": f"{os.path.normpath(path)} is not here"}]
    result = subprocess.run([sys.executable, path, *args[2:]], capture_output=True, text=True, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        return [{"case": case, "backend": backend,
                 "skipped": f"no output (exit {result.returncode}): {result.stderr.strip()[-300:]}"}]
    return [{"case": case, "backend": backend, "output": lines[-1] if len(lines) == 1 else " | ".join(lines[-2:])}]


def case_styles(backend, options):
    """Each style of ../shared/styles at 1 and 1024 CVs: compiled (no fallback), equal to the
    python backend, and its ratio to Arbor's hh (style_check.py; no speed goal enforced here)."""
    folder = os.path.join(SHARED, "styles")
    styles = sorted(f for f in os.listdir(folder) if f.endswith("_hh.py")) if os.path.isdir(folder) else []
    rows = []
    for style in styles:
        for ncv, duration in (("1", "200"), ("1024", "50")):
            rows += _shared_script(f"style {style[:-3]} {ncv} CV", backend, "styles", "style_check.py",
                                   os.path.join(folder, style), ncv, "1000", duration)
    return rows


def case_branched(backend, options):
    """../shared/bench/branched_hh.py: models.HH vs hh on an unbranched cable and on a Y."""
    return _shared_script("branched_hh", backend, "bench", "branched_hh.py")


def case_network(backend, options):
    """../shared/bench/network_expsyn.py 200 20: 200 hh cells, 20 synapses each."""
    return _shared_script("network_expsyn 200 20", backend, "bench", "network_expsyn.py", "200", "20")


def case_l5pc(backend, options):
    """benchmarks/l5pc.py: Arbor's L5PC example on the imported bbp mechanisms (numba)."""
    if backend != "numba":
        return []
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, os.path.join(here, "l5pc.py"), "100", "3"],
                            capture_output=True, text=True, timeout=1800)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        return [{"case": "l5pc", "backend": backend,
                 "skipped": f"no output (exit {result.returncode}): {result.stderr.strip()[-300:]}"}]
    return [{"case": "l5pc", "backend": backend, "output": lines[-1]}]


def case_forked_network(backend, options):
    """benchmarks/forked_network.py: networks of small forked cells (numba)."""
    if backend != "numba":
        return []
    here = os.path.dirname(os.path.abspath(__file__))
    rows = []
    for args in (("10", "200", "y"), ("10", "200", "cable"), ("2000", "5", "y")):
        result = subprocess.run([sys.executable, os.path.join(here, "forked_network.py"), *args],
                                capture_output=True, text=True, timeout=1800)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        case = "forked_network " + " ".join(args)
        rows.append({"case": case, "backend": backend, "output": lines[-1]} if lines else
                    {"case": case, "backend": backend,
                     "skipped": f"no output (exit {result.returncode}): {result.stderr.strip()[-300:]}"})
    return rows


CASES = {
    "hh_1cv": case_hh_1cv,
    "hh_1024cv": case_hh_1024cv,
    "hh_256cells": case_hh_256cells,
    "bridge": case_bridge,
    "build": case_build,
    "bbp_build": case_bbp_build,
    "kernels": case_kernels,
    "styles": case_styles,
    "branched": case_branched,
    "network": case_network,
    "forked_network": case_forked_network,
    "l5pc": case_l5pc,
    "hh_256cells_ungrouped": case_hh_256cells_ungrouped,
}
DEFAULT_CASES = ("hh_1cv", "hh_1024cv", "hh_256cells", "kernels", "bridge", "build", "bbp_build", "styles",
                 "branched", "network", "forked_network", "l5pc")


# -- output -----------------------------------------------------------------------------

def _seconds(s):
    return f"{s * 1e3:8.1f} ms" if s < 10 else f"{s:8.2f} s "


def report(row, stream=sys.stdout):
    """One line (or two) per row."""
    name = row["case"] + row.get("note", "")
    head = f"{name:<40} {row['backend']:<7}"
    if "skipped" in row:
        print(f"{head} skipped: {row['skipped']}", file=stream)
    elif "output" in row:
        print(f"{head} {row['output']}", file=stream)
    elif "pycat_advance_state_ns" in row:
        print(f"{head} ns per instance: compute_currents {row['pycat_compute_currents_ns']:.2f} "
              f"(modcc {row['modcc_compute_currents_ns']:.2f}), advance_state "
              f"{row['pycat_advance_state_ns']:.2f} (modcc {row['modcc_advance_state_ns']:.2f}); "
              f"ratio {row['ratio']:.2f}x", file=stream)
    elif "ratio" in row:
        print(f"{head} builtin {_seconds(row['builtin_s'])}  pycat {_seconds(row['pycat_s'])}  "
              f"ratio {row['ratio']:7.2f}x  per step: builtin {row['builtin_step_us']:7.2f} us, "
              f"pycat {row['pycat_step_us']:8.2f} us (+{row['overhead_step_us']:.2f} us)",
              file=stream)
        if "numpy_floor_step_us" in row:
            print(f"{'':<48} numpy floor: HH's numpy code alone {row['numpy_floor_step_us']:.2f} us "
                  f"per step -> at best {row['floor_ratio']:.1f}x; the bridge adds "
                  f"{row['pycat_step_us'] - row['builtin_step_us'] - row['numpy_floor_step_us']:.2f} us "
                  "per step", file=stream)
    elif "speedup_pycat" in row:
        print(f"{head} threads=2 over threads=1: builtin {row['speedup_builtin']:.2f}x, "
              f"pycat {row['speedup_pycat']:.2f}x", file=stream)
    elif "per_call_us" in row:
        methods = ", ".join(f"{m} {n}" for m, n in row["calls_by_method"].items())
        print(f"{head} {row['per_call_us']:.3f} us per call  ({row['calls']} calls: {methods}; "
              f"hh alone {_seconds(row['builtin_s']).strip()}, with the empty mechanism "
              f"{_seconds(row['pycat_s']).strip()})", file=stream)
    elif "cold_s" in row:
        print(f"{head} cold {row['cold_s'] * 1e3:.0f} ms (fresh process, empty caches), "
              f"library cached {row['library_cached_s'] * 1e3:.0f} ms (new mechanism), "
              f"cached {row['cached_s'] * 1e3:.0f} ms (fresh process, disk cache; import took "
              f"{row['import_s'] * 1e3:.0f} ms"
              + (f"; numba's cache only {row['numba_cached_s'] * 1e3:.0f} ms" if row["backend"] == "numba" else "")
              + f"), warm {row['warm_s'] * 1e3:.0f} ms (same process)",
              file=stream)
    else:
        print(head, row, file=stream)
    stream.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("python", "numba", "both"), default="both",
                        help="backend(s) of the Python mechanisms (default: both)")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES),
                        help=f"comma-separated, from: {', '.join(CASES)} "
                             f"(default: {','.join(DEFAULT_CASES)})")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--duration", type=float, default=200.0, help="simulated ms per run")
    parser.add_argument("--dt", type=float, default=0.025, help="time step in ms")
    parser.add_argument("--json", help="also write every row to this JSON file")
    options = parser.parse_args(argv)
    backends = BACKENDS if options.backend == "both" else (options.backend,)
    cases = [c.strip() for c in options.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")

    print(f"arbor_pycat {arbor_pycat.__version__}, arbor {arbor.__version__}, numpy {np.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs ({platform.machine()})")
    print(f"{options.duration:g} ms at dt = {options.dt:g} ms ({steps(options)} steps); "
          f"median of {options.repeat} runs after a warm-up; wall time of sim.run()")
    print()
    rows = []
    start = time.perf_counter()
    for case in cases:
        for backend in backends:
            try:
                case_rows = CASES[case](backend, options)
            except Exception as exc:      # one backend failing must not hide the others
                print(f"{case:<40} {backend:<7} FAILED: {type(exc).__name__}: {exc}")
                rows.append({"case": case, "backend": backend, "error": f"{type(exc).__name__}: {exc}"})
                continue
            for row in case_rows:
                rows.append(row)
                report(row)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if options.json:
        with open(options.json, "w") as f:
            json.dump({"arbor": arbor.__version__, "options": vars(options), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
