"""The spec of a mechanism: immutable records of what a class declares and does."""
from dataclasses import dataclass, field

from .inspection import MethodAccess
from .kinds import CURRENT_KINDS


@dataclass(frozen=True)
class Declared:
    """A declared parameter, state variable or global: name, units, default."""
    name: str
    units: str
    default: float


@dataclass(frozen=True)
class RandomVariable:
    name: str
    slot: int


@dataclass(frozen=True)
class IonSpec:
    """An ion dependency with every flag resolved (mirrors ``arb_ion_info``)."""
    name: str
    write_int_concentration: bool
    write_ext_concentration: bool
    read_int_concentration: bool
    read_ext_concentration: bool
    use_diff_concentration: bool
    write_rev_potential: bool
    read_rev_potential: bool
    read_valence: bool
    verify_valence: bool
    expected_valence: int


@dataclass(frozen=True)
class MethodSpec:
    name: str
    function: object
    access: MethodAccess


@dataclass(frozen=True)
class MechanismSpec:
    """Everything arbor_pycat needs to know about a mechanism class."""
    cls: type
    name: str
    kind: str
    parameters: tuple
    state_vars: tuple
    globals: tuple
    ions: tuple
    random: tuple
    backend: str | None
    methods: dict = field(hash=False)
    linear: bool = False      # Arbor may coalesce identical point mechanisms (NMODL's linear flag)
    assigned: tuple = ()      # state_vars names that are NMODL ASSIGNED (not scaled by multiplicity)
    # {method: {name: FieldDecode}} for every interface method (spec.fields), made by make_spec
    fields: dict = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def label(self):
        """How messages name the mechanism: ``'custom_hh' (class HH)``."""
        return f"mechanism '{self.name}' (class {self.cls.__qualname__})"

    @property
    def scaled_states(self):
        """Indices of the state_vars that a merged synapse's multiplicity scales after
        init_mechanism: NMODL's STATE variables, not the ASSIGNED ones (as modcc)."""
        return tuple(k for k, s in enumerate(self.state_vars) if s.name not in self.assigned)

    @property
    def has_post_events(self):
        return "post_event" in self.methods

    def writes(self, method, name):
        m = self.methods.get(method)
        return m is not None and name in m.access.writes

    def needs_numeric_conductance(self):
        """True when compute_currents writes (or reads) a current but neither writes nor
        reads ``pp.conductance``."""
        m = self.methods.get("compute_currents")
        if m is None or self.kind not in CURRENT_KINDS:
            return False
        if m.access.opaque:
            return "conductance" not in m.access.writes
        currents = {"i"} | {"i" + ion.name for ion in self.ions}
        # a current read may be written through the name it was read into (i = pp.i;
        # i += ...); the conductance likewise
        touched = m.access.writes | m.access.reads
        return bool(touched & currents) and "conductance" not in touched
