"""Numba's view of Arbor's ppack: record types and pointer casts.

The layout comes from :mod:`arbor_pycat.abi` (pointers as uint64); the
``as_*`` intrinsics turn those integers into typed pointers.
"""
import numba
from numba import types
from numba.extending import intrinsic

from ... import abi
from .access import EVENTS_ON_STACK

PPACK = numba.from_dtype(abi.PPACK_DTYPE)
ION_STATE = numba.from_dtype(abi.ION_STATE_DTYPE)
EVENT = numba.from_dtype(abi.EVENT_DTYPE)

# The C signature of every callback (see _shim.cpp).
SIGNATURE = types.int64(types.CPointer(PPACK), types.voidptr, types.uint64, types.voidptr,
                          types.voidptr)   # abi.contract


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
as_i64 = _pointer_cast(types.CPointer(types.int64))
as_u64 = _pointer_cast(types.CPointer(types.uint64))
as_ion = _pointer_cast(types.CPointer(ION_STATE))
as_event = _pointer_cast(types.CPointer(EVENT))


@intrinsic
def record_at(typingctx, pointer, index):
    """``pointer[index]`` of a pointer to records (the ppack, an ion's state): the
    record itself, which numba holds as a reference to its bytes. Unlike
    ``numba.carray(pointer, n)[index]``, no array is made, so no overload has to
    be compiled for it."""
    if (isinstance(pointer, types.CPointer) and isinstance(pointer.dtype, types.Record)
            and isinstance(index, types.Integer)):
        def codegen(context, builder, signature, args):
            return _address(context, builder, args[0], args[1], signature.args[1])
        return pointer.dtype(pointer, index), codegen


@intrinsic
def scratch(typingctx, count):
    """Room for ``count`` doubles (not initialised) from numba's allocator, as a raw
    pointer, NULL where there is no memory; give it back with :func:`release`.
    (``np.empty`` would do, at the price of compiling its overload once per
    process and typing it at every use.)"""
    if isinstance(count, types.Integer):
        def codegen(context, builder, signature, args):
            return _doubles(context, builder, context.cast(builder, args[0], signature.args[0], types.intp))
        return types.CPointer(types.float64)(count), codegen


def _doubles(context, builder, n):
    """Room for ``n`` (an intp) doubles from numba's allocator: a double*, NULL where
    there is no memory (:func:`scratch`, :func:`gathered`)."""
    raw = context.nrt.allocate_unchecked(builder, builder.mul(n, context.get_constant(types.intp, 8)))
    return builder.bitcast(raw, context.get_value_type(types.CPointer(types.float64)))


def _on_stack(element):
    @intrinsic
    def on_stack(typingctx):
        """Room for EVENTS_ON_STACK values of ``element`` in the calling function's
        stack frame (allocated once, at its entry, whatever the branch it is used
        in), as a raw pointer: valid until that function returns."""
        def codegen(context, builder, signature, args):
            from numba.core import cgutils
            return cgutils.alloca_once(builder, context.get_value_type(element), size=EVENTS_ON_STACK)
        return types.CPointer(element)(), codegen
    return on_stack


stack_i64 = _on_stack(types.int64)
stack_f64 = _on_stack(types.float64)


@intrinsic
def release(typingctx, pointer):
    """Give back what :func:`scratch` gave."""
    if isinstance(pointer, types.CPointer):
        def codegen(context, builder, signature, args):
            from llvmlite import ir
            context.nrt.free(builder, builder.bitcast(args[0], ir.IntType(8).as_pointer()))
            return context.get_dummy_value()
        return types.none(pointer), codegen


# -- loops an entry needs whatever its kernel: written here as LLVM IR, so that
# numba types and lowers one call instead of a loop in every entry (a cold build's
# time goes mostly into numba's typing and lowering, line by line) ----------------

@intrinsic
def gathered(typingctx, source, index, count):
    """A copy of ``source[index[k]]`` for k < ``count``, in instance order: room for
    ``count + 1`` doubles as :func:`scratch` gives it (never malloc(0)), filled; NULL
    where there is no memory. Each value is cast to a double as numba's
    ``a[k] = s[i[k]]`` casts it."""
    if (isinstance(source, types.CPointer) and isinstance(index, types.CPointer)
            and isinstance(index.dtype, types.Integer) and isinstance(count, types.Integer)):
        def codegen(context, builder, signature, args):
            from numba.core import cgutils
            src, idx, n = args
            n = context.cast(builder, n, signature.args[2], types.intp)
            out = _doubles(context, builder, builder.add(n, context.get_constant(types.intp, 1)))
            with builder.if_then(cgutils.is_not_null(builder, out)):
                with cgutils.for_range(builder, n) as loop:
                    at = builder.load(_address(context, builder, idx, loop.index, types.intp))
                    value = builder.load(_address(context, builder, src, at, index.dtype))
                    builder.store(context.cast(builder, value, source.dtype, types.float64),
                                  _address(context, builder, out, loop.index, types.intp))
            return out
        return types.CPointer(types.float64)(source, index, count), codegen


