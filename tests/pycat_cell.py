"""Small helpers for tests that simulate one cell or run a snippet in a subprocess.

Not a test module (pytest collects ``test_*.py`` only). Test modules import it
as ``from pycat_cell import ...``; snippets run by :func:`run_snippet` can too
(the tests folder is put on their ``PYTHONPATH``).
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import arbor
import numpy as np
from arbor import units as U

import arbor_pycat
from arbor_pycat.recipe import CableRecipe

TESTS = Path(__file__).resolve().parent


class OneCell(CableRecipe):
    """A single cylindrical soma (6 µm long, 6 µm diameter) with a current clamp.

    ``paint``: density mechanisms (names or ``arbor.density``) painted on
    ``region`` (default the whole cell); ``place``: synapses (names or ``arbor.synapse``) placed in the
    middle, labelled ``syn0``, ``syn1``, ...; ``events``: times (ms) of events
    sent to ``syn0`` with weight ``weight``; ``detector``: place a threshold
    detector at -10 mV; ``ions``: ``{ion: method mechanism}`` for
    ``decor.set_ion``. The cable cell is kept referenced (Arbor 0.12.2 frees it
    otherwise and probes read freed memory).
    """

    def __init__(self, catalogue=None, *, paint=(), place=(), ncv=1, clamp=0.1,
                 events=(), weight=0.5, detector=False, ions=None, decorate=None, region="(all)"):
        super().__init__(catalogue)
        self.paint, self.place = list(paint), list(place)
        self.ncv, self.clamp, self.region = ncv, clamp, region
        self.event_times, self.weight = list(events), weight
        self.detector, self.ions, self.decorate = detector, dict(ions or {}), decorate

    def probes(self, gid):
        return [arbor.cable_probe_membrane_voltage('(location 0 0.5)', "v")]

    def event_generators(self, gid):
        if not self.event_times:
            return []
        schedule = arbor.explicit_schedule([t * U.ms for t in self.event_times])
        return [arbor.event_generator("syn0", self.weight, schedule)]

    def make_cell(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(-3, 0, 0, 3), arbor.mpoint(3, 0, 0, 3), tag=1)
        decor = arbor.decor()
        for mech in self.paint:
            decor.paint(self.region, mech if not isinstance(mech, str) else arbor.density(mech))
        for k, mech in enumerate(self.place):
            decor.place('(location 0 0.5)', mech if not isinstance(mech, str) else arbor.synapse(mech),
                        f"syn{k}")
        if self.clamp:
            decor.place('(location 0 0.5)', arbor.i_clamp(10 * U.ms, 200 * U.ms, self.clamp * U.nA))
        if self.detector:
            decor.place('(location 0 0.5)', arbor.threshold_detector(-10 * U.mV), "det")
        for ion, method in self.ions.items():
            decor.set_ion(ion, method=method if not isinstance(method, str) else arbor.mechanism(method))
        if self.decorate is not None:
            self.decorate(decor)
        return arbor.cable_cell(tree, decor, arbor.label_dict(),
                                discretization=arbor.cv_policy_max_extent(6 / self.ncv * U.um))


class StateCell(OneCell):
    """OneCell that also probes state variables of its mechanisms, with events to every synapse.

    ``density_states``/``point_states``: ``[(mechanism, state), ...]``; each is
    sampled under the tag ``"mechanism.state"``. Voltage: every CV (tag "vcell").
    """

    def __init__(self, catalogue, density_states=(), point_states=(), **options):
        super().__init__(catalogue, **options)
        self.density_states = list(density_states)
        self.point_states = list(point_states)

    def event_generators(self, gid):
        """The events go to every synapse, not only syn0."""
        if not self.event_times:
            return []
        schedule = arbor.explicit_schedule([t * U.ms for t in self.event_times])
        return [arbor.event_generator(f"syn{k}", self.weight, schedule) for k in range(len(self.place))]

    def probes(self, gid):
        probes = [arbor.cable_probe_membrane_voltage_cell("vcell")]
        probes += [arbor.cable_probe_density_state_cell(m, s, f"{m}.{s}") for m, s in self.density_states]
        probes += [arbor.cable_probe_point_state_cell(m, s, f"{m}.{s}") for m, s in self.point_states]
        return probes


def run_probed(recipe, t_end, dt=0.025, every=0.1, threads=1):
    """Run ``recipe``; return ({tag: (times, values)}, spike times)."""
    sim = arbor.simulation(recipe, arbor.context(threads=threads))
    sim.record(arbor.spike_recording.local)
    tags = ["vcell"] + [f"{m}.{s}" for m, s in recipe.density_states + recipe.point_states]
    handles = {tag: sim.sample((0, tag), arbor.regular_schedule(every * U.ms)) for tag in tags}
    sim.run(t_end * U.ms, dt * U.ms)
    out = {}
    for tag, handle in handles.items():
        data, _ = sim.samples(handle)[0]
        out[tag] = (data[:, 0], data[:, 1:])
    return out, [float(s[1]) for s in sim.spikes()]


def simulate(recipe, t_end=50.0, dt=0.025, threads=1, every=0.1):
    """Run ``recipe``; return (voltage trace at the probe, spike times, simulation)."""
    context = arbor.context(threads=threads)
    sim = arbor.simulation(recipe, context)
    sim.record(arbor.spike_recording.local)
    handle = sim.sample((0, "v"), arbor.regular_schedule(every * U.ms))
    sim.run(t_end * U.ms, dt * U.ms)
    samples = sim.samples(handle)
    trace = samples[0][0][:, 1] if samples else np.zeros(0)
    spikes = [float(s[1]) for s in sim.spikes()]
    return trace, spikes, sim


def failure_text(recipe, t_end=1.0, threads=1):
    """Run ``recipe``; return the text of the RuntimeError ``sim.run()`` raises.

    Building the simulation must succeed; running it must fail.
    """
    sim = arbor.simulation(recipe, arbor.context(threads=threads))
    try:
        sim.run(t_end * U.ms, 0.025 * U.ms)
    except RuntimeError as exc:
        return str(exc)
    raise AssertionError("sim.run() did not raise")


def run_snippet(code, timeout=120, env=None):
    """Run ``code`` as a script in a fresh interpreter; return the CompletedProcess.

    Used for anything that could crash the interpreter (an exception crossing
    Arbor's threads, a bad pointer): a segfault then fails one test instead of
    killing pytest. The tests folder is on the snippet's ``PYTHONPATH``.
    """
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS)] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p])
    environment.setdefault("PYTHONFAULTHANDLER", "1")
    environment.update(env or {})
    # A script file, not ``python -c``: arbor_pycat reads the methods' source code.
    with tempfile.TemporaryDirectory(prefix="pycat_snippet_") as folder:
        script = Path(folder) / "snippet.py"
        script.write_text(textwrap.dedent(code))
        return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              timeout=timeout, env=environment, cwd=folder)


def check_snippet(code, timeout=120, env=None):
    """Run ``code`` in a subprocess and fail with its output unless it exits with 0."""
    result = run_snippet(code, timeout=timeout, env=env)
    if result.returncode != 0:
        raise AssertionError(f"snippet exited with {result.returncode}\n--- stdout ---\n{result.stdout}"
                             f"\n--- stderr ---\n{result.stderr}")
    return result


def import_file(path, name):
    """Import the module file ``path`` under ``name`` (kept in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def state_slope(cls, backend="numba"):
    """d m / d t of ``cls`` built with ``backend``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # a fallback warns again; the tests check it elsewhere
        catalogue = arbor_pycat.build(cls, backend=backend)
    recipe = StateCell(catalogue, paint=[cls.name], clamp=0.0, density_states=[(cls.name, "m")])
    traces, _ = run_probed(recipe, t_end=1.0, every=0.25)
    times, m = traces[f"{cls.name}.m"]
    return (m[-1, 0] - m[-2, 0]) / (times[-1] - times[-2])
