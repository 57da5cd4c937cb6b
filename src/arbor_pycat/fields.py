"""The ``pp`` field table: what each field is, where it comes from, who may write it.

This module is data plus one resolver. Both backends read the
:class:`FieldPlan` objects that :func:`plan` returns; neither hard-codes a
field.

Sources (where the per-instance values come from):

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
=================== ==========================================================

Write modes (how an assignment reaches Arbor):

=============== ==============================================================
``inplace``     the field is Arbor's memory: written directly
``buffer``      a current, conductance: scattered after ``compute_currents``
                (``vec_i[node] += scale * weight * value``)
``assign``      ``array[index] = value`` (``v`` of voltage mechanisms and in
                ``init_mechanism``, reversal potentials)
``blend``       ``array[index] += weight * (value - old)`` (concentrations,
                outside ``write_ions``; what modcc emits)
``accumulate``  ``array[index] += weight * value`` (concentrations in
                ``write_ions``, after Arbor reset them)
=============== ==============================================================
"""
from dataclasses import dataclass

KINDS = ("density", "point", "voltage", "reversal_potential", "junction")
METHODS = ("init_mechanism", "compute_currents", "apply_events",
           "advance_state", "write_ions", "post_event")
CURRENT_KINDS = ("density", "point", "junction")

# Methods Arbor 0.12 never calls for a kind (measured): defining one is an error.
NEVER_CALLED = {
    "reversal_potential": {"advance_state", "write_ions", "apply_events", "post_event"},
    "voltage": {"write_ions", "apply_events"},
    "density": {"apply_events"},
    "junction": {"apply_events"},
}
NEVER_CALLED_WHY = {
    "reversal_potential": "it calls init_mechanism and compute_currents: compute the reversal "
                          "potential in compute_currents",
    "voltage": "events go to point mechanisms, and voltage mechanisms run after write_ions",
    "density": "events are delivered to point mechanisms only",
    "junction": "events are delivered to point mechanisms only",
}

# Per-CV arrays of the ppack that users read per instance.
CV_ARRAYS = {"v": "vec_v", "temperature": "temperature_degC", "diam": "diam_um", "area": "area_um2"}

# Ion field name patterns -> (ion array, IonInfo read flag, IonInfo write flag, units, meaning)
ION_ARRAYS = {
    "e{ion}": ("reversal_potential", "read_rev_potential", "write_rev_potential", "mV", "reversal potential"),
    "{ion}i": ("internal_concentration", "read_int_concentration", "write_int_concentration", "mM", "internal concentration"),
    "{ion}o": ("external_concentration", "read_ext_concentration", "write_ext_concentration", "mM", "external concentration"),
    "{ion}d": ("diffusive_concentration", "use_diff_concentration", "use_diff_concentration", "mM", "diffusive concentration"),
}


@dataclass(frozen=True)
class FieldPlan:
    """One ``pp`` field as a method sees it."""
    name: str
    source: str
    key: object = None        # ppack attribute, parameter/state/global index, (ion index, ion array), ...
    write: str | None = None  # write mode, None = read-only
    units: str = ""
    doc: str = ""


def current_units(kind):
    """Units of ``pp.i`` and ``pp.i<ion>`` in compute_currents, and of the conductance."""
    return ("mA/cm2", "S/cm2") if kind == "density" else ("nA", "uS")


def ion_field_names(ion):
    """Every ``pp`` field an ion brings: ``i<ion>``, ``e<ion>``, ``<ion>i/o/d/q``."""
    return ["i" + ion, "e" + ion, ion + "i", ion + "o", ion + "d", ion + "q"]


def static_field_names():
    """Names of fields that exist whatever the declarations (reserved names)."""
    return {"width", "dt", "v", "i", "conductance", "temperature", "diam", "area",
            "peer_v", "time_since_spike", "node_index", "peer_index", "weight",
            "multiplicity", "raw"}


def concentration_field_names(ion):
    """The concentration fields of an ion: ``<ion>i``, ``<ion>o``, ``<ion>d``."""
    return [ion + "i", ion + "o", ion + "d"]


def shadowed_name(name):
    """Where an ion's concentration ``name`` goes when a state variable of that name shadows it."""
    return "ion_" + name


def plan(spec, method):
    """All fields of ``spec``'s ``pp`` in ``method``, as ``{name: FieldPlan}``.

    A state variable named like a concentration its mechanism writes (NMODL's
    ``STATE { cai }`` with ``USEION ca WRITE cai``) is ``pp.cai``; the ion's
    concentration is then ``pp.ion_cai``.
    """
    kind = spec.kind
    state_names = {s.name for s in spec.state_vars}
    fields = {}

    def add(name, source, key=None, write=None, units="", doc=""):
        fields[name] = FieldPlan(name, source, key, write, units, doc)

    add("width", "scalar", "width", doc="number of instances")
    add("dt", "scalar", "dt", units="ms", doc="time step")
    v_write = "assign" if (kind == "voltage" or method == "init_mechanism") else None
    add("v", "cv", "vec_v", v_write, "mV", "membrane potential")
    add("temperature", "cv", "temperature_degC", units="degC", doc="temperature")
    add("diam", "cv", "diam_um", units="um", doc="diameter of the CV")
    add("area", "cv", "area_um2", units="um2", doc="area of the CV")
    for name in ("node_index", "weight", "multiplicity"):
        add(name, "raw", name, doc=f"Arbor's {name} array (read-only)")
    add("raw", "raw", "ppack", doc="Arbor's ppack (python backend)")
    if kind == "junction":
        add("peer_v", "peer", "vec_v", units="mV", doc="membrane potential at the peer CV")
        add("peer_index", "raw", "peer_index", doc="Arbor's peer_index array (read-only)")
    i_units, g_units = current_units(kind)
    if method == "compute_currents" and kind in CURRENT_KINDS:
        add("i", "current", None, "buffer", i_units, "non-specific current")
        add("conductance", "conductance", None, "buffer", g_units, "dI/dV of this mechanism's currents")
    if method == "post_event":
        add("time_since_spike", "time_since_spike", None, units="ms",
            doc="time since each detector of the cell fired; negative where it did not")
    for k, p in enumerate(spec.parameters):
        add(p.name, "parameter", k, "inplace", p.units, "parameter")
    for k, s in enumerate(spec.state_vars):
        add(s.name, "state", k, "inplace", s.units, "state variable")
    for k, g in enumerate(spec.globals):
        add(g.name, "global", k, units=g.units, doc="global")
    for k, r in enumerate(spec.random):
        add(r.name, "random", k, doc="standard-normal random number")
    for k, ion in enumerate(spec.ions):
        n = ion.name
        if method == "compute_currents" and kind in CURRENT_KINDS:
            add("i" + n, "ion_current", k, "buffer", i_units, f"this mechanism's {n} current")
        else:
            add("i" + n, "ion_total", k, units="mA/cm2", doc=f"total {n} current density")
        add(n + "q", "valence", k, doc=f"valence of {n}")
        for pattern, (array, read_flag, write_flag, units, meaning) in ION_ARRAYS.items():
            name = pattern.format(ion=n)
            if name in state_names and array != "reversal_potential":
                name = shadowed_name(name)
            readable = getattr(ion, read_flag) or getattr(ion, write_flag)
            if not readable:
                continue
            write = None
            if getattr(ion, write_flag):
                if array == "reversal_potential":
                    write = "assign"
                else:
                    write = "accumulate" if method == "write_ions" else "blend"
            add(name, "ion", (k, array), write, units, f"{n} {meaning}")
    return fields
