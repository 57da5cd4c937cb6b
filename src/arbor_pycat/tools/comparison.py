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

The options can also be given as three small frozen dataclasses, :class:`Cell`,
:class:`Stimulus` and :class:`Run`, which check their values when made and can
be kept and reused::

    from arbor_pycat.comparison import Cell, Run, Stimulus
    cell = Cell(cvs=16, temperature=16.3)
    result = compare(models.HH, cell=cell, stimulus=Stimulus(0.4), run=Run(duration=50))
"""
import math
import numbers
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MechanismError
from ..spec.registry import spec_of

if TYPE_CHECKING:
    import arbor

__all__ = ["compare", "Comparison", "Cell", "Stimulus", "Run"]

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
    spikes_reference: list[list[float]] = field(repr=False)    # per cell: spike times (ms)
    spikes_python: list[list[float]] = field(repr=False)
    state_differences: dict[str, float] = field(default_factory=dict)   # state -> max |difference|
    ion_differences: dict[str, float] = field(default_factory=dict)     # e.g. "ena" -> max |difference|
    states_reference: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    states_python: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    ions_reference: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # "ena" -> trace
    ions_python: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    seconds_reference: float = 0.0     # wall time of sim.run() (s)
    seconds_python: float = 0.0        # s

    @property
    def max_dv(self) -> float:
        """Largest |V_python - V_reference| over every sample and CV (mV)."""
        if self.v_reference.size == 0:
            return 0.0
        return float(np.max(np.abs(self.v_python - self.v_reference)))

    @property
    def spike_counts(self) -> tuple[int, int]:
        """``(reference, python)`` numbers of spikes, all cells together."""
        return (sum(len(s) for s in self.spikes_reference), sum(len(s) for s in self.spikes_python))

    @property
    def spike_time_differences(self) -> np.ndarray:
        """Python minus reference spike times (ms), pairing the k-th spikes of each cell."""
        out = []
        for a, b in zip(self.spikes_reference, self.spikes_python):
            n = min(len(a), len(b))
            out.extend(np.asarray(b[:n]) - np.asarray(a[:n]))
        return np.asarray(out, dtype=float)

    @property
    def max_spike_time_difference(self) -> float:
        """Largest |spike time difference| (ms); 0 without paired spikes."""
        d = self.spike_time_differences
        return float(np.max(np.abs(d))) if d.size else 0.0

    @property
    def max_state_difference(self) -> float:
        """Largest difference over the state variables both mechanisms have."""
        return max(self.state_differences.values(), default=0.0)

    @property
    def max_ion_difference(self) -> float:
        """Largest difference over the ion quantities the mechanism writes."""
        return max(self.ion_differences.values(), default=0.0)

    @property
    def speed_ratio(self) -> float:
        """Python run time over reference run time."""
        return self.seconds_python / self.seconds_reference if self.seconds_reference else float("inf")

    def relative_differences(self) -> dict[str, float]:
        """Each compared state and ion quantity's max difference over the largest
        magnitude its reference trace reaches (1 where that is 0)."""
        out = {}
        for name, difference in self.state_differences.items():
            out[name] = difference / _scale(self.states_reference.get(name))
        for name, difference in self.ion_differences.items():
            out[name] = difference / _scale(self.ions_reference.get(name))
        return out

    def agrees(self, dv: float = 1e-3, spike_time: float | None = None,
               state: float | None = 1e-6) -> bool:
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

    def summary(self) -> str:
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

    def __str__(self) -> str:
        return self.summary()

    def plot(self, path: str | os.PathLike, column: int = 0) -> str | os.PathLike:
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


# -- the options ------------------------------------------------------------------

def _bad(where: str, value: Any, what: str):
    raise ValueError(f"compare(): {where} must be {what}, not {value!r}")


def _real(where: str, value: Any, what: str, *, above: float | None = None,
          at_least: float | None = None, none: bool = False) -> float | None:
    """``value`` as a finite float (None where ``none`` allows it), or a ValueError naming ``where``."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _bad(where, value, what)
    number = float(value)
    if not math.isfinite(number) or (above is not None and not number > above) \
            or (at_least is not None and not number >= at_least):
        _bad(where, value, what)
    return number


