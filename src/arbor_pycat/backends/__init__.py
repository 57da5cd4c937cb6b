"""Backends turn a :class:`~arbor_pycat.spec.MechanismSpec` into callbacks for the shim.

:mod:`.base` is the contract (:class:`~.base.CompiledMechanism`,
:class:`~.base.CannotCompile`), :mod:`.registry` lists the backends,
:mod:`.select` chooses one (``auto``: numba, falling back to python).
``python/`` calls the methods through Python with numpy views; ``numba/``
compiles them to native code.
"""
from .base import CannotCompile, CompiledMechanism  # noqa: F401
from .select import compile_mechanism  # noqa: F401
