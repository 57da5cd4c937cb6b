"""The backend contract: what every backend returns, and how it says it cannot compile.

A backend is a module with ``compile(spec, shim) -> CompiledMechanism``,
listed in :mod:`.registry`. It reads the spec's field decode
(:mod:`arbor_pycat.spec.fields`) and nothing else about Arbor's arrays.
"""
from dataclasses import dataclass, field
from typing import Callable, Union

# What the shim calls for one method: the address of a C function
# ``int64 f(arb_mechanism_ppack*, arb_deliverable_event_stream*, uint64 layout_flags)``
# or a Python callable ``f(ppack address, events address, fingerprint) -> int``.
# Both return 0, or a status (see arbor_pycat.abi.contract).
Callback = Union[int, Callable[[int, int, int], int]]


class CannotCompile(Exception):
    """The numba backend cannot compile a method; the message says which and why.

    ``method``: the method's name; ``lineno``: the line of the user's file the
    reason is about, when known; ``detail``: numba's full message, if any.
    """

    def __init__(self, message, *, method=None, lineno=None, detail=None):
        super().__init__(message)
        self.method, self.lineno, self.detail = method, lineno, detail


@dataclass
class CompiledMechanism:
    """What a backend's ``compile`` returns.

    ``callbacks``: ``{method name: Callback}``, one per method the class defines;
    ``messages``: ``{code: text}``, what the shim throws for a status carrying that
    code; ``forms``: ``{method: "scalar" | "array" | "python"}``; ``cache``:
    ``"compiled"``, ``"disk"``, ``"memory"`` or None (nothing compiled);
    ``keep``: other objects that must live as long as the callbacks (the python
    backend's instance); ``module``: the generated module (numba), which holds
    the compiled code, or the native library it was loaded from (see
    ``backends/numba/native.py``); ``fallback``: why
    ``auto`` chose the python backend, or None; ``seconds``: the time it took;
    ``formatter``: what makes the text of a computed raise message from the
    numbers compiled code records (numba, see ``backends/numba/messages.py``).
    """
    backend: str
    spec: object
    callbacks: dict
    messages: dict = field(default_factory=dict)
    forms: dict = field(default_factory=dict)
    cache: str | None = None
    keep: tuple = ()
    module: object = None
    fallback: CannotCompile | None = None
    seconds: float = 0.0
    formatter: object = None

    @property
    def modes(self):
        """``forms`` of the compiled methods (compatibility name)."""
        return {m: f for m, f in self.forms.items() if f != "python"}


# Set by the python backend when a method's KeyboardInterrupt stopped a run; read
# (and cleared) by the bridge's Ctrl-C handler once sim.run() has returned.
interrupted_in_python = [False]
