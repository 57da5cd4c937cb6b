"""The decode of every ``pp`` field: one record per field and method, made once per spec.

Like modcc's ``decode_indexed_variable``, a :class:`FieldDecode` says all
that the backends need to know about a field, as properties: which Arbor
array it is (``table``, ``slot``, ``array``, ``ion``), through which index
per-instance values are read (:class:`Index`), the factor a read applies
(``scale``), how an assignment reaches Arbor (:class:`Write`, ``weighted``,
``write_scale``, ``targets``), and who may write it. Both backends branch on
these properties only; each ABI rule (the ×10 of density currents, weight 1
for point-mechanism concentrations, ×0.1 for ion totals) comes from
:mod:`arbor_pycat.abi.rules` through :func:`decode`.

``role`` names what the field is for users and for messages:

=================== ==========================================================
``scalar``          a ppack scalar (``width``, ``dt``)
``cv``              a per-CV array of the ppack, gathered through ``node_index``
``peer``            ``vec_v`` gathered through ``peer_index`` (junctions)
``parameter``       ``ppack.parameters[k]`` (zero-copy)
``state``           ``ppack.state_vars[k]`` (zero-copy)
``global``          ``ppack.globals[k]`` (a scalar)
``current``         the mechanism's own non-specific current (a buffer)
``conductance``     its dI/dV (a buffer)
``ion_current``     its own current of ion k (a buffer; ``compute_currents``)
``ion_total``       ``0.1 * current_density`` of ion k, gathered (mA/cm²)
``ion``             an ion array of ion k, gathered through the ion's index
``valence``         ``ionic_charge[0]`` of ion k (a scalar)
``random``          ``random_numbers[k]`` (fresh each step)
``time_since_spike`` (width, n_detectors), gathered through ``vec_ci``
``raw``             one of Arbor's own index/weight arrays, read-only
``ppack``           ``pp.raw``, Arbor's ppack (python backend only)
=================== ==========================================================

Write modes (:class:`Write`, how an assignment reaches Arbor):

=============== ==============================================================
``inplace``     the field is Arbor's memory: written directly
``buffer``      a current, conductance: added after ``compute_currents`` to
                each of ``targets``, ``target[index] += write_scale * weight * value``
``assign``      ``array[index] = value`` (``v`` of voltage mechanisms and in
                ``init_mechanism``, reversal potentials)
``blend``       ``array[index] += w * (value - old)`` (concentrations,
                outside ``write_ions``; what modcc emits)
``accumulate``  ``array[index] += w * value`` (concentrations in
                ``write_ions``, after Arbor reset them)
=============== ==============================================================

``w`` is the CV weight where ``weighted``, else 1.
"""
from dataclasses import dataclass
from enum import Enum

from ..abi import rules
from .kinds import CURRENT_KINDS, METHODS


class Index(str, Enum):
    """How a method's per-instance values of a field are found in Arbor's array."""
    NONE = "none"             # a single value (a ppack scalar, a global, an ion's valence)
    INSTANCE = "instance"     # one value per instance, in instance order: the array itself
    NODE = "node"             # array[node_index[k]]
    PEER = "peer"             # array[peer_index[k]]
    ION = "ion"               # array[ion_states[ion].index[k]]
    DETECTORS = "detectors"   # array[vec_ci[node_index[k]] * n_detectors + d]

    def __str__(self):
        return self.value


class Write(str, Enum):
    """How an assignment to a field reaches Arbor (see the module's table)."""
    INPLACE = "inplace"
    BUFFER = "buffer"
    ASSIGN = "assign"
    BLEND = "blend"
    ACCUMULATE = "accumulate"

    def __str__(self):
        return self.value


GATHERED = frozenset({Index.NODE, Index.PEER, Index.ION})   # read through an index array


# Read-only per-CV arrays of the ppack, read through node_index: pp name -> (ppack
# array, units, meaning). One entry here gives every method the field, in both backends.
CV_FIELDS = {
    "temperature": ("temperature_degC", "degC", "temperature"),
    "diam": ("diam_um", "um", "diameter of the CV"),
    "area": ("area_um2", "um2", "area of the CV"),
}

