"""How generated code reaches each field, from its decode alone.

Every expression the entry functions use for a field — where its storage is,
through which index an instance's value is, what a read multiplies, how a
write reaches Arbor — is made here from the field's
:class:`~arbor_pycat.spec.fields.FieldDecode`, never from its role.
Variables of the generated entry: ``_p`` (the ppack), ``_k`` (the instance),
``_w`` (the CV weights), ``_s_<name>`` (a field's storage), ``_f_<name>``
(its value in the kernel's call), ``_t_<array><ion>`` (a current target).
"""
from ...abi import contract
from ...spec.fields import Index, Write


def index_array(index, ion=None):
    """The generated name of an index array (``_node_index``, ``_ion0_index``, ...)."""
    if index is Index.NODE:
        return "_node_index"
    if index is Index.PEER:
        return "_peer_index"
    if index is Index.ION:
        return f"_ion{ion}_index"
    raise AssertionError(f"no index array for {index}")


def index_source(array):
    """The ppack expression of index ``array`` (a raw pointer)."""
    if array == "_node_index":
        return "_p.node_index"
    if array == "_peer_index":
        return "_p.peer_index"
    return f"{ion_state(ion_of(array))}.index"


def ion_state(ion):
    """The generated name of ion number ``ion``'s state record (``_ion0``, ...)."""
    return f"_ion{ion}"


def ion_of(array):
    return int(array[len("_ion"):-len("_index")])


def layout_bit(array):
    """The bit of the shim's layout flags that says ``array`` is a range, or None."""
    if array == "_node_index":
        return contract.layout_bit("node")
    if array == "_peer_index":
        return contract.layout_bit("peer")
    return contract.layout_bit("ion", ion_of(array))


def field_index(f):
    """The index array of a gathered field."""
    return index_array(f.index, f.ion)


def target_name(array, ion):
    """The generated name of a current target: ``_t_vec_i``, ``_t_current_density0``."""
    return f"_t_{array}" + ("" if ion is None else str(ion))


def targets(f):
    """(target variable, index array, target array, ion) for each array a buffered field goes to."""
    out = []
    for array, index in f.targets:
        ion = f.ion if index is Index.ION else None
        out.append((target_name(array, ion), index_array(index, f.ion), array, ion))
    return out


MAX_SCOPES = 48   # arrays an entry numbers for LLVM (ppack.load_scoped); further ones: plain indexing

# Events of one call whose columns sit on the entry's stack (entry_array.ArrayEntry.events).
EVENTS_ON_STACK = 32


class Subscript:
    """``array[index]``: where a write goes (``str()`` gives the plain subscript)."""

    def __init__(self, array, index):
        self.array, self.index = array, index

    def __str__(self):
        return f"{self.array}[{self.index}]"


def plain(array, index):
    """The default way of reading ``array[index]``."""
    return f"{array}[{index}]"


def target_storage(array, ion):
    """The expression of a current target's storage (as :func:`storage` writes it)."""
    return f"__pc_as_f64({'_p' if ion is None else ion_state(ion)}.{array})"


def storage(f, scalar_form=True):
    """The expression of field ``f``'s storage, or None where it has none of its own
    (two fields with the same expression share their storage)."""
    as_type = "__pc_as_i32" if f.dtype == "index" else "__pc_as_f64"
    if f.table is None:
        if f.array is None or f.index is Index.NONE:
            return None
        if f.index is Index.INSTANCE:
            return None      # Arbor's own per-instance arrays: see setup()
        return f"{as_type}(_p.{f.array})"
    if f.table in ("parameters", "state_vars"):
        table = "_params" if f.table == "parameters" else "_states"
        pointer = f"__pc_as_f64({table}[{f.slot}])"
        return pointer if scalar_form else f"__pc_carray({pointer}, _width)"
    if f.table == "random_numbers":
        pointer = f"__pc_as_f64(_random[{f.slot}])"
        return pointer if scalar_form else f"__pc_carray({pointer}, _width)"
    if f.table == "ion_states" and f.index is not Index.NONE and f.array is not None:
        return f"__pc_as_f64({ion_state(f.ion)}.{f.array})"
    return None