def _count(where: str, value: Any, what: str, *, at_least: int = 1) -> int:
    """``value`` as an int >= ``at_least`` (a whole float such as 4.0 is accepted)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < at_least:
        _bad(where, value, what)
    return int(value)


def _set(options, name, value):
    object.__setattr__(options, name, value)      # the dataclasses are frozen


@dataclass(frozen=True)
class Cell:
    """The cells :func:`compare` simulates, the same in both runs.

    ``cvs``: CVs of each cell, an unbranched cable ``length`` µm long of radius
    ``radius`` µm; ``cells``: number of cells (junction mechanisms couple cells
    0-1, 2-3, ..., and get at least 2); ``temperature`` (°C; None: Arbor's
    NEURON-like 6.3 °C); ``region``: where density and voltage mechanisms are
    painted; ``base``: mechanisms painted everywhere so that the cell spikes
    (``"auto"``: Arbor's ``hh`` unless the reference is ``hh``; a name, a list
    of names or ``arbor.density`` objects; None for none); ``diffusivity`` of
    the ion ``ion`` (m²/s; None: 1e-9 for a mechanism using the diffusive
    concentration, else none); ``decorate``: a function called with each cell's
    ``arbor.decor`` to add more (e.g. a source of concentration).
    """
    cvs: int = 1
    cells: int = 1
    length: float = 200.0                   # µm
    radius: float = 1.0                     # µm
    temperature: float | None = None        # °C
    region: str = "(all)"
    base: str | tuple | None = "auto"
    diffusivity: float | None = None        # m²/s
    decorate: Callable | None = None

    def __post_init__(self):
        _set(self, "cvs", _count("Cell.cvs (cvs=)", self.cvs, "a whole number >= 1 (CVs per cell)"))
        _set(self, "cells", _count("Cell.cells (cells=)", self.cells, "a whole number >= 1 (cells)"))
        _set(self, "length", _real("Cell.length (length=)", self.length, "a length > 0 (µm)", above=0.0))
        _set(self, "radius", _real("Cell.radius (radius=)", self.radius, "a radius > 0 (µm)", above=0.0))
        _set(self, "temperature", _real("Cell.temperature (temperature=)", self.temperature,
                                        "a temperature above -273.15 (°C) or None", above=-273.15,
                                        none=True))
        if not isinstance(self.region, str) or not self.region.strip():
            _bad("Cell.region (region=)", self.region, "a region expression such as '(all)'")
        _set(self, "base", _base(self.base))
        _set(self, "diffusivity", _real("Cell.diffusivity (diffusivity=)", self.diffusivity,
                                        "a diffusivity >= 0 (m²/s) or None", at_least=0.0, none=True))
        if self.decorate is not None and not callable(self.decorate):
            _bad("Cell.decorate (decorate=)", self.decorate,
                 "a function called with each cell's arbor.decor, or None")


def _base(base):
    """``base`` as ``"auto"`` or a tuple of names / ``arbor.density`` objects."""
    if base is None:
        return ()
    if isinstance(base, str):
        return base if base == "auto" else _base((base,))
    try:
        entries = tuple(base)
    except TypeError:
        _bad("Cell.base (base=)", base, "'auto', None, a mechanism name or a list of names "
             "or arbor.density objects")
    for entry in entries:
        named = isinstance(entry, str) and bool(entry.strip())
        if not named and type(entry).__name__ != "density":      # an arbor.density
            raise ValueError(f"compare(): Cell.base (base=) must hold mechanism names or "
                             f"arbor.density objects; {entry!r} in {base!r} is neither")
    return entries


@dataclass(frozen=True)
class Stimulus:
    """What drives the cells in both runs of :func:`compare`.

    A current clamp of ``amplitude`` nA (0 or None: none) at the start of each
    cable from ``start`` for ``duration`` ms (None: to the end of the run);
    with several cells, cell k gets ``amplitude * (1 + 0.1 k)`` so that the
    cells differ (of a junction pair, only the first cell is stimulated).
    Events of ``weight`` (µS for Arbor's synapses; None: 0.01 for a point
    mechanism, else no events; 0: none) at ``event_start``, ``event_start +
    event_interval``, ... (ms) go to the synapse labelled ``"syn"``: the point
    mechanism under test, or one that ``Cell.decorate`` places.

    ``compare(stimulus=...)`` takes a Stimulus or just the amplitude.
    """
    amplitude: float | None = 0.2           # nA
    start: float = 10.0                     # ms
    duration: float | None = None           # ms
    weight: float | None = None
    event_start: float = 5.0                # ms
    event_interval: float = 10.0            # ms

    def __post_init__(self):
        _set(self, "amplitude", _real("Stimulus.amplitude (stimulus=)", self.amplitude,
                                      "a current (nA), 0 or None", none=True) or 0.0)
        _set(self, "start", _real("Stimulus.start (stimulus_start=)", self.start,
                                  "a time >= 0 (ms)", at_least=0.0))
        _set(self, "duration", _real("Stimulus.duration (stimulus_duration=)", self.duration,
                                     "a duration >= 0 (ms) or None", at_least=0.0, none=True))
        _set(self, "weight", _real("Stimulus.weight (weight=)", self.weight,
                                   "an event weight (a number) or None", none=True))
        _set(self, "event_start", _real("Stimulus.event_start (event_start=)", self.event_start,
                                        "a time >= 0 (ms)", at_least=0.0))
        _set(self, "event_interval", _real("Stimulus.event_interval (event_interval=)",
                                           self.event_interval, "an interval > 0 (ms)", above=0.0))


@dataclass(frozen=True)
class Run:
    """How both runs of :func:`compare` are simulated.

    ``duration`` and time step ``dt`` (ms); ``sample_interval``: ms between
    samples of the traces (None: ``dt``); ``threads`` and ``seed``: Arbor's
    thread count and random seed; ``backend``: the arbor_pycat backend of the
    Python mechanism (``"auto"``, ``"numba"``, ``"python"``, as
    :func:`arbor_pycat.build`; the result says which one ran).
    """
    duration: float = 200.0                 # ms
    dt: float = 0.025                       # ms
    sample_interval: float | None = None    # ms
    threads: int = 1
    seed: int = 0
    backend: str = "auto"

    def __post_init__(self):
        _set(self, "duration", _real("Run.duration (duration=)", self.duration,
                                     "a duration > 0 (ms)", above=0.0))
        _set(self, "dt", _real("Run.dt (dt=)", self.dt, "a time step > 0 (ms)", above=0.0))
        _set(self, "sample_interval", _real("Run.sample_interval (sample_interval=)",
                                            self.sample_interval, "an interval > 0 (ms) or None",
                                            above=0.0, none=True))
        _set(self, "threads", _count("Run.threads (threads=)", self.threads,
                                     "a whole number >= 1 (threads)"))
        _set(self, "seed", _count("Run.seed (seed=)", self.seed, "a whole number >= 0", at_least=0))
        if not isinstance(self.backend, str):
            _bad("Run.backend (backend=)", self.backend, "'auto', 'numba' or 'python'")


# compare()'s keywords that make each options object: keyword -> field.
_CELL_KEYWORDS = {"cvs": "cvs", "cells": "cells", "length": "length", "radius": "radius",
                  "temperature": "temperature", "region": "region", "base": "base",
                  "diffusivity": "diffusivity", "decorate": "decorate"}
_STIMULUS_KEYWORDS = {"stimulus": "amplitude", "stimulus_start": "start",
                      "stimulus_duration": "duration", "weight": "weight",
                      "event_start": "event_start", "event_interval": "event_interval"}
_RUN_KEYWORDS = {"duration": "duration", "dt": "dt", "sample_interval": "sample_interval",
                 "threads": "threads", "seed": "seed", "backend": "backend"}


def _is_default(value, default):
    if value is default:
        return True
    try:
        return type(value) is not bool and bool(value == default)
    except (TypeError, ValueError):
        return False


def _options(cls, given, keyword, mapping, values):
    """The ``cls`` options of a compare() call: ``given`` (an instance) or one made of
    the keywords ``values`` ({keyword: value}); a keyword changed from its default
    beside an instance is an error (the value would be ambiguous)."""
    if given is None:
        return cls(**{mapping[k]: v for k, v in values.items()})
    if not isinstance(given, cls):
        raise ValueError(f"compare(): {keyword}= must be an arbor_pycat.comparison.{cls.__name__}, "
                         f"not {given!r}")
    defaults = {f.name: f.default for f in fields(cls)}
    clash = [k for k, v in values.items() if not _is_default(v, defaults[mapping[k]])]
    if clash:
        k = clash[0]
        raise ValueError(f"compare(): {k}={values[k]!r} and {keyword}={given!r} both given: set "
                         f"{cls.__name__}({mapping[k]}=...) or {k}=..., not both")
    return given


# -- one run's view of the mechanism under test -------------------------------------

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


def _is_default_catalogue(catalogue):
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


@dataclass(frozen=True)
class _Setup:
    """Everything both runs share, resolved for the mechanism under test."""
    kind: str
    cell: Cell              # base a tuple; at least 2 cells for junctions
    stimulus: Stimulus      # duration and weight resolved
    run: Run                # sample_interval resolved
    parameters: dict
    ion: str | None
    states: tuple           # state variables compared
    ion_quantities: tuple   # (quantity, ion) pairs compared: ('e', 'na'), ('i', 'ca'), ...
    properties: Any         # the arbor.cable_global_properties of both runs


# Where things sit on the cable, and the spike detector's threshold (mV).
_SITE = "(location 0 0.5)"
_STIMULUS_AT = "(location 0 0)"
_DETECTOR_AT = "(location 0 0.5)"
_THRESHOLD = -10.0
_STIMULUS_SPREAD = 0.1      # cell k gets amplitude * (1 + 0.1 k)


def _paint_mechanism(decor, setup, side):
    """Paint or place the mechanism under test (as ``side`` names it)."""
    import arbor
    kind, ion = setup.kind, setup.ion
    name, ranged = side.derived(setup.parameters, ion)
    if kind == "density" or kind == "voltage":
        decor.paint(setup.cell.region, arbor.density(name, ranged) if kind == "density"
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


def _place_stimulus(decor, stimulus, kind, gid):
    """The current clamp of cell ``gid`` (none for the second cell of a junction pair)."""
    import arbor
    from arbor import units as U
    if stimulus.amplitude and (kind != "junction" or gid % 2 == 0):
        amplitude = stimulus.amplitude * (1.0 + _STIMULUS_SPREAD * gid)
        decor.place('"stim"', arbor.i_clamp(stimulus.start * U.ms, stimulus.duration * U.ms,
                                            amplitude * U.nA))


def _make_cell(setup, gid, side):
    """The ``arbor.cable_cell`` of cell ``gid`` in the run of ``side``."""
    import arbor
    from arbor import units as U
    cell = setup.cell
    tree = arbor.segment_tree()
    tree.append(arbor.mnpos, arbor.mpoint(0, 0, 0, cell.radius),
                arbor.mpoint(cell.length, 0, 0, cell.radius), tag=1)
    labels = arbor.label_dict({"site": _SITE, "stim": _STIMULUS_AT, "detector": _DETECTOR_AT})
    decor = arbor.decor()
    if cell.temperature is not None:
        decor.set_property(tempK=(cell.temperature + 273.15) * U.Kelvin)
    if cell.diffusivity is not None and setup.ion is not None:
        decor.set_ion(setup.ion, diff=cell.diffusivity * U.m2 / U.s)
    for base in cell.base:
        decor.paint("(all)", base if not isinstance(base, str) else arbor.density(base))
    _paint_mechanism(decor, setup, side)
    _place_stimulus(decor, setup.stimulus, setup.kind, gid)
    decor.place('"detector"', arbor.threshold_detector(_THRESHOLD * U.mV), "detector")
    if cell.decorate is not None:
        cell.decorate(decor)
    policy = arbor.cv_policy_fixed_per_branch(cell.cvs)
    return arbor.cable_cell(tree, decor, labels, discretization=policy)


def _probe_plan(setup):
    """[(tag, probe factory(side) -> arbor.probe, key in the result or None for v)]."""
    import arbor
    plan = [("v", lambda side: arbor.cable_probe_membrane_voltage_cell("v"), None)]
    state_probe = {"density": arbor.cable_probe_density_state_cell,
                   "point": arbor.cable_probe_point_state_cell,
                   "junction": arbor.cable_probe_point_state_cell}.get(setup.kind)
    if state_probe is not None:
        for state in setup.states:
            tag = "state_" + state
            plan.append((tag, lambda side, state=state, tag=tag: state_probe(side.probe_name, state, tag),
                         state))
    ion_probes = {
        "e": (arbor.cable_probe_ion_reversal_potential_cell, "e{}"),
        "i": (arbor.cable_probe_ion_int_concentration_cell, "{}i"),
        "o": (arbor.cable_probe_ion_ext_concentration_cell, "{}o"),
        "d": (arbor.cable_probe_ion_diff_concentration_cell, "{}d"),
    }
    for quantity, ion in setup.ion_quantities:
        probe, label = ion_probes[quantity]
        tag = f"ion_{quantity}_{ion}"
        plan.append((tag, lambda side, probe=probe, ion=ion, tag=tag: probe(ion, tag),
                     "ion:" + label.format(ion)))
    return plan


def _written_ion_quantities(spec, ion):
    """The (quantity, ion name) pairs the Python mechanism writes, with ``ion`` renaming."""
    out = []
    for info in spec.ions:
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


def _event_times(stimulus, run):
    return list(np.arange(stimulus.event_start, run.duration, stimulus.event_interval))


def _recipe(setup, side, plan):
    """The recipe of one run: ``setup``'s cells with the mechanism as ``side`` names it."""
    import arbor
    from arbor import units as U

    from .recipe import CableRecipe

    kind, n_cells = setup.kind, setup.cell.cells
    weight = setup.stimulus.weight
    event_times = _event_times(setup.stimulus, setup.run)

    class Recipe(CableRecipe):
        def make_cell(self, gid):
            return _make_cell(setup, gid, side)

        def probes(self, gid):
            return [make(side) for _, make, _ in plan]

        def event_generators(self, gid):
            if not weight:
                return []
            # An explicit schedule: arbor 0.12's regular_schedule ignores tstart.
            schedule = arbor.explicit_schedule([t * U.ms for t in event_times])
            return [arbor.event_generator("syn", float(weight), schedule)]

        def gap_junctions_on(self, gid):
            if kind != "junction":
                return []
            peer = gid + 1 if gid % 2 == 0 else gid - 1
            if peer >= n_cells:
                return []
            return [arbor.gap_junction_connection((peer, "gj"), "gj", 1.0)]

    return Recipe(n_cells=n_cells, properties=setup.properties)


