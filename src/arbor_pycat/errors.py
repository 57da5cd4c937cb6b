"""Exceptions raised by arbor_pycat."""


class MechanismError(ValueError):
    """A mechanism class is malformed, or a mechanism used ``pp`` wrongly.

    Messages name the mechanism class and the offending field or method; for a
    method, they end with the file, line and text of the offending expression
    (``location``, a :class:`arbor_pycat.locations.Location`, also gives them as
    ``filename`` and ``lineno``). Raised by ``register`` and ``build()``, the
    error's traceback stops at your code; the same error with arbor_pycat's own
    frames is kept as its ``__context__``.
    """

    def __init__(self, message: str, *, location=None):
        super().__init__(f"{message}\n{location}" if location is not None else message)
        self.location = location

    @property
    def filename(self) -> str | None:
        return self.location.filename if self.location is not None else None

    @property
    def lineno(self) -> int | None:
        return self.location.lineno if self.location is not None else None


def _for_user(error):
    """A copy of ``error`` to raise ``from None`` in an ``except`` block of a public
    function: its traceback then ends there, and ``__context__`` keeps the
    original with arbor_pycat's frames."""
    import copy
    clean = copy.copy(error)
    clean.__traceback__ = None
    return clean


class MechanismRuntimeError(RuntimeError):
    """A mechanism method failed while Arbor was running it.

    Arbor turns the failure into its own ``RuntimeError`` inside ``sim.run()``;
    its message carries this error's text (mechanism, method, the original
    exception and its traceback). The last such error of the process, with the
    original exception as ``__cause__``, is kept in :func:`last_error`.
    """


MechanismError.__module__ = MechanismRuntimeError.__module__ = "arbor_pycat"   # as users import them


_last_error = None       # (time.monotonic_ns(), error) from the python backend
_native_errors = {}      # (time, message) -> error, so that last_error() returns one object per failure
_failure_sources = []    # functions returning [(time, message)] of compiled code's failures


def add_failure_source(source):
    """Let :func:`last_error` ask ``source()`` for failures of compiled code: a list of
    (time.monotonic_ns(), message). The bridge adds the loaded shims' records."""
    if source not in _failure_sources:
        _failure_sources.append(source)


def last_error() -> MechanismRuntimeError | None:
    """The most recent :class:`MechanismRuntimeError` of this process, or None.

    For the python backend, its ``__cause__`` is the exception the mechanism
    method raised, with its traceback intact. For compiled (numba) code it
    carries the message only (mechanism, method, field, shapes), and no cause.
    """
    candidates = [_last_error] if _last_error is not None else []
    failures = [failure for source in _failure_sources for failure in source()]
    for when, message in failures:
        if (when, message) not in _native_errors:
            if len(_native_errors) > 64:
                _native_errors.clear()
            _native_errors[(when, message)] = MechanismRuntimeError(message)
        candidates.append((when, _native_errors[(when, message)]))
    return max(candidates, key=lambda candidate: candidate[0])[1] if candidates else None


def _remember(error):
    import time
    global _last_error
    _last_error = (time.monotonic_ns(), error)