def setup(o, f, spec, scalar_form, error_code):
    """Statements that prepare field ``f`` once per call (before any loop)."""
    name = f.name
    if f.role == "ppack":
        from ..base import CannotCompile
        raise CannotCompile("pp.raw (Arbor's ppack) is available with the python backend only")
    if f.index is Index.NONE:
        if f.table is None:          # a ppack scalar
            o(1, f"_f_{name} = " + ("_width" if f.array == "width" else f"_p.{f.array} * 1.0"))
        elif f.table == "globals":
            o(1, f"_f_{name} = __pc_as_f64(_p.globals)[{f.slot}]")
        elif f.table == "ion_states":
            o(1, f"_f_{name} = __pc_as_f64({ion_state(f.ion)}.{f.array})[0]")
        else:
            raise AssertionError(f.row())
        return
    if f.index is Index.INSTANCE and f.table is None and f.array is not None:
        # Arbor's own per-instance arrays, read-only; an index array may be absent.
        if f.array == "node_index":
            o(1, f"_f_{name} = _node_index")
        elif f.array == "weight":        # (array form only: the scalar form refuses these arrays)
            o(1, f"_f_{name} = __pc_carray(__pc_as_f64(_p.weight), _width)")
        else:
            o(1, f"_f_{name} = __pc_np.ones(_width, __pc_np.int32)")
            o(1, f"if _p.{f.array} != 0:")
            o(2, f"_f_{name} = __pc_carray(__pc_as_i32(_p.{f.array}), _width)")
        return
    pointer = storage(f, scalar_form)
    if pointer is None:
        return                       # buffers, time_since_spike: made where used
    o(1, f"_s_{name} = {pointer}")
    if f.table == "ion_states" and f.array != "current_density":
        # Arbor passes an ion's concentrations and reversal potential only where the
        # mechanism declares them (its current density always): each check takes one
        # of the message codes, so only these are checked.
        o(1, f"if {ion_state(f.ion)}.{f.array} == 0:")
        o(2, f"return {error_code('null:' + name)}")


def load(f, index_expr, array=None, read=plain):
    """The value of ``f`` for instance ``_k`` (``index_expr``: its gathered index;
    ``array``: the pointer it is read from, by default Arbor's; ``read(array,
    index)``: the expression of one element), or None for fields set once per call."""
    if f.write is Write.BUFFER:
        return "0.0"
    scale = "" if f.scale == 1.0 else f"{f.scale!r} * "
    if f.gathered:
        return f"{scale}{read(array or '_s_' + f.name, index_expr)}"
    if f.index is Index.INSTANCE:
        if f.table is None:
            return f"_f_{f.name}[_k]"
        return f"{scale}{read('_s_' + f.name, '_k')}"
    return None


def weight(f, read=plain):
    """The factor of a weighted write for instance ``_k``."""
    return read("_w", "_k") if f.weighted else "1.0"


def write_op(f, new, old, index_expr, read=plain):
    """How one non-buffered field's new value reaches Arbor: ``(lhs, op, coefficient,
    value)``, ``lhs`` a :class:`Subscript`."""
    if f.write is Write.INPLACE:
        return (Subscript(f"_s_{f.name}", "_k"), "=", "", new)
    target = Subscript(f"_s_{f.name}", index_expr)
    if f.write is Write.ASSIGN:
        return (target, "=", "", new)
    if f.write is Write.BLEND:
        return (target, "+=", f"{weight(f, read)} * ", f"{new} - {old}")
    if f.write is Write.ACCUMULATE:
        return (target, "+=", f"{weight(f, read)} * ", new)
    raise AssertionError(f"no write of {f.row()}")


def current_writes(buffers, values, at, read=plain):
    """``target[index] += coefficient * (sum of values)`` for each current target.

    ``buffers``: the buffered fields with a value, ``values``: {name: value
    expression for instance _k}; ``at(index array)``: where it points for _k.
    Returns (lhs, op, coefficient, value) per target, ``lhs`` a :class:`Subscript`."""
    grouped = {}
    for f in buffers:
        for variable, index, _, _ in targets(f):
            grouped.setdefault((variable, index), []).append(f)
    ops = []
    for (variable, index), fields in grouped.items():
        if len({(f.write_scale, f.weighted) for f in fields}) == 1:     # one factor for the sum
            f = fields[0]
            ops.append((Subscript(variable, at(index)), "+=", f"{f.write_scale!r} * {weight(f, read)} * ",
                        " + ".join(values[g.name] for g in fields)))
        else:
            ops.append((Subscript(variable, at(index)), "+=", "", " + ".join(
                f"{f.write_scale!r} * {weight(f, read)} * ({values[f.name]})" for f in fields)))
    return ops


def setup_targets(o, buffers):
    """Pointers to the arrays the buffered fields are added to."""
    made = set()
    for f in buffers:
        for variable, _, array, ion in targets(f):
            if variable in made:
                continue
            made.add(variable)
            o(1, f"{variable} = {target_storage(array, ion)}")
