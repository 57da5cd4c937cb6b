"""From a user's mechanism class to a validated, immutable :class:`MechanismSpec`.

Everything about a class that can be checked without running it is checked
here, and every problem is a :class:`~arbor_pycat.MechanismError` naming the
class and the offending entry.
"""
import inspect
import keyword
import math
import unicodedata
import warnings

from ..errors import MechanismError
from . import fields as F
from . import kinds as K
from . import locations
from .declarations import IonInfo
from .inspection import analyse
from .kinds import BACKEND_CHOICES as BACKENDS
from .model import Declared, IonSpec, MechanismSpec, MethodSpec, RandomVariable


def _fail(cls, message, location=None):
    raise MechanismError(f"{cls.__qualname__}: {message}", location=location)


def _identifier(cls, what, name):
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        _fail(cls, f"{what} {name!r} is not a valid identifier")
    return name


def _field_name(cls, what, name):
    """A declared field name as ``pp.<name>`` spells it: Python normalises the
    identifiers of source code to NFKC ('tau_\u00b5' with the micro sign is
    'tau_\u03bc' with the Greek mu), so declared names are normalised the same way."""
    _identifier(cls, what, name)
    return unicodedata.normalize("NFKC", name)


def _declarations(cls, attribute, values):
    """Normalise ``[(name, units, default), ...]``; a bare name means ('name', '', 0)."""
    if values is None:
        return ()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        _fail(cls, f"{attribute} must be a list of (name, units, default) tuples, not {values!r}")
    out = []
    for entry in values:
        if isinstance(entry, str):
            entry = (entry, "", 0.0)
        if not isinstance(entry, (tuple, list)) or len(entry) != 3:
            _fail(cls, f"{attribute} entry {entry!r} must be a (name, units, default) tuple")
        name, units, default = entry
        name = _field_name(cls, f"{attribute} entry", name)
        if not isinstance(units, str):
            _fail(cls, f"{attribute} entry {name!r}: units must be a string, not {units!r}")
        if isinstance(default, complex):
            _fail(cls, f"{attribute} entry {name!r}: default {default!r} is not a real number")
        try:
            default = float(default)
        except (TypeError, ValueError):
            _fail(cls, f"{attribute} entry {name!r}: default {default!r} is not a number")
        if math.isnan(default):
            _fail(cls, f"{attribute} entry {name!r}: default is NaN (every instance would start "
                       "as NaN and the whole simulation would turn NaN); give a number")
        out.append(Declared(name, units, default))
    return tuple(out)


def _randoms(cls, values):
    out = []
    for position, entry in enumerate(values or ()):
        if isinstance(entry, str):
            entry = (entry, position)
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            _fail(cls, f"random entry {entry!r} must be a name or a (name, slot) tuple")
        name, slot = entry
        name = _field_name(cls, "random entry", name)
        if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
            _fail(cls, f"random entry {name!r}: slot {slot!r} must be a non-negative integer")
        out.append(RandomVariable(name, slot))
    slots = sorted(r.slot for r in out)
    if slots != list(range(len(out))):
        _fail(cls, f"random slots must be 0, 1, ..., {len(out) - 1} (got {slots})")
    return tuple(out)


