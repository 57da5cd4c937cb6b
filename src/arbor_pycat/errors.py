"""Exceptions raised by arbor_pycat."""


class MechanismError(ValueError):
    """A mechanism class is malformed, or a mechanism used ``pp`` wrongly.

    Messages name the mechanism class and the offending field or method.
    """


class MechanismRuntimeError(RuntimeError):
    """A mechanism method failed while Arbor was running it.

    Arbor turns the failure into its own ``RuntimeError`` inside ``sim.run()``;
    its message carries this error's text (mechanism, method, the original
    exception and its traceback). The last such error of the process, with the
    original exception as ``__cause__``, is kept in :func:`last_error`.
    """


_last_error = None


def last_error():
    """The most recent :class:`MechanismRuntimeError` of this process, or None.

    Its ``__cause__`` is the exception the mechanism method raised, with its
    traceback intact.
    """
    return _last_error


def _remember(error):
    global _last_error
    _last_error = error
