"""Arbor's mechanism ABI (``arbor/mechanism_abi.h``, version 0.7), mirrored once.

Everything else in arbor_pycat that needs to know where a field of Arbor's
structs lives reads it from here (what arbor_pycat and its own shim agree on
beyond Arbor's ABI is in :mod:`.contract`): the ctypes structures (used by the bridge
and the Python backend) and :data:`PPACK_DTYPE`, a numpy structured dtype
with the same layout in which pointers are plain ``uint64`` (used by the
numba backend, which cannot type ctypes pointer fields). The bridge checks
these sizes and offsets against the compiled shim when it loads
(:data:`.contract.EXPECTED_LAYOUT`).
"""
import ctypes as C

import numpy as np

ABI_VERSION = (0, 7, 0)

value_t = C.c_double    # arb_value_type
weight_t = C.c_float    # arb_weight_type
index_t = C.c_int       # arb_index_type
size_t = C.c_uint32     # arb_size_type

MECHANISM_KINDS = {       # arb_mechanism_kind
    "point": 1,
    "density": 2,
    "reversal_potential": 3,
    "junction": 4,
    "voltage": 5,
}

class IonState(C.Structure):
    _fields_ = [
        ("current_density", C.POINTER(value_t)),
        ("reversal_potential", C.POINTER(value_t)),
        ("internal_concentration", C.POINTER(value_t)),
        ("external_concentration", C.POINTER(value_t)),
        ("diffusive_concentration", C.POINTER(value_t)),
        ("ionic_charge", C.POINTER(value_t)),
        ("index", C.POINTER(index_t)),
    ]


class EventData(C.Structure):
    _fields_ = [("mech_index", size_t), ("weight", weight_t)]


class EventStream(C.Structure):
    _fields_ = [("begin", C.POINTER(EventData)), ("end", C.POINTER(EventData))]


class ConstraintPartition(C.Structure):
    _fields_ = [
        ("n_contiguous", size_t), ("n_constant", size_t),
        ("n_independent", size_t), ("n_none", size_t),
        ("contiguous", C.POINTER(index_t)), ("constant", C.POINTER(index_t)),
        ("independent", C.POINTER(index_t)), ("none", C.POINTER(index_t)),
    ]


class PPack(C.Structure):
    """``arb_mechanism_ppack``: what Arbor hands every interface method."""
    _fields_ = [
        ("width", size_t),
        ("n_detectors", index_t),
        ("vec_ci", C.POINTER(index_t)),
        ("dt", value_t),
        ("vec_v", C.POINTER(value_t)),
        ("vec_i", C.POINTER(value_t)),
        ("vec_g", C.POINTER(value_t)),
        ("temperature_degC", C.POINTER(value_t)),
        ("diam_um", C.POINTER(value_t)),
        ("area_um2", C.POINTER(value_t)),
        ("time_since_spike", C.POINTER(value_t)),
        ("node_index", C.POINTER(index_t)),
        ("peer_index", C.POINTER(index_t)),
        ("multiplicity", C.POINTER(index_t)),
        ("weight", C.POINTER(value_t)),
        ("mechanism_id", size_t),
        ("events", EventStream),
        ("index_constraints", ConstraintPartition),
        ("parameters", C.POINTER(C.POINTER(value_t))),
        ("state_vars", C.POINTER(C.POINTER(value_t))),
        ("globals", C.POINTER(value_t)),
        ("ion_states", C.POINTER(IonState)),
        ("random_numbers", C.POINTER(C.POINTER(value_t))),
    ]


class FieldInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("unit", C.c_char_p),
                ("default_value", value_t), ("range_low", value_t), ("range_high", value_t)]


class IonInfo(C.Structure):
    _fields_ = [
        ("name", C.c_char_p),
        ("write_int_concentration", C.c_bool),
        ("write_ext_concentration", C.c_bool),
        ("read_int_concentration", C.c_bool),
        ("read_ext_concentration", C.c_bool),
        ("use_diff_concentration", C.c_bool),
        ("write_rev_potential", C.c_bool),
        ("read_rev_potential", C.c_bool),
        ("read_valence", C.c_bool),
        ("verify_valence", C.c_bool),
        ("expected_valence", C.c_int),
    ]


# The flags of arb_ion_info, in its order: IonInfo (what users write), IonSpec
# (resolved) and the bridge's table all use these names.
ION_FLAGS = tuple(name for name, ctype in IonInfo._fields_ if ctype is C.c_bool)


class RandomVariableInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("index", size_t)]


class MechanismType(C.Structure):
    """``arb_mechanism_type``: a mechanism's metadata and field tables."""
    _fields_ = [
        ("abi_version", C.c_ulong),
        ("fingerprint", C.c_char_p),
        ("name", C.c_char_p),
        ("kind", C.c_uint32),
        ("is_linear", C.c_bool),
        ("has_post_events", C.c_bool),
        ("globals", C.POINTER(FieldInfo)), ("n_globals", size_t),
        ("state_vars", C.POINTER(FieldInfo)), ("n_state_vars", size_t),
        ("parameters", C.POINTER(FieldInfo)), ("n_parameters", size_t),
        ("ions", C.POINTER(IonInfo)), ("n_ions", size_t),
        ("random_variables", C.POINTER(RandomVariableInfo)), ("n_random_variables", size_t),
    ]


_method = C.CFUNCTYPE(None, C.POINTER(PPack))
_events_method = C.CFUNCTYPE(None, C.POINTER(PPack), C.POINTER(EventStream))


class MechanismInterface(C.Structure):
    """``arb_mechanism_interface``: the functions Arbor calls (tests drive them directly)."""
    _fields_ = [
        ("backend", C.c_uint32), ("partition_width", size_t), ("alignment", size_t),
        ("init_mechanism", _method), ("compute_currents", _method), ("apply_events", _events_method),
        ("advance_state", _method), ("write_ions", _method), ("post_event", _method),
    ]


class Mechanism(C.Structure):
    """``arb_mechanism``: one entry of the table ``get_catalogue`` returns."""
    _fields_ = [
        ("type", C.CFUNCTYPE(MechanismType)),
        ("i_cpu", C.CFUNCTYPE(C.POINTER(MechanismInterface))),
        ("i_gpu", C.CFUNCTYPE(C.POINTER(MechanismInterface))),
    ]


def _numpy_dtype(struct):
    """The structure's layout as a numpy dtype; pointers become uint64."""
    names, formats, offsets = [], [], []
    for name, ctype in struct._fields_:
        names.append(name)
        offsets.append(getattr(struct, name).offset)
        if issubclass(ctype, C.Structure):
            formats.append(_numpy_dtype(ctype))
        elif issubclass(ctype, (C._Pointer, C.c_char_p, C.c_void_p)):
            formats.append(np.uint64)
        else:
            formats.append(np.dtype(ctype))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": C.sizeof(struct)}, align=True)


PPACK_DTYPE = _numpy_dtype(PPack)
ION_STATE_DTYPE = _numpy_dtype(IonState)
EVENT_DTYPE = _numpy_dtype(EventData)
EVENT_STREAM_DTYPE = _numpy_dtype(EventStream)
