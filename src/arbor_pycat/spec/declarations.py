"""What users write: :class:`CustomMechanism` and :class:`IonInfo` (plain declarations;
:mod:`.registry` checks and registers them)."""
from dataclasses import dataclass


@dataclass
class IonInfo:
    """An ion the mechanism uses, with Arbor's ``arb_ion_info`` flags.

    Flags left ``None`` are inferred from what the methods read and write
    (``pp.cai`` read → ``read_int_concentration``, ``pp.eca`` assigned →
    ``write_rev_potential``, ...); an explicit flag wins.
    ``use_diff_concentration`` is never inferred.
    """
    name: str
    write_int_concentration: bool | None = None
    write_ext_concentration: bool | None = None
    read_int_concentration: bool | None = None
    read_ext_concentration: bool | None = None
    use_diff_concentration: bool | None = None
    write_rev_potential: bool | None = None
    read_rev_potential: bool | None = None
    read_valence: bool | None = None
    verify_valence: bool = False
    expected_valence: int | None = None


class CustomMechanism:
    """Base class of Python-defined Arbor mechanisms.

    Subclass it, set ``name`` (and ``kind``, ``state_vars``, ``parameters``,
    ``globals``, ``ions``, ``random``, ``backend``, ``linear`` as needed), define any of
    ``init_mechanism(self, pp)``, ``advance_state(self, pp)``,
    ``compute_currents(self, pp)``, ``write_ions(self, pp)``,
    ``apply_events(self, pp, events)``, ``post_event(self, pp)``, and
    decorate the class with :func:`arbor_pycat.register`.
    """
    name = None
    kind = "density"
    state_vars = ()
    parameters = ()
    globals = ()
    ions = ()
    random = ()
    backend = None
    linear = False     # True: Arbor may merge identical synapses (see README, "Declaring")
