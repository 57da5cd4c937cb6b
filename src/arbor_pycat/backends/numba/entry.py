"""What both forms of entry function share: reading the ppack, the fields' set-up,
the write-back of currents, the multiplicity of coalesced synapses.

The entry ``__pc_entry_<method>(_pp_ptr, _ev_ptr, _key, _pieces_ptr, _rec_ptr)`` is what Arbor calls
(through the shim) for one method; it prepares every field the kernel uses
from the field's decode (see :mod:`.access`), calls the kernel and writes the
results back as modcc's generated code does. :mod:`.entry_scalar` loops over
instances calling a scalar kernel; :mod:`.entry_array` calls an array kernel
once.
"""
from ...spec.fields import Index, Write
from . import access

INDENT = "    "


class Lines:
    def __init__(self):
        self.lines = []

    def __call__(self, depth, text):
        self.lines.append(INDENT * depth + text)

    def text(self):
        return "\n".join(self.lines)


class Entry:
    """Writes ``__pc_entry_<method>`` for one kernel (see the subclasses)."""
    scalar_form = False

    def __init__(self, spec, method, plan, kernel, numeric_conductance, error_code):
        self.spec = spec
        self.method = method
        self.plan = plan
        self.kernel = kernel
        self.numeric_conductance = numeric_conductance
        self.error_code = error_code          # status code for a message key (see generate._Messages)
        self.out = Lines()
        self.fields = [plan[name] for name in kernel.params]
        self.buffers = [f for f in self.fields if f.write is Write.BUFFER]
        if numeric_conductance and "conductance" not in kernel.params and "conductance" in plan:
            self.buffers.append(plan["conductance"])     # computed, then added like an assigned one
        # Currents are summed in one order (the non-specific one, then by ion), the
        # python backend's too (backends/python/steps.py, canonical_order).
        self.buffers.sort(key=lambda f: (any(array == "vec_g" for array, _ in f.targets),
                                         f.ion is not None, f.ion or 0))

    def header(self, o):
        o(0, f"def __pc_entry_{self.method.name}(_pp_ptr, _ev_ptr, _key, _pieces_ptr, _rec_ptr):")

    def setup(self, o):
        """Read the ppack and prepare every field (pointers, scalars).

        The ppack and the ion states are records reached through a pointer, and the
        tables of parameters, states and random numbers are raw pointers: no array
        is made for them (a ``numba.carray`` is an overload that numba compiles once
        per process and types at every use). The scalar form reads the index arrays
        through raw pointers too; the array form needs them as arrays."""
        spec = self.spec
        o(1, "_p = __pc_record(_pp_ptr, 0)")
        o(1, "_width = __pc_np.int64(_p.width)")
        o(1, f"_node_index = {self.index_pointer('_p.node_index')}")
        # The scalar form reads per-instance arrays through raw pointers: no negative-index
        # wrap-around on _k, which LLVM cannot rule out in a piece's loop and which
        # would stop it vectorising.
        o(1, "_w = __pc_as_f64(_p.weight)" if self.scalar_form
             else "_w = __pc_carray(__pc_as_f64(_p.weight), _width)")
        ions = sorted({f.ion for f in self.fields + self.buffers if f.ion is not None})
        if ions:
            o(1, "_ions = __pc_as_ion(_p.ion_states)")
            for k in ions:
                o(1, f"{access.ion_state(k)} = __pc_record(_ions, {k})")
                o(1, f"_ion{k}_index = {self.index_pointer(access.ion_state(k) + '.index')}")
        if any(f.index is Index.PEER for f in self.fields):
            o(1, f"_peer_index = {self.index_pointer('_p.peer_index')}")
        access.setup_targets(o, self.buffers)
        if spec.parameters:
            o(1, "_params = __pc_as_u64(_p.parameters)")
        if spec.state_vars:
            o(1, "_states = __pc_as_u64(_p.state_vars)")
        if spec.random:
            o(1, "_random = __pc_as_u64(_p.random_numbers)")
        for f in self.fields:
            access.setup(o, f, spec, self.scalar_form, self.error_code)

    def index_pointer(self, address):
        """An index array at ``address``: a raw pointer in the scalar form, an array of
        ``_width`` in the array form."""
        pointer = f"__pc_as_i32({address})"
        return pointer if self.scalar_form else f"__pc_carray({pointer}, _width)"

    def current_names(self):
        """The buffered currents (not the conductance) the kernel gives."""
        return [f.name for f in self.buffers if any(array == "vec_i" for array, _ in f.targets)]

    def multiplicity(self, o):
        """Arbor coalesced identical synapses: init_mechanism's states (not the
        ASSIGNED ones, see spec.scaled_states) times their count."""
        if self.method.name != "init_mechanism" or not self.spec.scaled_states:
            return
        o(1, "if _p.multiplicity != 0:")
        o(2, "_m = __pc_as_i32(_p.multiplicity)")
        for j in self.spec.scaled_states:
            o(2, f"__pc_scale_by(__pc_as_f64(_states[{j}]), _m, _width)")


def module_prelude():
    """The first lines of every generated module."""
    from ...abi.rules import DV
    return ("import numpy as __pc_np\n"
            "import math as __pc_math\n"
            f"__pc_DV = {DV!r}\n")