# Ion field name patterns -> (ion array, IonInfo read flag, IonInfo write flag, units, meaning)
ION_ARRAYS = {
    "e{ion}": ("reversal_potential", "read_rev_potential", "write_rev_potential", "mV", "reversal potential"),
    "{ion}i": ("internal_concentration", "read_int_concentration", "write_int_concentration", "mM", "internal concentration"),
    "{ion}o": ("external_concentration", "read_ext_concentration", "write_ext_concentration", "mM", "external concentration"),
    "{ion}d": ("diffusive_concentration", "use_diff_concentration", "use_diff_concentration", "mM", "diffusive concentration"),
}


@dataclass(frozen=True)
class FieldDecode:
    """One ``pp`` field as one method sees it.

    ``table``/``slot``: where Arbor keeps it: ``None`` for a field of the ppack
    itself (``array`` names it: ``vec_v``, ``dt``, ``node_index``), or
    ``"parameters"``, ``"state_vars"``, ``"globals"``, ``"random_numbers"``
    with the position ``slot``, or ``"ion_states"`` with ion number ``ion``
    and ``array`` the ion's array (``internal_concentration``, ...).
    ``scale``: a read shows ``scale * value``. ``write``: None (read-only) or a
    :class:`Write`; ``weighted``: the write is multiplied by the CV weight;
    ``write_scale`` and ``targets``, pairs (array, :class:`Index`): where a
    buffered current goes (``vec_i`` and ``vec_g`` through the node index,
    ``current_density`` of ``ion`` through the ion's index).
    ``dtype``: ``"value"`` (float64) or ``"index"`` (int32).
    """
    name: str
    method: str
    role: str
    index: Index
    array: str | None = None
    table: str | None = None
    slot: int | None = None
    ion: int | None = None
    scale: float = 1.0
    write: Write | None = None
    weighted: bool = False
    write_scale: float = 1.0
    targets: tuple = ()
    dtype: str = "value"
    units: str = ""
    doc: str = ""

    @property
    def gathered(self):
        """Per-instance values copied through an index (a view where the index is a range)."""
        return self.index in GATHERED

    @property
    def per_instance(self):
        return self.index is not Index.NONE

    def row(self):
        """The decode as a tuple of plain values (golden tables, review)."""
        return (self.name, self.role, str(self.index), self.array, self.table, self.slot, self.ion,
                self.scale, None if self.write is None else str(self.write), self.weighted,
                self.write_scale, tuple((array, str(index)) for array, index in self.targets), self.dtype)


def current_units(kind):
    """Units of ``pp.i`` and ``pp.i<ion>`` in compute_currents, and of the conductance."""
    return ("mA/cm2", "S/cm2") if kind == "density" else ("nA", "uS")


def ion_field_names(ion):
    """Every ``pp`` field an ion brings: ``i<ion>``, ``e<ion>``, ``<ion>i/o/d/q``."""
    return ["i" + ion, "e" + ion, ion + "i", ion + "o", ion + "d", ion + "q"]


def static_field_names():
    """Names of fields that exist whatever the declarations (reserved names)."""
    return {"width", "dt", "v", "i", "conductance", "peer_v", "time_since_spike", "node_index",
            "peer_index", "weight", "multiplicity", "raw"} | set(CV_FIELDS)


def concentration_field_names(ion):
    """The concentration fields of an ion: ``<ion>i``, ``<ion>o``, ``<ion>d``."""
    return [ion + "i", ion + "o", ion + "d"]


def shadowed_name(name):
    """Where an ion's concentration ``name`` goes when a state variable of that name shadows it."""
    return "ion_" + name


