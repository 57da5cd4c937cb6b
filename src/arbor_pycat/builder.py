"""``build()``: registered classes → a new, independent ``arbor.catalogue``."""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .backends import compile_mechanism
from .bridge import Shim
from .spec.registry import registered, spec_of
from .errors import MechanismError, _for_user

if TYPE_CHECKING:
    import arbor

logger = logging.getLogger("arbor_pycat")

# A build of one mechanism that takes longer than this (seconds) is announced.
PROGRESS_AFTER = 1.0


def build(*classes: type, backend: str = "auto", verbose: bool | None = None,
          progress: bool | None = None) -> arbor.catalogue:
    """Build an ``arbor.catalogue`` of ``classes`` (default: every registered class).

    Each call returns a new catalogue with its own copy of the shim; earlier
    catalogues and the simulations using them keep working. ``backend``
    (``"auto"``, ``"numba"`` or ``"python"``) applies to classes that do not
    set one themselves.

    ``verbose=True`` prints the build report (see :func:`build_report`) to
    stderr, and puts numba's full message into fallback warnings and errors
    (default: the environment variable ``ARBOR_PYCAT_VERBOSE``). A mechanism
    whose build takes longer than about a second is announced, with its time,
    on the ``arbor_pycat`` logger and, in interactive use (a terminal or a
    notebook) when logging is not configured, by a short line on stderr;
    ``progress=False`` (or ``ARBOR_PYCAT_PROGRESS=0``) silences the line,
    ``progress=True`` prints it even when not interactive.
    """
    try:
        catalogue, _ = build_with_report(*classes, backend=backend, verbose=verbose, progress=progress)
    except MechanismError as error:
        raise _for_user(error) from None        # the traceback ends at your code
    return catalogue


def build_with_report(*classes: type, backend: str = "auto", verbose: bool | None = None,
                      progress: bool | None = None) -> tuple[arbor.catalogue, BuildReport]:
    """:func:`build`, returning ``(catalogue, report)``: the :class:`BuildReport` of
    this very build, whatever other builds (other threads, a build run while a
    mechanism's module is imported) did meanwhile. :func:`compare` uses it.
    It also becomes :func:`build_report` and ``last_backends``, as with ``build()``.
    """
    from .bridge import check_map_budget
    from .compat import check_arbor
    check_arbor()
    check_map_budget()
    if verbose is None:
        verbose = _flag("ARBOR_PYCAT_VERBOSE", False)
    catalogue, report = _build(classes, backend, bool(verbose), progress)
    _publish(report)
    if verbose:
        print(report, file=sys.stderr)
    return catalogue, report


_publish_lock = threading.Lock()


def _publish(report):
    """Make ``report`` the most recent build's: :func:`build_report`, ``last_backends``."""
    global last_report
    with _publish_lock:
        last_report = report
        last_backends.clear()
        last_backends.update({m.name: m.backend for m in report.mechanisms})


def _build(classes, backend, verbose, progress):
    classes = classes or tuple(registered())
    specs = [spec_of(cls) for cls in classes]
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MechanismError(f"build(): two classes are named {duplicates[0]!r}; "
                             "names must be unique in a catalogue")
    shim = Shim(len(specs))
    report = BuildReport()
    for spec in specs:
        start = time.perf_counter()
        with _Progress(spec, _show_progress(progress)) as announce:
            compiled = compile_mechanism(spec, shim, backend, verbose=verbose)
            seconds = time.perf_counter() - start
            entry = MechanismReport.of(spec, compiled, seconds)
            announce.done(entry)
        shim.add(spec, compiled)
        report.mechanisms.append(entry)
    catalogue = shim.load()
    from .bridge import install_interrupt_handler
    install_interrupt_handler()
    return catalogue, report