def _simulate(setup, side):
    """One run: (sample times, {tag: trace}, spike times per cell, seconds of sim.run())."""
    import arbor
    from arbor import units as U

    side.probe_name = side.derived(setup.parameters, setup.ion)[0]
    plan = _probe_plan(setup)
    run, n_cells = setup.run, setup.cell.cells
    recipe = _recipe(setup, side, plan)
    context = arbor.context(threads=run.threads)
    domains = arbor.partition_load_balance(recipe, context)
    sim = arbor.simulation(recipe, context, domains, seed=run.seed)
    sim.record(arbor.spike_recording.local)
    schedule = arbor.regular_schedule(run.sample_interval * U.ms)
    handles = {(gid, tag): sim.sample((gid, tag), schedule) for gid in range(n_cells) for tag, _, _ in plan}
    start = time.perf_counter()
    sim.run(run.duration * U.ms, run.dt * U.ms)
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


# -- compare() ----------------------------------------------------------------------

def _reference_of(mechanism, spec, reference, catalogue):
    """The compiled twin's name and catalogue (defaults: models.REFERENCES, Arbor's default)."""
    import arbor
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
    return reference, catalogue


def _build_twin(mechanism, run_name, backend):
    """Build ``mechanism`` under the name ``run_name``: (catalogue, backend that it got).

    The backend comes from this build's own report, not from the most recent
    build of the process (another thread may have built something since)."""
    from ..builder import build_with_report
    twin = type(mechanism.__name__, (mechanism,), {
        "name": run_name, "__module__": mechanism.__module__,
        "__qualname__": mechanism.__qualname__, "__doc__": mechanism.__doc__})
    catalogue, report = build_with_report(twin, backend=backend)
    return catalogue, report[run_name].backend


