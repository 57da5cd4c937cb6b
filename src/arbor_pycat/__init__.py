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
import importlib as _importlib
import importlib.abc as _importlib_abc
import importlib.util as _importlib_util
import sys as _sys

from ._version import __version__
from .builder import build, build_report
from .compat import SUPPORTED_TEXT as SUPPORTED_ARBOR, UnsupportedArborError
from .errors import MechanismError, MechanismRuntimeError, last_error
from .helpers import cnexp, cnexp_linear, exprelr
from .spec.registry import CustomMechanism, IonInfo, register
from .tools.comparison import Comparison, compare
from .tools.properties import cable_properties, extend

# Modules users import by their earlier names (arbor_pycat.comparison, .recipe,
# .declarations, ...): imported, when first asked for, as the modules they now are.
_MOVED = {"comparison": "tools.comparison", "recipe": "tools.recipe", "properties": "tools.properties",
          "demo": "tools.demo", "info": "tools.info", "declarations": "spec.registry"}


class _MovedModules(_importlib_abc.MetaPathFinder, _importlib_abc.Loader):
    names = {f"{__name__}.{old}": f"{__name__}.{new}" for old, new in _MOVED.items()}

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.names:
            return _importlib_util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = _importlib.import_module(self.names[spec.name])
        spec.loader_state = module.__spec__      # the module's own, put back in exec_module
        return module

    def exec_module(self, module):
        if module.__spec__.loader_state is not None:
            module.__spec__ = module.__spec__.loader_state

    def get_code(self, fullname):
        """For ``python -m arbor_pycat.demo``: run the moved module as ``__main__``."""
        return compile(f"import runpy\nrunpy.run_module({self.names[fullname]!r}, run_name='__main__', "
                       "alter_sys=True)\n", f"<{fullname}>", "exec")


if not any(type(finder).__name__ == "_MovedModules" for finder in _sys.meta_path):
    _sys.meta_path.append(_MovedModules())


def __getattr__(name):
    """``arbor_pycat.comparison`` and the other earlier module names, as attributes."""
    if name in _MOVED:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["CustomMechanism", "IonInfo", "register", "build", "build_report", "compare", "Comparison",
           "cable_properties", "extend", "cnexp", "cnexp_linear", "exprelr",
           "MechanismError", "MechanismRuntimeError", "UnsupportedArborError", "last_error",
           "SUPPORTED_ARBOR"]
