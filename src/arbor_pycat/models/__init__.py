"""Python ports of Arbor's built-in mechanisms, one module per mechanism.

Nothing here is registered: build the ones you want explicitly::

    from arbor_pycat import models
    cat = arbor_pycat.build(models.HH, models.ExpSyn)

Each class has a name distinct from Arbor's (``py_hh`` for ``hh``, ...), so a
port and its compiled twin can sit in one catalogue. :data:`REFERENCES`
maps each class to ``(catalogue, name)`` of that twin, for
:func:`arbor_pycat.compare`.
"""
from .decay import Decay
from .exp2syn import Exp2Syn
from .expsyn import ExpSyn
from .expsyn_stdp import ExpSynSTDP
from .gj import GapJunction
from .hh import HH
from .nernst import Nernst
from .ou_input import OUInput
from .pas import Pas
from .v_clamp import VClamp
from .v_limit import VLimit

# class -> (name of the arbor function returning the twin's catalogue, twin's name)
REFERENCES = {
    HH: ("default_catalogue", "hh"),
    Pas: ("default_catalogue", "pas"),
    ExpSyn: ("default_catalogue", "expsyn"),
    Exp2Syn: ("default_catalogue", "exp2syn"),
    ExpSynSTDP: ("default_catalogue", "expsyn_stdp"),
    Nernst: ("default_catalogue", "nernst"),
    Decay: ("default_catalogue", "decay"),
    GapJunction: ("default_catalogue", "gj"),
    VClamp: ("default_catalogue", "v_clamp"),
    VLimit: ("default_catalogue", "v_limit"),
    OUInput: ("stochastic_catalogue", "ou_input"),
}

ALL = tuple(REFERENCES)


def reference(cls):
    """``(catalogue, name)`` of the compiled Arbor mechanism ``cls`` ports."""
    import arbor
    factory, name = REFERENCES[cls]
    return getattr(arbor, factory)(), name


__all__ = ["HH", "Pas", "ExpSyn", "Exp2Syn", "ExpSynSTDP", "Nernst", "Decay", "GapJunction",
           "VClamp", "VLimit", "OUInput", "REFERENCES", "ALL", "reference"]
