"""Numba's view of Arbor's ppack: record types and pointer casts.

The layout comes from :mod:`arbor_pycat.abi` (pointers as uint64); the
``as_*`` intrinsics turn those integers into typed pointers.
"""
import numba
from numba import types
from numba.extending import intrinsic

from ... import abi

PPACK = numba.from_dtype(abi.PPACK_DTYPE)
ION_STATE = numba.from_dtype(abi.ION_STATE_DTYPE)
EVENT = numba.from_dtype(abi.EVENT_DTYPE)

# The C signature of every callback (see _shim.cpp).
SIGNATURE = types.int64(types.CPointer(PPACK), types.voidptr, types.uint64, types.voidptr)   # abi.contract


def _pointer_cast(target):
    @intrinsic
    def cast(typingctx, address):
        if isinstance(address, types.Integer):
            def codegen(context, builder, signature, args):
                return builder.inttoptr(args[0], context.get_value_type(target))
            return target(address), codegen
    return cast


as_f64 = _pointer_cast(types.CPointer(types.float64))
as_i32 = _pointer_cast(types.CPointer(types.int32))
as_u64 = _pointer_cast(types.CPointer(types.uint64))
as_ion = _pointer_cast(types.CPointer(ION_STATE))
as_event = _pointer_cast(types.CPointer(EVENT))


@intrinsic
def address_of(typingctx, pointer):
    """The integer address of a voidptr (the event stream argument)."""
    if isinstance(pointer, (types.RawPointer, types.CPointer)):
        def codegen(context, builder, signature, args):
            return builder.ptrtoint(args[0], context.get_value_type(types.uint64))
        return types.uint64(pointer), codegen
