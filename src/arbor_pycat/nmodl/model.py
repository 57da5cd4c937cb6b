"""The meaning of a parsed NMODL file: what each name is, the kind, the ions.

modcc's rules: a ``PARAMETER`` listed in ``RANGE`` is a per-instance
parameter, any other ``PARAMETER`` (and anything in ``GLOBAL``) a global;
``STATE`` and ``ASSIGNED`` variables are per-instance state; ``celsius``,
``v``, ``area``, ``diam`` and ``dt`` are the simulator's; ion variables come
from ``USEION``.
"""
import keyword
from dataclasses import dataclass, field

from ..spec import fields as F
from . import symbolic as Y
from . import syntax as S
from .errors import NmodlError

# NMODL's own variables -> pp field
BUILTINS = {"v": "v", "celsius": "temperature", "area": "area", "diam": "diam", "dt": "dt",
            "v_peer": "peer_v"}
KINDS = {"SUFFIX": "density", "POINT_PROCESS": "point", "JUNCTION_PROCESS": "junction",
         "VOLTAGE_PROCESS": "voltage"}


@dataclass
class Ion:
    name: str
    read: set
    write: set
    valence_name: str | None
    valence: int | None
    line: int

    def flags(self):
        # as modcc fills arb_ion_info: a READ flag for what is read (for the reversal potential
        # also for what is written), a WRITE flag for what is written
        n = self.name
        used = self.read | self.write
        out = {
            "write_int_concentration": n + "i" in self.write,
            "write_ext_concentration": n + "o" in self.write,
            "read_int_concentration": n + "i" in self.read,
            "read_ext_concentration": n + "o" in self.read,
            "write_rev_potential": "e" + n in self.write,
            "read_rev_potential": "e" + n in used,
            "read_valence": self.valence_name is not None,
        }
        if n + "d" in used:
            out["use_diff_concentration"] = True
        if self.valence is not None:
            out["verify_valence"] = True
            out["expected_valence"] = self.valence
        return out


@dataclass
class Declared:
    name: str
    units: str
    default: float
    line: int


@dataclass
class Mechanism:
    module: S.Module
    name: str
    kind: str
    parameters: list = field(default_factory=list)
    globals: list = field(default_factory=list)
    states: list = field(default_factory=list)     # STATE then ASSIGNED
    constants: dict = field(default_factory=dict)  # name -> value
    ions: list = field(default_factory=list)
    ion_vars: dict = field(default_factory=dict)   # NMODL name -> (ion, pp field)
    currents: dict = field(default_factory=dict)   # NMODL name -> ion name or None (non-specific)
    electrode: set = field(default_factory=set)    # currents that are ELECTRODE_CURRENTs
    shadowed: dict = field(default_factory=dict)   # state name -> ion whose concentration it is
    random: list = field(default_factory=list)
    state_names: set = field(default_factory=set)  # the STATE block

    @property
    def filename(self):
        return self.module.filename

    def error(self, message, line=None):
        raise NmodlError(message, self.filename, line)

    def category(self, name):
        """What an NMODL name is here: builtin, param, global, state, ion, current, const, random, or None."""
        if name in self.currents:
            return "current"
        if name in self.shadowed:
            return "state"
        if name in self.ion_vars:
            return "ion"
        if name in BUILTINS:
            return "builtin"
        for what, entries in (("param", self.parameters), ("global", self.globals), ("state", self.states)):
            if any(e.name == name for e in entries):
                return what
        if name in self.constants:
            return "const"
        if name in self.random:
            return "random"
        return None

    def field(self, name):
        """The pp field name of an outer NMODL name."""
        if name in BUILTINS:
            return BUILTINS[name]
        if name in self.ion_vars and name not in self.shadowed:
            return self.ion_vars[name][1]
        return name


def _valence(use, filename):
    if use.valence is None:
        return None, None
    if isinstance(use.valence, str):
        return use.valence, None
    if not float(use.valence).is_integer():
        raise NmodlError(f"USEION {use.ion} VALENCE {use.valence}: the valence must be an integer",
                         filename, use.line)
    return None, int(use.valence)