def _checked_parameters(parameters, spec, info, reference):
    """``parameters`` as {name: float}; every name a parameter or global of both mechanisms."""
    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        _bad("parameters", parameters, "a dict {name: value}")
    ours = {p.name for p in spec.parameters} | {g.name for g in spec.globals}
    theirs = set(info.parameters) | set(info.globals)
    out = {}
    for name, value in parameters.items():
        if name not in ours:
            raise ValueError(f"compare(): parameters: {name!r} is not a parameter or global of "
                             f"{spec.label} (it has: {', '.join(sorted(ours)) or 'none'})")
        if name not in theirs:
            raise ValueError(f"compare(): parameters: {name!r} is not a parameter or global of the "
                             f"compiled {reference!r} (it has: {', '.join(sorted(theirs)) or 'none'})")
        out[name] = _real(f"parameters[{name!r}]", value, "a finite number")
    return out


def _compared_states(states, spec, info, kind, reference):
    """The state variables whose traces are compared."""
    common = [s.name for s in spec.state_vars if s.name in set(info.state)]
    if states is False or states is None:
        return ()
    if states is True:
        return tuple(common) if kind in ("density", "point", "junction") else ()
    try:
        names = tuple(states) if not isinstance(states, str) else None
    except TypeError:
        names = None
    if names is None or not all(isinstance(name, str) for name in names):
        _bad("states", states, "True, False or a list of state variable names")
    for name in names:
        if name not in common:
            raise ValueError(f"compare(): states: {name!r} is not a state variable of both "
                             f"{spec.label} and the compiled {reference!r} "
                             f"(both have: {', '.join(common) or 'none'})")
    return names


