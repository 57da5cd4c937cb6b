"""Shared assertions and a small cable harness for tests of simulated traces.

Not a test module. ``assert_trace`` is the check every test of a trace goes
through: a trace that is empty, has the wrong length, holds NaN or shows no
effect of the mechanism under test must fail, however close it is to the
expected value (``np.allclose(trace, -65.0)`` passes on an empty trace and on
a mechanism that does nothing).

``run_cable`` simulates an unbranched cable with the mechanisms painted,
placed and attached as given, and samples the voltage (and, if asked, an
ion's concentrations and reversal potential) on every CV, so that two runs
(a port and its compiled twin, or two backends) can be compared CV by CV.
"""
import arbor
import numpy as np
from arbor import units as U

# Voltage agreement of a port and its compiled twin, or of the two backends.
# Measured over the 52 equivalence cases (13 ports x 1/16 CVs x 2 backends,
# 200 ms): max |dV| = 1.9e-10 mV (ou_input, 16 CVs, numba; hh: 8.4e-11 mV),
# and 6.3e-10 mV in an earlier review on another machine. 2e-9 mV leaves a
# margin of 3x over the largest figure seen and is far below what a wrong
# numerical scheme gives (np.exp instead of cnexp in hh: ~1e-5 mV, see
# test_tolerances.py).
V_TOLERANCE = 2e-9      # mV
# Spike times: measured max 1.2e-12 ms over the same cases.
SPIKE_TOLERANCE = 1e-9  # ms


def assert_trace(trace, *, length=None, columns=None, differs_from=None, by=1e-3, near=None,
                 atol=None, label="trace"):
    """Fail unless ``trace`` is a real, non-trivial result.

    ``length``: the number of samples it must have (rows); ``columns``: the
    number of columns (CVs) of a 2-d trace. ``differs_from``: a value or an
    array the trace must leave somewhere by more than ``by`` (the mechanism
    had an effect). ``near``/``atol``: a value or array it must equal to
    ``atol`` everywhere. Returns the trace as an array.
    """
    trace = np.asarray(trace, dtype=float)
    assert trace.size > 0, f"{label} is empty"
    if length is not None:
        assert trace.shape[0] == length, f"{label} has {trace.shape[0]} samples, expected {length}"
    if columns is not None:
        assert trace.ndim == 2 and trace.shape[1] == columns, \
            f"{label} has shape {trace.shape}, expected {columns} columns"
    assert np.all(np.isfinite(trace)), f"{label} holds NaN or inf"
    if differs_from is not None:
        moved = float(np.max(np.abs(trace - differs_from)))
        assert moved > by, f"{label} never leaves {differs_from!r} by more than {by} (max {moved:.3g})"
    if near is not None:
        assert atol is not None, "give atol with near"
        off = float(np.max(np.abs(trace - near)))
        assert off <= atol, f"{label} is {off:.3g} from the expected value (tolerance {atol:.3g})"
    return trace


