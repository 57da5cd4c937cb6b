"""arbor_pycat: Arbor mechanisms written in Python.

Write a subclass of :class:`CustomMechanism`, decorate it with
:func:`register`, and :func:`build` an ``arbor.catalogue`` from it::

    @arbor_pycat.register
    class Leak(arbor_pycat.CustomMechanism):
        name = "leak"
        parameters = [("g", "S/cm2", 1e-4), ("e", "mV", -65.0)]

        def compute_currents(self, pp):
            pp.i = pp.g * (pp.v - pp.e)

    cat = arbor_pycat.build()
"""
from . import comparison
from .builder import build, build_report
from .comparison import Comparison, compare
from .compat import SUPPORTED_TEXT as SUPPORTED_ARBOR, UnsupportedArborError
from .declarations import CustomMechanism, IonInfo, register
from .errors import MechanismError, MechanismRuntimeError, last_error
from .helpers import cnexp, cnexp_linear, exprelr
from .properties import cable_properties, extend


__version__ = "0.1.0"
__all__ = ["CustomMechanism", "IonInfo", "register", "build", "build_report", "compare", "Comparison",
           "cable_properties", "extend", "cnexp", "cnexp_linear", "exprelr",
           "MechanismError", "MechanismRuntimeError", "UnsupportedArborError", "last_error",
           "SUPPORTED_ARBOR"]