def _methods(cls):
    out = {}
    for name in K.METHODS:
        function = getattr(cls, name, None)
        if function is None:
            continue
        if not callable(function):
            _fail(cls, f"{name} must be a method, not {function!r}")
        expected = ["self", "pp", "events"] if name == "apply_events" else ["self", "pp"]
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            _fail(cls, f"{name}: cannot read its signature")
        params = list(signature.parameters.values())
        _check_callable_kind(cls, name, function, params)
        required = [p for p in params if p.default is p.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
        if len(required) > len(expected) or (len(positional) < len(expected) and not varargs):
            _fail(cls, f"{name} must have the signature {name}({', '.join(expected)}), "
                       f"not {name}{signature}", locations.of_function(function, cls, name))
        out[name] = MethodSpec(name, function, analyse(function, owner=cls))
    return out


def _check_callable_kind(cls, name, function, params):
    """Refuse methods Arbor could call but that would not run as written."""
    plain = inspect.unwrap(function)
    if inspect.iscoroutinefunction(plain) or inspect.isasyncgenfunction(plain):
        _fail(cls, f"{name} is an 'async def' method: Arbor calls methods synchronously, so its "
                   "body would never run (the python backend only makes a coroutine); use 'def'")
    if inspect.isgeneratorfunction(plain):
        _fail(cls, f"{name} is a generator (it contains 'yield'): calling it only creates a "
                   "generator, so its body would never run; use 'return' instead of 'yield'")
    keyword_only = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if keyword_only:
        _fail(cls, f"{name} has the keyword-only argument{'s' if len(keyword_only) > 1 else ''} "
                   f"{', '.join(keyword_only)} without a default: Arbor passes only "
                   f"({'pp, events' if name == 'apply_events' else 'pp'}); give "
                   f"{'them' if len(keyword_only) > 1 else 'it'} a default or remove "
                   f"{'them' if len(keyword_only) > 1 else 'it'}")


def _check_instantiable(cls):
    """The python backend creates one instance, ``cls()``: it must be possible."""
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        _fail(cls, f"is an abstract class (abstract methods: {missing}), which cannot be "
                   "instantiated: register a concrete subclass that implements them")
    init = cls.__init__
    if init is object.__init__:
        return
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):
        return
    params = list(signature.parameters.values())[1:]   # after self
    required = [p.name for p in params if p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        _fail(cls, f"__init__ needs the argument{'s' if len(required) > 1 else ''} "
                   f"{', '.join(required)}, but arbor_pycat creates the mechanism object as "
                   f"{cls.__name__}() with none: give {'them' if len(required) > 1 else 'it'} "
                   "a default, or set values as class attributes")


_OPAQUE_WARNED = set()


def _ions(cls, declared, methods, state_names=frozenset()):
    if declared is None:
        return ()
    out = []
    names = set()
    reads = set().union(*(m.access.reads for m in methods.values())) if methods else set()
    writes = set().union(*(m.access.writes for m in methods.values())) if methods else set()
    opaque = [m for m in methods.values() if m.access.opaque]
    for entry in declared:
        if isinstance(entry, str):
            entry = IonInfo(entry)
        if not isinstance(entry, IonInfo):
            _fail(cls, f"ions entry {entry!r} must be an arbor_pycat.IonInfo or an ion name")
        n = _identifier(cls, "ion name", entry.name)
        if n in names:
            _fail(cls, f"ion {n!r} is declared twice")
        names.add(n)

        def flag(attribute, field_name, reading):
            explicit = getattr(entry, attribute)
            if explicit is not None:
                return bool(explicit)
            if field_name in state_names:     # a state shadows it: pp.ion_<field> is the ion's
                field_name = F.shadowed_name(field_name)
            seen = field_name in (reads if reading else writes)
            if opaque and reading:
                return True
            return seen

        spec = IonSpec(
            name=n,
            write_int_concentration=flag("write_int_concentration", n + "i", False),
            write_ext_concentration=flag("write_ext_concentration", n + "o", False),
            read_int_concentration=flag("read_int_concentration", n + "i", True),
            read_ext_concentration=flag("read_ext_concentration", n + "o", True),
            use_diff_concentration=bool(entry.use_diff_concentration),
            write_rev_potential=flag("write_rev_potential", "e" + n, False),
            read_rev_potential=flag("read_rev_potential", "e" + n, True),
            read_valence=flag("read_valence", n + "q", True),
            verify_valence=bool(entry.verify_valence),
            expected_valence=int(entry.expected_valence or 0),
        )
        if not spec.use_diff_concentration and (n + "d") in (reads | writes):
            user = next(m for m in methods.values() if (n + "d") in (m.access.reads | m.access.writes))
            _fail(cls, f"uses pp.{n}d but IonInfo({n!r}) does not set use_diff_concentration=True "
                       "(it is never assumed)", locations.for_method(cls, user, n + "d"))
        out.append(spec)
    if opaque:
        key = (cls.__module__, cls.__qualname__)
        if key not in _OPAQUE_WARNED and out:
            _OPAQUE_WARNED.add(key)
            why = "; ".join(f"{m.name}: {m.access.why_opaque}" for m in opaque)
            warnings.warn(f"{cls.__qualname__}: cannot see every pp access ({why}); ion reads are "
                          "assumed, ion writes must be declared in IonInfo", stacklevel=4)
    return tuple(out)


def make_spec(cls):
    """Validate ``cls`` and return its :class:`MechanismSpec` (raises MechanismError)."""
    name = getattr(cls, "name", None)
    if name is None:
        _fail(cls, "missing 'name' (a valid identifier, unique in a catalogue)")
    _identifier(cls, "name", name)
    kind = getattr(cls, "kind", "density")
    if kind not in K.KINDS:
        _fail(cls, f"unknown kind {kind!r}; expected one of {', '.join(K.KINDS)}")
    backend = getattr(cls, "backend", None)
    if backend is not None and backend not in BACKENDS:
        _fail(cls, f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    parameters = _declarations(cls, "parameters", getattr(cls, "parameters", ()))
    state_vars = _declarations(cls, "state_vars", getattr(cls, "state_vars", ()))
    globals_ = _declarations(cls, "globals", getattr(cls, "globals", ()))
    random = _randoms(cls, getattr(cls, "random", ()))
    methods = _methods(cls)
    _check_instantiable(cls)
    ions = _ions(cls, getattr(cls, "ions", ()), methods, frozenset(s.name for s in state_vars))

    reserved = F.static_field_names()
    shadowable = {}     # concentrations a state variable may shadow: those the mechanism writes
    for ion in ions:
        reserved |= set(F.ion_field_names(ion.name))
        reserved |= {F.shadowed_name(n) for n in F.concentration_field_names(ion.name)}
        for n, writes in zip(F.concentration_field_names(ion.name),
                             (ion.write_int_concentration, ion.write_ext_concentration,
                              ion.use_diff_concentration)):
            shadowable[n] = (ion.name, writes)
    ion_names = {ion.name for ion in ions}
    seen = {}
    for what, entries in (("parameters", parameters), ("state_vars", state_vars),
                          ("globals", globals_), ("random", random)):
        for entry in entries:
            if what == "state_vars" and entry.name in shadowable:
                ion_name, writes = shadowable[entry.name]
                if not writes:
                    _fail(cls, f"state_vars entry {entry.name!r} has the name of a concentration of ion "
                               f"{ion_name!r} that the mechanism does not write: a state may take the "
                               f"name of a concentration it writes (IonInfo({ion_name!r}, write_..."
                               f"_concentration=True)), as NMODL's STATE {{ {entry.name} }} with "
                               f"USEION {ion_name} WRITE {entry.name}")
            elif entry.name in reserved:
                _fail(cls, f"{what} entry {entry.name!r} is a reserved pp field name")
            if what == "globals" and entry.name in ion_names:
                _fail(cls, f"globals entry {entry.name!r} has the name of an ion the mechanism uses: "
                           f"Arbor reads '{name}/{entry.name}=...' as a renaming of that ion, so the "
                           "global could never be set")
            if entry.name in seen:
                _fail(cls, f"{what} entry {entry.name!r} is already declared in {seen[entry.name]}")
            seen[entry.name] = what
    if kind == "junction" and ions:
        _fail(cls, "junction mechanisms cannot use ions")
    # A method Arbor never calls for this kind would be silently ignored.
    ignored = sorted(set(methods) & K.NEVER_CALLED.get(kind, set()))
    if ignored:
        _fail(cls, f"defines {', '.join(ignored)}, which Arbor never calls on a {kind} mechanism "
                   f"({K.NEVER_CALLED_WHY[kind]})",
              locations.of_function(methods[ignored[0]].function, cls, ignored[0]))
    linear = getattr(cls, "linear", False)
    if not isinstance(linear, bool):
        _fail(cls, f"linear must be True or False, not {linear!r}")
    assigned = getattr(cls, "assigned", ())
    if isinstance(assigned, str) or not isinstance(assigned, (list, tuple)) \
            or not all(isinstance(a, str) for a in assigned):
        _fail(cls, f"assigned must be a list of state_vars names, not {assigned!r}")
    unknown = sorted(set(assigned) - {s.name for s in state_vars})
    if unknown:
        _fail(cls, f"assigned names {', '.join(map(repr, unknown))}, which state_vars does not declare")
    spec = MechanismSpec(cls, name, kind, parameters, state_vars, globals_, ions, random, backend, methods,
                         linear, tuple(assigned))
    spec.fields.update(F.decode_all(spec))
    _check_accesses(spec)
    return spec


def _check_accesses(spec):
    """Catch reads of missing fields and forbidden writes before anything runs."""
    cls = spec.cls
    rev_writes = [f"e{ion.name}" for ion in spec.ions if ion.write_rev_potential]
    for method in spec.methods.values():
        plans = spec.fields[method.name]
        for name in sorted(method.access.reads | method.access.writes):
            if name not in plans:
                hint = locations.suggestion(name, plans)
                _fail(cls, f"{method.name} uses pp.{name}, which is not a field here: "
                           + _why_missing(spec, method.name, name) + (f"; {hint}" if hint else ""),
                      locations.for_method(spec, method, name))
        for name in sorted(method.access.writes):
            if plans[name].write is None:
                _fail(cls, f"{method.name} writes pp.{name}, which is read-only here: "
                           + _why_readonly(spec, method.name, name),
                      locations.for_method(spec, method, name, store=True))
    if rev_writes:
        if spec.kind != "reversal_potential":
            writer = next((m for m in spec.methods.values() if set(rev_writes) & m.access.writes), None)
            _fail(cls, f"writes the reversal potential {', '.join(rev_writes)}: such a mechanism must "
                       "have kind='reversal_potential' (attach it with set_ion(..., method=...))",
                  None if writer is None else locations.for_method(
                      spec, writer, sorted(set(rev_writes) & writer.access.writes)[0], store=True))
        others = {"i", "conductance"}
        for ion in spec.ions:
            others |= {"i" + ion.name, ion.name + "i", ion.name + "o", ion.name + "d"}
        for method in spec.methods.values():
            bad = sorted(method.access.writes & others)
            if bad:
                _fail(cls, f"{method.name} writes pp.{bad[0]}: a mechanism that writes a reversal "
                           "potential cannot write currents or concentrations (Arbor's rule)",
                      locations.for_method(spec, method, bad[0], store=True))
    elif spec.kind == "reversal_potential" and spec.ions and not any(
            ion.write_rev_potential for ion in spec.ions):
        _fail(cls, "kind='reversal_potential' but it writes no reversal potential "
                   "(assign pp.e<ion> or set IonInfo(..., write_rev_potential=True))")


def _why_missing(spec, method, name):
    ions = [ion.name for ion in spec.ions]
    for ion in ions:
        if name in F.ion_field_names(ion):
            if name == ion + "d":
                return f"IonInfo({ion!r}) needs use_diff_concentration=True"
            return f"IonInfo({ion!r}) does not declare it is read or written"
    for candidate in ("i", "e"):
        if name.startswith(candidate) and len(name) > 1 and name[1:].isidentifier():
            return f"no ion {name[1:]!r} is declared (ions: {', '.join(ions) or 'none'})"
    for suffix in "ioqd":
        if name.endswith(suffix) and len(name) > 1:
            return f"no ion {name[:-1]!r} is declared (ions: {', '.join(ions) or 'none'})"
    if name in ("i", "conductance"):
        if spec.kind not in K.CURRENT_KINDS:
            return f"a {spec.kind} mechanism has no current"
        return "currents exist only in compute_currents"
    if name == "peer_v":
        return "only junction mechanisms have a peer"
    if name == "time_since_spike":
        return "it exists only in post_event"
    return "not a declared parameter, state variable, global, random variable or ion field"


def _why_readonly(spec, method, name):
    if name == "v":
        return ("v may be written only in init_mechanism, or by a kind='voltage' mechanism")
    for ion in spec.ions:
        if name in F.ion_field_names(ion.name):
            return f"IonInfo({ion.name!r}) does not declare it writes {name}"
    return "it is an input"