def analyse(module):
    """The :class:`Mechanism` of a parsed module (raises NmodlError for what cannot be imported)."""
    n = module.neuron
    kind = KINDS[n.kind]
    mech = Mechanism(module, n.name, kind)
    err = mech.error
    if not n.name.isidentifier() or keyword.iskeyword(n.name):
        err(f"mechanism name {n.name!r} is not a valid identifier", n.line)

    # ions
    for use in n.ions:
        vname, valence = _valence(use, module.filename)
        ion = Ion(use.ion, set(use.read), set(use.write), vname, valence, use.line)
        mech.ions.append(ion)
        patterns = {"e" + ion.name: "e" + ion.name, ion.name + "i": ion.name + "i",
                    ion.name + "o": ion.name + "o", ion.name + "d": ion.name + "d",
                    "i" + ion.name: "i" + ion.name}
        for var in ion.read | ion.write:
            if var not in patterns:
                err(f"USEION {ion.name}: {var!r} is not a variable of ion {ion.name} "
                    f"(expected one of {', '.join(patterns)})", use.line)
            mech.ion_vars[var] = (ion.name, patterns[var])
        if vname:
            mech.ion_vars[vname] = (ion.name, ion.name + "q")
        if "i" + ion.name in ion.write:
            mech.currents["i" + ion.name] = ion.name
        if "e" + ion.name in ion.write:
            if kind != "density":
                err(f"writes the reversal potential e{ion.name}: only a SUFFIX mechanism can", use.line)
            kind = mech.kind = "reversal_potential"
    for c in n.nonspecific:
        mech.currents[c] = None
    for c in n.electrode_current:
        mech.currents[c] = None
        mech.electrode.add(c)
    if kind == "junction" and mech.ions:
        err("a JUNCTION_PROCESS cannot use ions (Arbor's rule)", n.line)

    # constants
    for c in module.constants:
        if c.default is None:
            err(f"CONSTANT {c.name} has no value", c.line)
        mech.constants[c.name] = c.default
    if "FARADAY" not in mech.constants and _uses(module, "FARADAY"):
        mech.constants["FARADAY"] = 96485.3321233100184
        module.notes.append((0, "FARADAY: the Faraday constant, 96485.3321233100184 C/mol"))

    ranges = set(n.range)
    seen = {}

    def claim(decl, what):
        if decl.name in seen:
            err(f"{what} {decl.name} is already declared in {seen[decl.name]}", decl.line)
        seen[decl.name] = what
        if keyword.iskeyword(decl.name):
            err(f"{what} {decl.name!r} is a Python keyword: rename it", decl.line)
        reserved = F.static_field_names() - {"v", "area", "diam"}
        if decl.name in reserved:
            err(f"{what} {decl.name!r} has the name of an arbor_pycat pp field "
                f"({', '.join(sorted(reserved))}): rename it", decl.line)

    def simulator(decl):
        return decl.name in BUILTINS or decl.name in mech.ion_vars or decl.name in mech.currents

    for p in module.parameters:
        if simulator(p):
            continue
        claim(p, "PARAMETER")
        d = Declared(p.name, p.units, 0.0 if p.default is None else p.default, p.line)
        if p.name in ranges and p.name not in n.globals:
            mech.parameters.append(d)
        else:
            mech.globals.append(d)
    for s in module.states:
        if s.name in mech.ion_vars:
            ion, fld = mech.ion_vars[s.name]
            if fld not in F.concentration_field_names(ion) or s.name not in next(
                    i for i in mech.ions if i.name == ion).write:
                err(f"STATE {s.name}: a state may have the name of an ion concentration only if the "
                    f"mechanism writes it (USEION {ion} WRITE {s.name})", s.line)
            mech.shadowed[s.name] = ion
        elif s.name in BUILTINS or s.name in mech.currents:
            err(f"STATE {s.name}: {s.name} is not a state variable", s.line)
        claim(s, "STATE")
        mech.states.append(Declared(s.name, s.units, 0.0 if s.default is None else s.default, s.line))
        mech.state_names.add(s.name)
    for a in module.assigned:
        if simulator(a):
            continue
        claim(a, "ASSIGNED")
        mech.states.append(Declared(a.name, a.units, 0.0 if a.default is None else a.default, a.line))
    for w in module.white_noise:
        claim(w, "WHITE_NOISE")
        mech.random.append(w.name)
    per_instance = []
    for g in n.globals:
        if g not in seen and g not in BUILTINS:
            err(f"GLOBAL {g} is not declared in a PARAMETER or ASSIGNED block", n.line)
        if seen.get(g) == "STATE":
            err(f"GLOBAL {g} is a STATE variable: Arbor has no global state; make it RANGE", n.line)
        if seen.get(g) == "ASSIGNED":
            per_instance.append(g)
    if per_instance:
        module.notes.append((n.line, f"GLOBAL {', '.join(per_instance)} (ASSIGNED): kept per instance, "
                                     "as Arbor has no global state; the same values where each instance "
                                     "sets them before reading them (as a rates() PROCEDURE does)"))
    return mech


def _uses(module, name):
    def in_body(body):
        for st in body:
            for e in _exprs(st):
                if name in Y.names(e):
                    return True
            for sub in _children(st):
                if in_body(sub):
                    return True
        return False
    procs = [module.initial, module.breakpoint, module.net_receive, module.post_event,
             *module.blocks.values(), *module.functions.values()]
    return any(p is not None and in_body(p.body) for p in procs)


def _exprs(st):
    if isinstance(st, (S.Assign, S.DerivAssign)):
        return [st.value]
    if isinstance(st, S.If):
        return [st.cond]
    if isinstance(st, S.CallStmt):
        return [st.call]
    if isinstance(st, S.Reaction):
        return [e for e in (st.forward, st.backward) if e is not None]
    if isinstance(st, (S.Conserve, S.LinearEq)):
        return [st.lhs, st.rhs]
    return []


def _children(st):
    if isinstance(st, S.If):
        return [st.then, st.orelse]
    return []


def assigned_names(body, call_writes=None):
    """NMODL names the statements assign, in order (``call_writes``: PROCEDURE -> what it assigns)."""
    call_writes = call_writes or {}
    out = []
    for st in body:
        if isinstance(st, S.Assign):
            names = [st.target]
        elif isinstance(st, S.CallStmt):
            names = list(call_writes.get(st.call.func, ()))
        else:
            names = []
            for child in _children(st):
                names += assigned_names(child, call_writes)
        for n in names:
            if n not in out:
                out.append(n)
    return out