def _setup(spec, info, reference, cell, stimulus, run, parameters, ion, states, properties):
    """Resolve the defaults that depend on the mechanism and its twin."""
    kind = spec.kind
    if ion is not None and (not isinstance(ion, str) or not ion.isidentifier()):
        _bad("ion", ion, "an ion name such as 'na', or None")
    py_ions = [i.name for i in spec.ions]
    if ion is None and kind == "reversal_potential" and py_ions and py_ions[0] in ("na", "k", "ca"):
        ion = py_ions[0]
    base = cell.base if cell.base != "auto" else (() if reference == "hh" else ("hh",))
    diffusivity = cell.diffusivity
    if diffusivity is None and ion is not None and any(i.use_diff_concentration for i in spec.ions):
        diffusivity = 1e-9
    cell = replace(cell, base=base, diffusivity=diffusivity,
                   cells=max(cell.cells, 2) if kind == "junction" else cell.cells)
    weight = stimulus.weight
    if weight is None and kind == "point":
        weight = 0.01
    duration = stimulus.duration
    if duration is None:
        duration = max(run.duration - stimulus.start, 0.0) + 1.0
    stimulus = replace(stimulus, weight=weight, duration=duration)
    run = replace(run, sample_interval=run.sample_interval or run.dt)
    return _Setup(kind, cell, stimulus, run, _checked_parameters(parameters, spec, info, reference),
                  ion, _compared_states(states, spec, info, kind, reference),
                  tuple(_written_ion_quantities(spec, ion)), properties)