def assert_same_trace(a, b, atol, label="trace"):
    """Two runs agree to ``atol``; both are non-empty and of equal shape."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.size > 0 and b.size > 0, f"{label}: an empty run ({a.shape} vs {b.shape})"
    assert a.shape == b.shape, f"{label}: shapes differ ({a.shape} vs {b.shape})"
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)), f"{label} holds NaN or inf"
    off = float(np.max(np.abs(a - b)))
    assert off <= atol, f"{label}: max difference {off:.3g} over tolerance {atol:.3g}"
    return off


class Cable(arbor.recipe):
    """One or more unbranched cables (``length`` µm, radius ``radius`` µm), ``cvs`` CVs each.

    ``paint``: ``(region, arbor.density)`` pairs; ``place``: ``(locset,
    arbor.synapse)`` pairs, labelled ``syn0``, ``syn1``, ...; ``events``:
    ``(label, weight, times)``; ``ions``: ``{ion: mechanism name or
    arbor.mechanism}`` reversal-potential methods; ``extra``: ``(catalogue,
    prefix)`` pairs added to the cell's catalogue; ``probes``: more probes
    (after the voltage's, tagged by the caller); ``ion``: sample that ion's
    concentrations and reversal potential too. A 0.2 nA clamp at the start
    from 5 ms (``clamp=0`` for none), a spike detector in the middle.
    """

    def __init__(self, catalogue=None, *, paint=(), place=(), events=(), ions=None, ion=None,
                 cvs=4, length=100.0, radius=1.0, clamp=0.2, temperature=None, every=0.1,
                 extra=(), probes=()):
        super().__init__()
        self.props = arbor.neuron_cable_properties()
        if catalogue is not None:
            self.props.catalogue.extend(catalogue, "")
        for other, prefix in extra:       # more catalogues, under a prefix
            self.props.catalogue.extend(other, prefix)
        if temperature is not None:
            self.props.set_property(tempK=(temperature + 273.15) * U.Kelvin)
        self.paint, self.place, self.events = list(paint), list(place), list(events)
        self.ions, self.ion = dict(ions or {}), ion
        self.cvs, self.length, self.radius, self.clamp = cvs, length, radius, clamp
        self.every = every
        self.more_probes = list(probes)
        self.cells = []      # Arbor 0.12 frees a cable cell the recipe does not keep

    def num_cells(self):
        return 1

    def cell_kind(self, gid):
        return arbor.cell_kind.cable

    def global_properties(self, kind):
        return self.props

    def probes(self, gid):
        probes = [arbor.cable_probe_membrane_voltage_cell("v")]
        if self.ion:
            probes += [arbor.cable_probe_ion_int_concentration_cell(self.ion, "xi"),
                       arbor.cable_probe_ion_reversal_potential_cell(self.ion, "ex")]
        return probes + self.more_probes

    def event_generators(self, gid):
        return [arbor.event_generator(label, weight, arbor.explicit_schedule([t * U.ms for t in times]))
                for label, weight, times in self.events]

    def cell_description(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, self.radius),
                    arbor.mpoint(self.length, 0, 0, self.radius), tag=1)
        decor = arbor.decor()
        for region, mech in self.paint:
            decor.paint(region, mech)
        for k, (locset, mech) in enumerate(self.place):
            decor.place(locset, mech, f"syn{k}")
        for ion, method in self.ions.items():
            decor.set_ion(ion, method=method if not isinstance(method, str) else arbor.mechanism(method))
        if self.clamp:
            decor.place("(location 0 0)", arbor.i_clamp(5 * U.ms, 1000 * U.ms, self.clamp * U.nA))
        decor.place("(location 0 0.5)", arbor.threshold_detector(-10 * U.mV), "det")
        cell = arbor.cable_cell(tree, decor, arbor.label_dict(),
                                discretization=arbor.cv_policy_fixed_per_branch(self.cvs))
        self.cells.append(cell)
        return cell


def run_cable(recipe, duration=50.0, dt=0.025):
    """Run ``recipe`` (a :class:`Cable`); return ``{"v": (samples, cvs), "xi", "ex"
    (if sampled), "spikes": [times]}``."""
    sim = arbor.simulation(recipe, arbor.context(threads=1))
    sim.record(arbor.spike_recording.local)
    tags = ["v"] + (["xi", "ex"] if recipe.ion else [])
    handles = {tag: sim.sample((0, tag), arbor.regular_schedule(recipe.every * U.ms)) for tag in tags}
    sim.run(duration * U.ms, dt * U.ms)
    out = {}
    for tag, handle in handles.items():
        samples = sim.samples(handle)
        out[tag] = samples[0][0][:, 1:] if samples else np.zeros((0, 0))
    out["spikes"] = [float(s[1]) for s in sim.spikes()]
    return out


def trace_time(trace, every=0.1):
    """Sample times (ms) of a trace sampled every ``every`` ms from 0."""
    return np.arange(len(trace)) * every