@dataclass
class MechanismReport:
    """How one mechanism of a build was obtained.

    ``backend``: ``"numba"`` or ``"python"``; ``forms``: ``{method: "scalar" |
    "array" | "python"}`` (numba's element-wise loop, numba's array code, or
    Python); ``cache``: ``"compiled"`` (numba compiled it now), ``"disk"``
    (numba's cache from an earlier process), ``"memory"`` (built earlier in
    this process) or ``None`` (python backend); ``seconds``: the time it took;
    ``fallback``: why ``auto`` chose python, or None.
    """
    name: str
    class_name: str
    kind: str
    backend: str
    forms: dict[str, str]
    cache: str | None
    seconds: float                 # s
    fallback: str | None = None

    @classmethod
    def of(cls, spec, compiled, seconds: float) -> MechanismReport:
        forms = {m: compiled.forms.get(m, "python") for m in spec.methods}
        fallback = compiled.fallback
        return cls(spec.name, spec.cls.__qualname__, spec.kind, compiled.backend, forms,
                   compiled.cache, seconds, str(fallback) if fallback is not None else None)

    def __str__(self) -> str:
        forms = ", ".join(f"{m} {f}" for m, f in self.forms.items()) or "no methods"
        cache = {"compiled": "compiled now", "disk": "from the disk cache",
                 "memory": "built before in this process", None: "no compilation"}[self.cache]
        text = (f"{self.name} ({self.kind}, class {self.class_name}): {self.backend} backend, "
                f"{cache}, {self.seconds:.2f} s; {forms}")
        if self.fallback:
            text += f"\n    fell back to python: {self.fallback}"
        return text


@dataclass
class BuildReport:
    """What the most recent :func:`build` did, per mechanism (a list of
    :class:`MechanismReport` in ``mechanisms``; ``report["name"]`` finds one)."""
    mechanisms: list[MechanismReport] = field(default_factory=list)

    def __getitem__(self, name: str) -> MechanismReport:
        for entry in self.mechanisms:
            if entry.name == name:
                return entry
        raise KeyError(name)

    @property
    def seconds(self) -> float:
        """Total build time (s)."""
        return sum(m.seconds for m in self.mechanisms)

    def __str__(self) -> str:
        lines = [f"arbor_pycat build: {len(self.mechanisms)} mechanism(s) in {self.seconds:.2f} s"]
        lines += [f"  {m}" for m in self.mechanisms]
        return "\n".join(lines)


def build_report() -> BuildReport | None:
    """The :class:`BuildReport` of the most recent :func:`build` of this process (or None).

    With builds in several threads, "most recent" is whichever finished last;
    :func:`build_with_report` gives the report of one particular build.
    """
    return last_report


def _flag(name, default):
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in ("0", "false", "no", "off")


def _interactive():
    if hasattr(sys, "ps1") or "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _show_progress(progress):
    """Whether to print the short progress line on stderr (logging always gets it)."""
    if progress is not None:
        return bool(progress)
    if not _flag("ARBOR_PYCAT_PROGRESS", True):
        return False
    return _interactive() and not logger.hasHandlers()


class _Progress:
    """Announces a mechanism whose build is still running after PROGRESS_AFTER
    seconds, and then its time; says nothing for a fast (cached) build."""

    def __init__(self, spec, to_stderr):
        self.spec, self.to_stderr = spec, to_stderr
        self.announced = False
        self.lock = threading.Lock()
        self.timer = threading.Timer(PROGRESS_AFTER, self._announce)
        self.timer.daemon = True

    def __enter__(self):
        self.start = time.perf_counter()
        self.timer.start()
        return self

    def _announce(self):
        with self.lock:
            if self.announced is None:
                return
            self.announced = True
        text = f"building {self.spec.label}..."
        logger.info(text)
        self._print(text)

    def done(self, entry):
        self.timer.cancel()
        with self.lock:
            announced, self.announced = self.announced, None
        if not announced:
            logger.debug("%s", entry)
            return
        how = {"compiled": "compiled with numba", "disk": "loaded from the disk cache",
               "memory": "reused"}.get(entry.cache, f"built ({entry.backend} backend)")
        text = f"{self.spec.label}: {how} in {entry.seconds:.1f} s"
        if entry.cache == "compiled":
            text += " (cached for next time)"
        logger.info(text)
        self._print(text)

    def __exit__(self, kind, value, traceback):
        self.timer.cancel()
        with self.lock:
            announced, self.announced = self.announced, None
        if announced and kind is not None:
            text = f"{self.spec.label}: failed after {time.perf_counter() - self.start:.1f} s"
            logger.info(text)
            self._print(text)
        return False

    def _print(self, text):
        if self.to_stderr:
            try:
                print(f"arbor_pycat: {text}", file=sys.stderr, flush=True)
            except (OSError, ValueError, AttributeError):
                pass


# Kept for compatibility (README, "Backends"): {mechanism name: backend used} of
# the most recent build() in this process, updated in place; the same as
# build_report()'s backends. A program that runs builds in several threads
# should use the report that build_with_report() returns instead.
last_backends: dict[str, str] = {}
# Kept for compatibility: the BuildReport of the most recent build() (build_report()).
last_report: BuildReport | None = None
