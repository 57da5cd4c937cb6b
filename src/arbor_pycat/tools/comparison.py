"""Run a Python mechanism and its compiled twin side by side.

:func:`compare` simulates the same small cell twice, once with the Python
mechanism and once with a compiled mechanism of Arbor (by default from
``arbor.default_catalogue()``), and reports how far the two runs drift
apart: membrane potential, spikes, shared state variables and the ion
quantities the mechanism writes. Both runs use one catalogue, one recipe and
one seed; the only difference is the name of the mechanism under test.

::

    from arbor_pycat import compare, models
    result = compare(models.HH, "hh", cvs=16, duration=200)
    print(result)            # one paragraph
    assert result.max_dv < 1e-3
    result.plot("hh.png")    # needs matplotlib
"""
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import MechanismError
from ..spec.registry import spec_of

__all__ = ["compare", "Comparison"]

@dataclass
class Comparison:
    """What :func:`compare` measured. Print it for a one-paragraph summary.

    Traces are arrays of shape ``(samples, columns)``: one column per CV of
    every cell (cell 0's CVs first), sampled at ``time`` (ms).
    """
    mechanism: str                 # name of the Python mechanism
    reference: str                 # name of the compiled twin
    kind: str
    backend: str                   # backend that ran the Python mechanism
    cvs: int
    cells: int
    duration: float                # ms
    dt: float                      # ms
    threads: int
    time: np.ndarray = field(repr=False)          # ms
    v_reference: np.ndarray = field(repr=False)   # mV
    v_python: np.ndarray = field(repr=False)      # mV
    spikes_reference: list = field(repr=False)    # per cell: spike times (ms)
    spikes_python: list = field(repr=False)
    state_differences: dict = field(default_factory=dict)   # state -> max |difference|
    ion_differences: dict = field(default_factory=dict)     # e.g. "ena" -> max |difference|
    states_reference: dict = field(default_factory=dict, repr=False)
    states_python: dict = field(default_factory=dict, repr=False)
    ions_reference: dict = field(default_factory=dict, repr=False)  # e.g. "ena" -> trace
    ions_python: dict = field(default_factory=dict, repr=False)
    seconds_reference: float = 0.0     # wall time of sim.run()
    seconds_python: float = 0.0

    @property
    def max_dv(self):
        """Largest |V_python - V_reference| over every sample and CV (mV)."""
        if self.v_reference.size == 0:
            return 0.0
        return float(np.max(np.abs(self.v_python - self.v_reference)))

    @property
    def spike_counts(self):
        """``(reference, python)`` numbers of spikes, all cells together."""
        return (sum(len(s) for s in self.spikes_reference), sum(len(s) for s in self.spikes_python))

    @property
    def spike_time_differences(self):
        """Python minus reference spike times (ms), pairing the k-th spikes of each cell."""
        out = []
        for a, b in zip(self.spikes_reference, self.spikes_python):
            n = min(len(a), len(b))
            out.extend(np.asarray(b[:n]) - np.asarray(a[:n]))
        return np.asarray(out, dtype=float)

    @property
    def max_spike_time_difference(self):
        """Largest |spike time difference| (ms); 0 without paired spikes."""
        d = self.spike_time_differences
        return float(np.max(np.abs(d))) if d.size else 0.0

    @property
    def max_state_difference(self):
        """Largest difference over the state variables both mechanisms have."""
        return max(self.state_differences.values(), default=0.0)

    @property
    def max_ion_difference(self):
        """Largest difference over the ion quantities the mechanism writes."""
        return max(self.ion_differences.values(), default=0.0)

    @property
    def speed_ratio(self):
        """Python run time over reference run time."""
        return self.seconds_python / self.seconds_reference if self.seconds_reference else float("inf")

    def relative_differences(self):
        """Each compared state and ion quantity's max difference over the largest
        magnitude its reference trace reaches (1 where that is 0)."""
        out = {}
        for name, difference in self.state_differences.items():
            out[name] = difference / _scale(self.states_reference.get(name))
        for name, difference in self.ion_differences.items():
            out[name] = difference / _scale(self.ions_reference.get(name))
        return out

    def agrees(self, dv=1e-3, spike_time=None, state=1e-6):
        """True when the runs agree: max |dV| < ``dv`` (mV), equal spike counts,
        spike times within ``spike_time`` (ms) where given, and every compared
        state and ion quantity within ``state``, relative to its largest
        reference magnitude (None: not checked)."""
        ok = self.max_dv < dv and self.spike_counts[0] == self.spike_counts[1]
        if spike_time is not None:
            ok = ok and self.max_spike_time_difference < spike_time
        if state is not None:
            ok = ok and all(r < state for r in self.relative_differences().values())
        return bool(ok)

    def summary(self):
        """The one-paragraph summary that ``str()`` prints."""
        n_ref, n_py = self.spike_counts
        where = f"{self.cells} cells" if self.cells > 1 else "1 cell"
        # every figure names its run: the reference by name, ours by name and the backend that ran it
        ref, ours = f"'{self.reference}'", f"'{self.mechanism}', {self.backend}"
        text = (f"{self.kind} mechanism '{self.mechanism}' ({self.backend} backend) vs compiled "
                f"'{self.reference}' on {where} of {self.cvs} CV{'s' if self.cvs != 1 else ''}, "
                f"{self.duration:g} ms at dt={self.dt:g} ms, {self.threads} thread"
                f"{'s' if self.threads != 1 else ''}: max |dV| = {self.max_dv:.3g} mV; "
                f"spikes {n_ref} ({ref}) vs {n_py} ({ours})")
        if n_ref and n_py:
            text += f", max spike-time difference {self.max_spike_time_difference:.3g} ms"
        text += "."
        if self.state_differences:
            parts = ", ".join(f"{k} {v:.3g}" for k, v in sorted(self.state_differences.items()))
            text += f" Max state differences: {parts}."
        if self.ion_differences:
            parts = ", ".join(f"{k} {v:.3g}" for k, v in sorted(self.ion_differences.items()))
            text += f" Max ion differences: {parts}."
        if self.seconds_reference > 0:
            text += (f" Run time {self.seconds_reference:.3g} s ({ref}) vs {self.seconds_python:.3g} s "
                     f"({ours}): {self.speed_ratio:.3g}x.")
        verdict = "agree" if self.agrees() else "DISAGREE"
        text += (f" The runs {verdict} (criteria: max |dV| < 1e-3 mV, equal spike counts, "
                 "states and ion quantities within 1e-6 relative).")
        return text

    def __str__(self):
        return self.summary()

    def plot(self, path, column=0):
        """Save an overlay of both voltage traces at ``column`` (a CV) and their difference as a PNG."""
        try:
            import matplotlib
            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("Comparison.plot needs matplotlib: pip install matplotlib") from exc
        fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 5),
                                          gridspec_kw={"height_ratios": [3, 1]})
        top.plot(self.time, self.v_reference[:, column], lw=2.5, alpha=0.5,
                 label=f"{self.reference} (compiled)")
        top.plot(self.time, self.v_python[:, column], lw=1, ls="--",
                 label=f"{self.mechanism} ({self.backend} backend)")
        top.set_ylabel("V (mV)")
        top.legend(loc="upper right")
        top.set_title(f"{self.mechanism} ({self.backend}) vs compiled {self.reference}: "
                      f"max |dV| = {self.max_dv:.2g} mV")
        bottom.plot(self.time, self.v_python[:, column] - self.v_reference[:, column], lw=1)
        bottom.set_ylabel(f"V {self.backend} - compiled (mV)")
        bottom.set_xlabel("t (ms)")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _scale(trace):
    if trace is None or np.size(trace) == 0:
        return 1.0
    largest = float(np.max(np.abs(trace)))
    return largest if largest > 0 and np.isfinite(largest) else 1.0