def decode(spec, method):
    """Every field of ``spec``'s ``pp`` in ``method``, as ``{name: FieldDecode}``.

    A state variable named like a concentration its mechanism writes (NMODL's
    ``STATE { cai }`` with ``USEION ca WRITE cai``) is ``pp.cai``; the ion's
    concentration is then ``pp.ion_cai``.
    """
    kind = spec.kind
    state_names = {s.name for s in spec.state_vars}
    fields = {}

    def add(name, role, index, **properties):
        fields[name] = FieldDecode(name, method, role, index, **properties)

    add("width", "scalar", Index.NONE, array="width", dtype="index", doc="number of instances")
    add("dt", "scalar", Index.NONE, array="dt", units="ms", doc="time step")
    v_write = Write.ASSIGN if (kind == "voltage" or method == "init_mechanism") else None
    add("v", "cv", Index.NODE, array="vec_v", write=v_write, units="mV", doc="membrane potential")
    for name, (array, units, meaning) in CV_FIELDS.items():
        add(name, "cv", Index.NODE, array=array, units=units, doc=meaning)
    for name, dtype in (("node_index", "index"), ("weight", "value"), ("multiplicity", "index")):
        add(name, "raw", Index.INSTANCE, array=name, dtype=dtype, doc=f"Arbor's {name} array (read-only)")
    add("raw", "ppack", Index.NONE, doc="Arbor's ppack (python backend)")
    if kind == "junction":
        add("peer_v", "peer", Index.PEER, array="vec_v", units="mV", doc="membrane potential at the peer CV")
        add("peer_index", "raw", Index.INSTANCE, array="peer_index", dtype="index",
            doc="Arbor's peer_index array (read-only)")
    i_units, g_units = current_units(kind)
    currents_here = method == "compute_currents" and kind in CURRENT_KINDS
    if currents_here:
        buffered = dict(index=Index.INSTANCE, write=Write.BUFFER, weighted=True,
                        write_scale=rules.CURRENT_SCALE[kind])
        add("i", "current", targets=(("vec_i", Index.NODE),), units=i_units, doc="non-specific current",
            **buffered)
        add("conductance", "conductance", targets=(("vec_g", Index.NODE),), units=g_units,
            doc="dI/dV of this mechanism's currents", **buffered)
    if method == "post_event":
        add("time_since_spike", "time_since_spike", Index.DETECTORS, array="time_since_spike", units="ms",
            doc="time since each detector of the cell fired; negative where it did not")
    for k, p in enumerate(spec.parameters):
        add(p.name, "parameter", Index.INSTANCE, table="parameters", slot=k, write=Write.INPLACE,
            units=p.units, doc="parameter")
    for k, s in enumerate(spec.state_vars):
        add(s.name, "state", Index.INSTANCE, table="state_vars", slot=k, write=Write.INPLACE,
            units=s.units, doc="state variable")
    for k, g in enumerate(spec.globals):
        add(g.name, "global", Index.NONE, table="globals", slot=k, units=g.units, doc="global")
    for r in spec.random:
        add(r.name, "random", Index.INSTANCE, table="random_numbers", slot=r.slot,
            doc="standard-normal random number")
    for k, ion in enumerate(spec.ions):
        n = ion.name
        on_ion = dict(table="ion_states", ion=k)
        if currents_here:
            # An ionic current is part of the membrane current and of the ion's current.
            add("i" + n, "ion_current", Index.INSTANCE, write=Write.BUFFER, weighted=True,
                write_scale=rules.CURRENT_SCALE[kind],
                targets=(("vec_i", Index.NODE), ("current_density", Index.ION)),
                units=i_units, doc=f"this mechanism's {n} current", **on_ion)
        else:
            add("i" + n, "ion_total", Index.ION, array="current_density", scale=rules.ION_TOTAL_SCALE,
                units="mA/cm2", doc=f"total {n} current density", **on_ion)
        add(n + "q", "valence", Index.NONE, array="ionic_charge", doc=f"valence of {n}", **on_ion)
        for pattern, (array, read_flag, write_flag, units, meaning) in ION_ARRAYS.items():
            name = pattern.format(ion=n)
            if name in state_names and array != "reversal_potential":
                name = shadowed_name(name)
            if not (getattr(ion, read_flag) or getattr(ion, write_flag)):
                continue
            write, weighted = None, False
            if getattr(ion, write_flag):
                if array == "reversal_potential":
                    write = Write.ASSIGN
                else:
                    write = Write.ACCUMULATE if method == "write_ions" else Write.BLEND
                    weighted = rules.concentration_weighted(kind)
            add(name, "ion", Index.ION, array=array, write=write, weighted=weighted,
                units=units, doc=f"{n} {meaning}", **on_ion)
    return fields


def decode_all(spec):
    """``{method: decode(spec, method)}`` for every interface method."""
    return {method: decode(spec, method) for method in METHODS}
