"""What arbor_pycat's Python side and its C++ shim (``bridge/_shim.cpp``) agree on.

Arbor's own ABI is mirrored in :mod:`.structs`; this is the rest, ours: the
numbering of the interface methods, the layout of the status a compiled
callback returns, the number of mechanisms a shim copy holds, and the layout
flags the shim passes to compiled callbacks. The shim reports each value
through ``pycat_layout(k)`` (and the method names through
``pycat_method_name(k)``); the bridge compares them with
:data:`EXPECTED_LAYOUT` and :data:`METHODS` when it loads a copy, and refuses a
shim that disagrees.
"""
import ctypes as C

from .structs import (EventData, FieldInfo, IonInfo, IonState, Mechanism, MechanismInterface,
                      MechanismType, PPack)

# Interface methods, in the order the shim numbers them (``pycat_set_callback(k, method, f)``).
METHODS = ("init_mechanism", "compute_currents", "apply_events",
           "advance_state", "write_ions", "post_event")

# Mechanisms (slots) one loaded copy of the shim holds, shared by its catalogues.
MAX_MECHANISMS = 1024

# A compiled callback returns an int64 status: 0 success; < 0 the message set
# with pycat_set_error; > 0 a message code (1 .. MAX_MESSAGES - 1) in the low
# STATUS_CODE_BITS bits and, above them, a detail (see :func:`shape_detail`).
STATUS_CODE_BITS = 8
MAX_MESSAGES = 64


def status(code, detail=0):
    """The status a callback returns for message ``code`` with ``detail``."""
    if not 0 < code < MAX_MESSAGES:
        raise ValueError(f"message code {code} is outside 1..{MAX_MESSAGES - 1}")
    return code + (detail << STATUS_CODE_BITS)


def shape_detail(size, ndim):
    """The detail of a wrong-shape status: what was assigned (``size`` values in
    ``ndim`` dimensions); the shim writes it as 'got an array of shape (size,)'."""
    return 1 + 4 * size + min(ndim, 3)


# A compiled callback takes (ppack, events or NULL, layout flags, pieces or NULL,
# raise record): ``pieces`` is int32 [n, end_1, ..., end_n], the runs of
# instances over which every index array of the mechanism goes up by one
# (end_n = width), computed by the shim once per ppack; NULL when every index
# is a range (one piece).
CALLBACK_ARGUMENTS = 5

# The raise record (int64 words, thread-local in the shim): before a callback
# returns the code of a raise whose message it computes (an f-string), it
# writes the count n <= RAISE_VALUES of the numbers the message formats and n
# pairs (kind, bits); the shim hands the words to the mechanism's formatter
# (Python), whose text it throws.
RAISE_VALUES = 8
RECORD_WORDS = 1 + 2 * RAISE_VALUES
RAISE_INT, RAISE_FLOAT, RAISE_BOOL = 1, 2, 3      # kinds: int64; a double's bits; 0 or 1

# The layout flags, the third argument of every compiled callback: which index
# arrays are ranges (first, first + 1, ...), computed by the shim once per ppack.
LAYOUT_NODE_INDEX_BIT = 0
LAYOUT_PEER_INDEX_BIT = 1
LAYOUT_FIRST_ION_BIT = 2         # ion k: bit 2 + k, for k < LAYOUT_MAX_IONS
LAYOUT_MAX_IONS = 62


def layout_bit(index, ion=None):
    """The layout flag bit saying that ``index`` (``"node"``, ``"peer"`` or
    ``"ion"`` with ion number ``ion``) is a range, or None where the shim does
    not compute one (ions from LAYOUT_MAX_IONS on: compiled code tests them)."""
    if index == "node":
        return LAYOUT_NODE_INDEX_BIT
    if index == "peer":
        return LAYOUT_PEER_INDEX_BIT
    if index == "ion":
        return LAYOUT_FIRST_ION_BIT + ion if ion < LAYOUT_MAX_IONS else None
    raise ValueError(f"no layout bit for index {index!r}")


# What the shim reports for pycat_layout(k), k = 0, 1, ...: checked at load.
EXPECTED_LAYOUT = (
    C.sizeof(PPack), PPack.dt.offset, PPack.mechanism_id.offset, PPack.events.offset,
    PPack.parameters.offset, PPack.random_numbers.offset, C.sizeof(IonState),
    C.sizeof(MechanismType), MechanismType.random_variables.offset, C.sizeof(IonInfo),
    C.sizeof(FieldInfo), C.sizeof(EventData), PPack.index_constraints.offset,
    C.sizeof(MechanismInterface), MechanismInterface.init_mechanism.offset, C.sizeof(Mechanism),
    LAYOUT_NODE_INDEX_BIT, LAYOUT_PEER_INDEX_BIT, LAYOUT_FIRST_ION_BIT, LAYOUT_MAX_IONS,
    len(METHODS), MAX_MESSAGES, STATUS_CODE_BITS, MAX_MECHANISMS, CALLBACK_ARGUMENTS,
    RAISE_VALUES,
)