def _merge_catalogue(target, source, prefix):
    """Add ``source`` to ``target``; returns the prefix its names got."""
    try:
        target.extend(source, "")
        return ""
    except RuntimeError:
        target.extend(source, prefix)
        return prefix


def _is_default(catalogue):
    import arbor
    return sorted(catalogue) == sorted(arbor.default_catalogue())


class _Side:
    """How one run refers to the mechanism under test."""

    def __init__(self, name, ions, globals_):
        self.name = name          # as in the catalogue of the run
        self.ions = list(ions)    # the mechanism's own ion names
        self.globals = set(globals_)
        self.probe_name = name    # the name as painted (with derivations)

    def derived(self, parameters, ion):
        """``name/global=value,x=ion`` and the remaining (range) parameters."""
        suffix = []
        ranged = {}
        for key, value in (parameters or {}).items():
            if key in self.globals:
                suffix.append(f"{key}={float(value)!r}")
            else:
                ranged[key] = float(value)
        if ion is not None and len(self.ions) == 1 and self.ions[0] != ion:
            suffix.append(f"{self.ions[0]}={ion}")   # a generic ion ('x') renamed
        name = self.name + ("/" + ",".join(suffix) if suffix else "")
        return name, ranged


def _cell_factory(kind, options):
    """A function (gid, side) -> the ``arbor.cable_cell`` of cell ``gid`` in one run."""
    import arbor
    from arbor import units as U

    o = options

    def build(gid, side):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, o["radius"]),
                    arbor.mpoint(o["length"], 0, 0, o["radius"]), tag=1)
        labels = arbor.label_dict({"site": o["site"], "stim": o["stimulus_at"],
                                   "detector": o["detector_at"]})
        decor = arbor.decor()
        if o["temperature"] is not None:
            decor.set_property(tempK=(o["temperature"] + 273.15) * U.Kelvin)
        name, ranged = side.derived(o["parameters"], o["ion"])
        ion = o["ion"]
        if o["diffusivity"] is not None and ion is not None:
            decor.set_ion(ion, diff=o["diffusivity"] * U.m2 / U.s)
        for base in o["base"]:
            decor.paint(o["base_region"], base if not isinstance(base, str) else arbor.density(base))
        if kind == "density" or kind == "voltage":
            decor.paint(o["region"], arbor.density(name, ranged) if kind == "density"
                        else arbor.voltage_process(name, ranged))
        elif kind == "point":
            decor.place('"site"', arbor.synapse(name, ranged), "syn")
        elif kind == "junction":
            decor.place('"site"', arbor.junction(name, ranged), "gj")
        elif kind == "reversal_potential":
            if ion is None:
                raise MechanismError("compare(): a reversal_potential mechanism needs ion=... "
                                     "(the ion whose reversal potential it sets, e.g. 'na')")
            decor.set_ion(ion, method=arbor.mechanism(name, ranged))
        amplitude = o["stimulus"]
        if amplitude and (kind != "junction" or gid % 2 == 0):
            amplitude = amplitude * (1.0 + o["stimulus_spread"] * gid)
            decor.place('"stim"', arbor.i_clamp(o["stimulus_start"] * U.ms,
                                                o["stimulus_duration"] * U.ms,
                                                amplitude * U.nA))
        decor.place('"detector"', arbor.threshold_detector(o["threshold"] * U.mV), "detector")
        if o["decorate"] is not None:
            o["decorate"](decor)
        policy = arbor.cv_policy_fixed_per_branch(o["cvs"])
        return arbor.cable_cell(tree, decor, labels, discretization=policy)
    return build