@intrinsic
def scale_by(typingctx, values, factors, count):
    """``values[k] *= factors[k]`` for k < ``count`` (doubles times int32 counts, as
    numba computes ``v[k] *= f[k]``: the count converted to a double)."""
    if (isinstance(values, types.CPointer) and values.dtype == types.float64
            and isinstance(factors, types.CPointer) and isinstance(factors.dtype, types.Integer)
            and isinstance(count, types.Integer)):
        def codegen(context, builder, signature, args):
            from numba.core import cgutils
            v, f, n = args
            n = context.cast(builder, n, signature.args[2], types.intp)
            with cgutils.for_range(builder, n) as loop:
                place = _address(context, builder, v, loop.index, types.intp)
                factor = builder.load(_address(context, builder, f, loop.index, types.intp))
                factor = context.cast(builder, factor, factors.dtype, types.float64)
                builder.store(builder.fmul(builder.load(place), factor), place)
            return context.get_dummy_value()
        return types.none(values, factors, count), codegen


@intrinsic
def piece_count(typingctx, pieces, whole, count):
    """How many pieces the loop over instances has: 1 where ``whole``, else the
    first int32 at ``pieces`` (the shim's list of pieces), or ``count`` (one instance
    at a time) where that is NULL."""
    if (isinstance(pieces, (types.RawPointer, types.CPointer)) and isinstance(whole, types.Boolean)
            and isinstance(count, types.Integer)):
        def codegen(context, builder, signature, args):
            from numba.core import cgutils
            at, is_whole, n = args
            n = context.cast(builder, n, signature.args[2], types.int64)
            listed = builder.bitcast(at, context.get_value_type(types.CPointer(types.int32)))
            result = cgutils.alloca_once_value(builder, context.get_constant(types.int64, 1))
            with builder.if_then(builder.not_(is_whole)):
                with builder.if_else(cgutils.is_not_null(builder, listed)) as (has_list, no_list):
                    with has_list:
                        builder.store(builder.sext(builder.load(listed), context.get_value_type(types.int64)),
                                      result)
                    with no_list:
                        builder.store(n, result)
            return builder.load(result)
        return types.int64(pieces, whole, count), codegen


@intrinsic
def address_of(typingctx, pointer):
    """The integer address of a voidptr (the event stream argument)."""
    if isinstance(pointer, (types.RawPointer, types.CPointer)):
        def codegen(context, builder, signature, args):
            return builder.ptrtoint(args[0], context.get_value_type(types.uint64))
        return types.uint64(pointer), codegen


# -- loads and stores that tell LLVM which of Arbor's arrays they touch ---------
#
# Arbor's arrays of one call never overlap: each parameter, state, ion array and
# the CV arrays (v, i, g, weights) is its own allocation or a disjoint slice of
# one. LLVM cannot know that, so the vectorised loop over a piece starts with a
# runtime overlap check of every written array against every other one (about a
# hundred comparisons per piece for HH). Accesses made through these intrinsics
# carry scoped-noalias metadata instead: scope k for the array the entry numbers
# k, and "no alias" with every other number (entry_scalar.py numbers one array
# per distinct storage, so two names for one array share a number).

from .access import MAX_SCOPES   # noqa: E402


def _tag(instruction, module, scope):
    """Mark a load or store as touching scope number ``scope``, and no other."""
    scope_list, noalias_list = _scope_lists(module, scope)
    instruction.set_metadata("alias.scope", scope_list)
    instruction.set_metadata("noalias", noalias_list)
    return instruction


def _scope_lists(module, scope):
    """(the list of scope ``scope``, the list of every other scope) in ``module``,
    made once per LLVM module and scope (an entry tags a hundred accesses or more)."""
    made = module.__dict__.get("_arbor_pycat_scopes")
    if made is None:
        from llvmlite import ir
        domain = module.add_metadata([ir.MetaDataString(module, "arbor_pycat.arrays")])
        nodes = [module.add_metadata([ir.MetaDataString(module, f"arbor_pycat.array.{k}"), domain])
                 for k in range(MAX_SCOPES)]
        made = module._arbor_pycat_scopes = (nodes, {})
    nodes, lists = made
    if scope not in lists:
        lists[scope] = (module.add_metadata([nodes[scope]]),
                        module.add_metadata([n for k, n in enumerate(nodes) if k != scope]))
    return lists[scope]


def _address(context, builder, pointer, index, index_type):
    index = context.cast(builder, index, index_type, types.intp)
    return builder.gep(pointer, [index])


@intrinsic(prefer_literal=True)
def load_scoped(typingctx, pointer, index, scope):
    """``pointer[index]``, read as scope number ``scope`` (an integer literal)."""
    if (isinstance(pointer, types.CPointer) and isinstance(index, types.Integer)
            and isinstance(scope, types.IntegerLiteral) and 0 <= scope.literal_value < MAX_SCOPES):
        number = scope.literal_value

        def codegen(context, builder, signature, args):
            value = builder.load(_address(context, builder, args[0], args[1], signature.args[1]))
            return _tag(value, builder.module, number)
        return pointer.dtype(pointer, index, scope), codegen


@intrinsic(prefer_literal=True)
def store_scoped(typingctx, pointer, index, value, scope):
    """``pointer[index] = value``, written as scope number ``scope`` (an integer literal)."""
    if (isinstance(pointer, types.CPointer) and isinstance(index, types.Integer)
            and isinstance(value, (types.Float, types.Integer, types.Boolean))
            and isinstance(scope, types.IntegerLiteral) and 0 <= scope.literal_value < MAX_SCOPES):
        number = scope.literal_value

        def codegen(context, builder, signature, args):
            stored = context.cast(builder, args[2], signature.args[2], pointer.dtype)
            _tag(builder.store(stored, _address(context, builder, args[0], args[1], signature.args[1])),
                 builder.module, number)
            return context.get_dummy_value()
        return types.none(pointer, index, value, scope), codegen