def _differences(setup, reference_traces, python_traces):
    """Max |difference| and both traces of every compared state and ion quantity."""
    states, ions = {}, {}
    traces = {"states": ({}, {}), "ions": ({}, {})}
    for tag, _, key in _probe_plan(setup):
        if key is None:
            continue
        a, b = reference_traces[tag], python_traces[tag]
        difference = float(np.max(np.abs(a - b))) if a.size else 0.0
        if key.startswith("ion:"):
            ions[key[4:]] = difference
            traces["ions"][0][key[4:]], traces["ions"][1][key[4:]] = a, b
        else:
            states[key] = difference
            traces["states"][0][key], traces["states"][1][key] = a, b
    return dict(state_differences=states, ion_differences=ions,
                states_reference=traces["states"][0], states_python=traces["states"][1],
                ions_reference=traces["ions"][0], ions_python=traces["ions"][1])


def compare(mechanism: type, reference: str | None = None, catalogue: "arbor.catalogue | None" = None,
            *, cvs: int = 1, duration: float = 200.0, dt: float = 0.025,
            parameters: Mapping[str, float] | None = None, stimulus: float | Stimulus | None = 0.2,
            stimulus_start: float = 10.0, stimulus_duration: float | None = None,
            weight: float | None = None, event_start: float = 5.0, event_interval: float = 10.0,
            ion: str | None = None, diffusivity: float | None = None, region: str = "(all)",
            base: str | list | None = "auto", cells: int = 1, length: float = 200.0,
            radius: float = 1.0, temperature: float | None = None, backend: str = "auto",
            threads: int = 1, seed: int = 0, sample_interval: float | None = None,
            states: bool | list[str] = True, decorate: Callable | None = None,
            plot: str | os.PathLike | None = None, cell: Cell | None = None,
            run: Run | None = None) -> Comparison:
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
        (-10 mV). Or a :class:`Stimulus` holding all the stimulus options.
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
    cell, run : a :class:`Cell` (cvs, cells, length, radius, temperature,
        region, base, diffusivity, decorate) and a :class:`Run` (duration, dt,
        sample_interval, threads, seed, backend) instead of those keywords;
        with ``stimulus=Stimulus(...)`` (amplitude, start, duration, weight,
        event_start, event_interval), they hold every option but
        ``parameters``, ``ion``, ``states`` and ``plot``. A keyword that such
        an object covers must then be left at its default.

    Every option is checked before anything runs: a bad value is a
    ``ValueError`` naming the option and the value.

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

    cell = _options(Cell, cell, "cell", _CELL_KEYWORDS, dict(
        cvs=cvs, cells=cells, length=length, radius=radius, temperature=temperature,
        region=region, base=base, diffusivity=diffusivity, decorate=decorate))
    stimulus_keywords = dict(stimulus_start=stimulus_start, stimulus_duration=stimulus_duration,
                             weight=weight, event_start=event_start, event_interval=event_interval)
    if isinstance(stimulus, Stimulus):
        stimulus = _options(Stimulus, stimulus, "stimulus", _STIMULUS_KEYWORDS, stimulus_keywords)
    else:
        stimulus = _options(Stimulus, None, "stimulus", _STIMULUS_KEYWORDS,
                            dict(stimulus=stimulus, **stimulus_keywords))
    run = _options(Run, run, "run", _RUN_KEYWORDS, dict(
        duration=duration, dt=dt, sample_interval=sample_interval, threads=threads, seed=seed,
        backend=backend))
    spec = spec_of(mechanism)
    reference, catalogue = _reference_of(mechanism, spec, reference, catalogue)
    info = catalogue[reference]

    # One catalogue for both runs: Arbor's defaults, the reference's, the Python one.
    properties = arbor.neuron_cable_properties()
    ref_prefix = ("" if _is_default_catalogue(catalogue)
                  else _merge_catalogue(properties.catalogue, catalogue, "reference_"))
    # Arbor runs a cell's mechanisms in the order of their names, and that
    # order also picks their random streams. For the two runs to differ in
    # nothing but the implementation, the Python mechanism runs under a name
    # that sorts next to the reference's: '<reference>_pycat'.
    run_name = f"{ref_prefix}{reference}_pycat"
    setup = _setup(spec, info, reference, cell, stimulus, run, parameters, ion, states, properties)
    python_catalogue, used_backend = _build_twin(mechanism, run_name, run.backend)
    py_prefix = _merge_catalogue(properties.catalogue, python_catalogue, "python_")

    ref_side = _Side(ref_prefix + reference, list(info.ions), info.globals)
    py_side = _Side(py_prefix + run_name, [i.name for i in spec.ions], [g.name for g in spec.globals])
    t, ref_traces, ref_spikes, ref_seconds = _simulate(setup, ref_side)
    _, py_traces, py_spikes, py_seconds = _simulate(setup, py_side)
    result = Comparison(
        mechanism=spec.name, reference=reference, kind=spec.kind, backend=used_backend,
        cvs=setup.cell.cvs, cells=setup.cell.cells, duration=setup.run.duration, dt=setup.run.dt,
        threads=setup.run.threads, time=t, v_reference=ref_traces["v"], v_python=py_traces["v"],
        spikes_reference=ref_spikes, spikes_python=py_spikes,
        seconds_reference=ref_seconds, seconds_python=py_seconds,
        **_differences(setup, ref_traces, py_traces))
    if plot:
        try:
            result.plot(plot)
        except ImportError as exc:
            warnings.warn(f"compare(plot=...): {exc}", stacklevel=2)
    return result