def _probe_plan(kind, options):
    """[(tag, probe factory(side) -> arbor.probe, key in the result or None for v)]."""
    import arbor
    plan = [("v", lambda side: arbor.cable_probe_membrane_voltage_cell("v"), None)]
    state_probe = {"density": arbor.cable_probe_density_state_cell,
                   "point": arbor.cable_probe_point_state_cell,
                   "junction": arbor.cable_probe_point_state_cell}.get(kind)
    if state_probe is not None:
        for state in options["states"]:
            tag = "state_" + state
            plan.append((tag, lambda side, state=state, tag=tag: state_probe(side.probe_name, state, tag),
                         state))
    ion_probes = {
        "e": (arbor.cable_probe_ion_reversal_potential_cell, "e{}"),
        "i": (arbor.cable_probe_ion_int_concentration_cell, "{}i"),
        "o": (arbor.cable_probe_ion_ext_concentration_cell, "{}o"),
        "d": (arbor.cable_probe_ion_diff_concentration_cell, "{}d"),
    }
    for quantity, ion in options["ion_quantities"]:
        probe, label = ion_probes[quantity]
        tag = f"ion_{quantity}_{ion}"
        plan.append((tag, lambda side, probe=probe, ion=ion, tag=tag: probe(ion, tag),
                     "ion:" + label.format(ion)))
    return plan


