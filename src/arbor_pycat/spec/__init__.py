"""From a user's class to a validated, immutable :class:`MechanismSpec`.

:mod:`.declarations` is what users write (:class:`CustomMechanism`,
:class:`IonInfo`); :mod:`.registry` registers classes; :mod:`.validate` checks a
class and makes its spec (:mod:`.model`), with the access analysis of
:mod:`.inspection` and, per method, the decode of every ``pp`` field
(:mod:`.fields`); :mod:`.kinds` says what each kind of mechanism may do.
"""
from .model import Declared, IonSpec, MechanismSpec, MethodSpec, RandomVariable  # noqa: F401
from .validate import BACKENDS, make_spec  # noqa: F401
