"""What users write: :class:`CustomMechanism` and :class:`IonInfo` (plain declarations;
:mod:`.registry` checks and registers them)."""
from collections.abc import Sequence
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
    ``globals``, ``ions``, ``random``, ``backend``, ``linear``, ``assigned`` as needed), define any of
    ``init_mechanism(self, pp)``, ``advance_state(self, pp)``,
    ``compute_currents(self, pp)``, ``write_ions(self, pp)``,
    ``apply_events(self, pp, events)``, ``post_event(self, pp)``, and
    decorate the class with :func:`arbor_pycat.register`.
    """
    name: str | None = None
    kind: str = "density"      # "density", "point", "voltage", "reversal_potential", "junction"
    # (name, units, default) tuples, or bare names (units '', default 0); units as modcc writes them
    state_vars: Sequence[tuple[str, str, float] | str] = ()
    parameters: Sequence[tuple[str, str, float] | str] = ()
    globals: Sequence[tuple[str, str, float] | str] = ()
    ions: Sequence[IonInfo | str] = ()
    random: Sequence[tuple[str, int] | str] = ()     # (name, slot) or a name (slot: its position)
    backend: str | None = None  # "auto", "numba", "python"; None: build()'s backend=
    linear: bool = False     # True: Arbor may merge identical synapses (see README, "Declaring")
    # names among state_vars that are NMODL ASSIGNED variables, not STATE: a merged
    # synapse's multiplicity scales the others after init_mechanism, not these
    assigned: Sequence[str] = ()