def _written_ion_quantities(spec, ion):
    """The (quantity, ion name) pairs the Python mechanism writes, with ``ion`` renaming."""
    out = []
    for k, info in enumerate(spec.ions):
        name = ion if (ion is not None and len(spec.ions) == 1) else info.name
        if info.write_rev_potential:
            out.append(("e", name))
        if info.write_int_concentration:
            out.append(("i", name))
        if info.write_ext_concentration:
            out.append(("o", name))
        if info.use_diff_concentration and any(
                m.access.writes & {info.name + "d"} for m in spec.methods.values()):
            out.append(("d", name))
    return out


def _run(kind, side, options, plan, threads, seed):
    import arbor
    from arbor import units as U

    build_cell = _cell_factory(kind, options)
    n_cells = options["cells"]
    props = options["properties"]
    event_times = list(np.arange(options["event_start"], options["duration"], options["event_interval"]))

    from .recipe import CableRecipe

    class Recipe(CableRecipe):
        def make_cell(self, gid):
            return build_cell(gid, side)

        def probes(self, gid):
            return [make(side) for _, make, _ in plan]

        def event_generators(self, gid):
            if not options["weight"]:
                return []
            # An explicit schedule: arbor 0.12's regular_schedule ignores tstart.
            schedule = arbor.explicit_schedule([t * U.ms for t in event_times])
            return [arbor.event_generator("syn", float(options["weight"]), schedule)]

        def gap_junctions_on(self, gid):
            if kind != "junction":
                return []
            peer = gid + 1 if gid % 2 == 0 else gid - 1
            if peer >= n_cells:
                return []
            return [arbor.gap_junction_connection((peer, "gj"), "gj", 1.0)]

    recipe = Recipe(n_cells=n_cells, properties=props)
    context = arbor.context(threads=threads)
    domains = arbor.partition_load_balance(recipe, context)
    sim = arbor.simulation(recipe, context, domains, seed=seed)
    sim.record(arbor.spike_recording.local)
    schedule = arbor.regular_schedule(options["sample_interval"] * U.ms)
    handles = {(gid, tag): sim.sample((gid, tag), schedule) for gid in range(n_cells) for tag, _, _ in plan}
    start = time.perf_counter()
    sim.run(options["duration"] * U.ms, options["dt"] * U.ms)
    seconds = time.perf_counter() - start
    traces = {}
    t = None
    for tag, _, _ in plan:
        columns = []
        for gid in range(n_cells):
            samples = sim.samples(handles[(gid, tag)])
            if not samples:
                raise MechanismError(f"compare(): probe {tag!r} on cell {gid} recorded nothing "
                                     f"(is '{side.probe_name}' placed there?)")
            data, _ = samples[0]
            if t is None:
                t = data[:, 0].copy()
            columns.append(data[:, 1:])
        traces[tag] = np.concatenate(columns, axis=1)
    spikes = [[] for _ in range(n_cells)]
    for (gid, _), when in sim.spikes():
        spikes[gid].append(float(when))
    spikes = [sorted(s) for s in spikes]
    return t, traces, spikes, seconds


