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
import sys as _sys

from ._version import __version__
from .builder import build, build_report
from .compat import SUPPORTED_TEXT as SUPPORTED_ARBOR, UnsupportedArborError
from .errors import MechanismError, MechanismRuntimeError, last_error
from .helpers import cnexp, cnexp_linear, exprelr
from .spec.registry import CustomMechanism, IonInfo, register
from .tools import comparison, properties, recipe
from .tools.comparison import Comparison, compare
from .tools.properties import cable_properties, extend

# Modules users import by their earlier names: arbor_pycat.comparison, .recipe,
# .declarations, .demo, .info, .properties stay importable.
for _old, _new in {"comparison": "tools.comparison", "recipe": "tools.recipe",
                   "properties": "tools.properties", "demo": "tools.demo", "info": "tools.info",
                   "declarations": "spec.registry"}.items():
    _module = __import__(f"{__name__}.{_new}", fromlist=["_"])
    _sys.modules.setdefault(f"{__name__}.{_old}", _module)
    globals().setdefault(_old, _module)
del _old, _new, _module

__all__ = ["CustomMechanism", "IonInfo", "register", "build", "build_report", "compare", "Comparison",
           "cable_properties", "extend", "cnexp", "cnexp_linear", "exprelr",
           "MechanismError", "MechanismRuntimeError", "UnsupportedArborError", "last_error",
           "SUPPORTED_ARBOR"]