def compare(mechanism, reference=None, catalogue=None, *, cvs=1, duration=200.0, dt=0.025,
            parameters=None, stimulus=0.2, stimulus_start=10.0, stimulus_duration=None,
            weight=None, event_start=5.0, event_interval=10.0, ion=None, diffusivity=None,
            region="(all)", base="auto", cells=1, length=200.0, radius=1.0, temperature=None,
            backend="auto", threads=1, seed=0, sample_interval=None, states=True,
            decorate=None, plot=None):
    """Simulate ``mechanism`` (a :class:`~arbor_pycat.CustomMechanism` class) and
    its compiled twin ``reference`` on the same cell and report the differences.

    Parameters
    ----------
    mechanism : the Python mechanism class (registered or not).
    reference : name of the compiled mechanism in ``catalogue``. Default: the
        twin listed in :data:`arbor_pycat.models.REFERENCES` for the ports there.
    catalogue : ``arbor.catalogue`` holding ``reference``; default
        ``arbor.default_catalogue()`` (or the port's own catalogue).
    cvs : number of CVs of each cell: an unbranched cable ``length`` µm long,
        ``radius`` µm thick.
    duration, dt : simulated time and time step (ms).
    parameters : ``{name: value}`` for both mechanisms; globals are set through
        the mechanism name (``"pas/e=-65"``), the rest as range parameters.
    stimulus : current clamp amplitude (nA) from ``stimulus_start`` for
        ``stimulus_duration`` ms (default: to the end), at the start of the
        cable; 0 or None for none. With several cells, cell k gets
        ``stimulus * (1 + 0.1 k)`` so that the cells differ (of a junction
        pair, only the first cell is stimulated). Point and junction
        mechanisms sit in the middle of the cable, as does the spike detector
        (-10 mV).
    weight, event_start, event_interval : an ``arbor.event_generator`` with this
        weight and a regular schedule (ms) drives the synapse labelled ``"syn"``:
        the point mechanism under test (default weight 0.01), or, for other
        kinds, one that ``decorate`` places (no events unless ``weight`` is given).
    ion : the ion a generic-ion mechanism (``nernst``'s ``x``) is renamed to,
        and whose reversal potential a ``reversal_potential`` mechanism sets.
    diffusivity : diffusivity (m²/s) given to ``ion``; default 1e-9 when the
        mechanism uses the diffusive concentration.
    region : where density and voltage mechanisms are painted.
    base : mechanisms painted on every cell in both runs, so that there is
        spiking: ``"auto"`` paints Arbor's ``hh`` unless the reference is
        ``hh`` itself; or a list of names / ``arbor.density`` objects; or None.
    cells : number of cells (junction mechanisms couple cells 0-1, 2-3, ...).
    temperature : cell temperature (°C); default Arbor's NEURON-like 6.3 °C.
    backend : the arbor_pycat backend for the Python mechanism (``"auto"``,
        ``"numba"``, ``"python"``; as :func:`arbor_pycat.build`); the result
        says which one ran.
    threads, seed : Arbor's thread count and random seed, for both runs.
    sample_interval : ms between voltage samples (default ``dt``).
    states : compare the state variables both mechanisms have (True), only
        those named (a list), or none (False).
    decorate : optional function called with each cell's ``arbor.decor`` (both
        runs) to add more, e.g. a source of concentration.
    plot : a path: save the voltage overlay there as a PNG (needs matplotlib).

    Returns a :class:`Comparison`.

    Arbor runs a cell's mechanisms in the order of their names, and derives
    each mechanism's random streams from its place in that order. So that the
    two runs differ in nothing but the implementation, the Python mechanism
    runs under the name ``<reference>_pycat`` (a subclass of ``mechanism``
    built for the purpose), which sorts next to the reference: mechanisms that
    read each other's writes (``inject`` and ``decay``) see the same order, and
    a port using Arbor's random variables gets the very same draws.
    """
    import arbor

    from .. import builder
    from ..builder import build

    spec = spec_of(mechanism)
    kind = spec.kind
    if reference is None or catalogue is None:
        from .. import models
        twin = models.REFERENCES.get(mechanism)
        if twin is not None:
            factory, twin_name = twin
            reference = reference or twin_name
            if catalogue is None and reference == twin_name:
                catalogue = getattr(arbor, factory)()
        if reference is None:
            raise MechanismError(f"compare(): give the name of {spec.label}'s compiled twin "
                                 "(reference=...)")
    if catalogue is None:
        catalogue = arbor.default_catalogue()
    if reference not in catalogue:
        raise MechanismError(f"compare(): the catalogue has no mechanism {reference!r}")
    info = catalogue[reference]

    # One catalogue for both runs: Arbor's defaults, the reference's, the Python one.
    props = arbor.neuron_cable_properties()
    ref_prefix = "" if _is_default(catalogue) else _merge_catalogue(props.catalogue, catalogue, "reference_")
    # Arbor runs a cell's mechanisms in the order of their names, and that
    # order also picks their random streams. For the two runs to differ in
    # nothing but the implementation, the Python mechanism runs under a name
    # that sorts next to the reference's: '<reference>_pycat'.
    run_name = f"{ref_prefix}{reference}_pycat"
    twin = type(mechanism.__name__, (mechanism,), {
        "name": run_name, "__module__": mechanism.__module__,
        "__qualname__": mechanism.__qualname__, "__doc__": mechanism.__doc__})
    python_catalogue = build(twin, backend=backend)
    used_backend = builder.last_backends.get(run_name, backend)
    py_prefix = _merge_catalogue(props.catalogue, python_catalogue, "python_")

    ref_ions = list(info.ions)
    py_ions = [ion_.name for ion_ in spec.ions]
    if ion is None and kind == "reversal_potential" and py_ions and py_ions[0] in ("na", "k", "ca"):
        ion = py_ions[0]
    uses_diff = any(i.use_diff_concentration for i in spec.ions)
    if diffusivity is None and uses_diff and ion is not None:
        diffusivity = 1e-9

    common = [s.name for s in spec.state_vars if s.name in set(info.state)]
    if states is False or states is None:
        compared_states = []
    elif states is True:
        compared_states = common if kind in ("density", "point", "junction") else []
    else:
        compared_states = list(states)
    ref_side = _Side(ref_prefix + reference, ref_ions, info.globals)
    py_side = _Side(py_prefix + run_name, py_ions, [g.name for g in spec.globals])

    if weight is None and kind == "point":
        weight = 0.01
    if base == "auto":
        base = [] if reference == "hh" else ["hh"]
    elif base is None:
        base = []
    elif isinstance(base, str):
        base = [base]
    options = dict(
        cvs=int(cvs), duration=float(duration), dt=float(dt), parameters=dict(parameters or {}),
        stimulus=float(stimulus or 0.0), stimulus_start=float(stimulus_start),
        stimulus_duration=float(stimulus_duration if stimulus_duration is not None
                                else max(duration - stimulus_start, 0.0) + 1.0),
        stimulus_spread=0.1, weight=weight, event_start=float(event_start),
        event_interval=float(event_interval), ion=ion, diffusivity=diffusivity,
        region=region, base_region="(all)", base=list(base), cells=int(cells),
        length=float(length), radius=float(radius), temperature=temperature, site="(location 0 0.5)",
        stimulus_at="(location 0 0)", detector_at="(location 0 0.5)", threshold=-10.0,
        sample_interval=float(sample_interval or dt), states=compared_states,
        ion_quantities=_written_ion_quantities(spec, ion), decorate=decorate, properties=props)
    if kind == "junction" and options["cells"] < 2:
        options["cells"] = 2

    results = {}
    for label, side in (("reference", ref_side), ("python", py_side)):
        side.probe_name = side.derived(options["parameters"], ion)[0]
        plan = _probe_plan(kind, options)
        results[label] = _run(kind, side, options, plan, int(threads), int(seed))

    t, ref_traces, ref_spikes, ref_seconds = results["reference"]
    _, py_traces, py_spikes, py_seconds = results["python"]
    state_differences, ion_differences = {}, {}
    states_reference, states_python = {}, {}
    ions_reference, ions_python = {}, {}
    for tag, _, key in _probe_plan(kind, options):
        if key is None:
            continue
        a, b = ref_traces[tag], py_traces[tag]
        difference = float(np.max(np.abs(a - b))) if a.size else 0.0
        if key.startswith("ion:"):
            ion_differences[key[4:]] = difference
            ions_reference[key[4:]], ions_python[key[4:]] = a, b
        else:
            state_differences[key] = difference
            states_reference[key], states_python[key] = a, b
    result = Comparison(
        mechanism=spec.name, reference=reference, kind=kind, backend=used_backend,
        cvs=options["cvs"], cells=options["cells"], duration=options["duration"], dt=options["dt"],
        threads=int(threads), time=t, v_reference=ref_traces["v"], v_python=py_traces["v"],
        spikes_reference=ref_spikes, spikes_python=py_spikes,
        state_differences=state_differences, ion_differences=ion_differences,
        states_reference=states_reference, states_python=states_python,
        ions_reference=ions_reference, ions_python=ions_python,
        seconds_reference=ref_seconds, seconds_python=py_seconds)
    if plot:
        try:
            result.plot(plot)
        except ImportError as exc:
            warnings.warn(f"compare(plot=...): {exc}", stacklevel=2)
    return result
