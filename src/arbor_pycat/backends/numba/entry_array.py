"""The entry of an array kernel: gather every input, call the kernel once, write back.

The kernel sees numpy arrays, one value per instance: zero-copy views of
parameters, states and random numbers, copies of what is read through an
index, zeroed buffers for currents. After the call, buffered currents and
every written field reach Arbor as the field's decode says.
"""
from ...spec.fields import Index, Write
from . import access
from .access import EVENTS_ON_STACK
from .entry import Entry


class ArrayEntry(Entry):
    scalar_form = False

    def text(self):
        o = self.out
        kernel = self.kernel
        self.header(o)
        if self.method.name == "apply_events" and getattr(kernel, "events_only", False):
            # Every statement works on the events: with none, nothing to do (Arbor
            # calls this every step, mostly with no events).
            o(1, "_ev_address0 = __pc_address_of(_ev_ptr)")
            o(1, "if _ev_address0 == 0:")
            o(2, "return 0")
            o(1, "_stream0 = __pc_carray(__pc_as_u64(_ev_address0), 2)")
            o(1, "if _stream0[1] <= _stream0[0]:")
            o(2, "return 0")
        self.setup(o)
        for f in self.fields:
            self.prepare(o, f)
        args = [f"_f_{f.name}" for f in self.fields]
        if self.method.name == "apply_events":
            self.events(o)
            args += ["_ev_target", "_ev_weight", "_ev_n"]
        if getattr(kernel, "records", False):     # a computed raise message (messages.py)
            args.append("__pc_address_of(_rec_ptr)")
        self.call(o, args)
        self.numeric_conductance_of(o, args)
        self.write_back(o)
        self.multiplicity(o)
        o(1, "return 0")
        return o.text()

    def call(self, o, args):
        o(1, "try:")
        o(2, f"_status = {self.kernel.name}({', '.join(args)})")
        o(1, "except Exception:")
        o(2, f"return {self.error_code('raised')}")
        o(1, "if _status != 0:")
        o(2, "return _status")

    def events(self, o):
        """``_ev_target``, ``_ev_weight``, ``_ev_n``: the events of this step, Arbor's
        records copied into two columns (int64 and float64 arrays, as the python
        backend's). Up to EVENTS_ON_STACK events (a call of a cell group
        mostly brings a few) the columns are on the entry's stack: no allocation;
        more take two arrays from numba's allocator."""
        o(1, "_ev_n = 0")
        o(1, "_ev_address = __pc_address_of(_ev_ptr)")
        o(1, "if _ev_address != 0:")
        o(2, "_stream = __pc_carray(__pc_as_u64(_ev_address), 2)")
        o(2, "_ev_n = __pc_np.int64((_stream[1] - _stream[0]) // 8)")
        o(1, f"if _ev_n <= {EVENTS_ON_STACK}:")
        o(2, "_ev_target = __pc_carray(__pc_stack_i64(), _ev_n)")
        o(2, "_ev_weight = __pc_carray(__pc_stack_f64(), _ev_n)")
        o(1, "else:")
        o(2, "_ev_target = __pc_np.empty(_ev_n, __pc_np.int64)")
        o(2, "_ev_weight = __pc_np.empty(_ev_n)")
        o(1, "if _ev_n > 0:")
        o(2, "_events = __pc_carray(__pc_as_event(_stream[0]), _ev_n)")
        o(2, "for _j in range(_ev_n):")
        o(3, "_ev_target[_j] = _events[_j].mech_index")
        o(3, "_ev_weight[_j] = _events[_j].weight")

    def prepare(self, o, f):
        """``_f_<name>``: the array the kernel gets for field ``f``."""
        name = f.name
        if f.write is Write.BUFFER:
            o(1, f"_f_{name} = __pc_np.zeros(_width)")
        elif f.gathered:
            o(1, f"_f_{name} = __pc_np.empty(_width)")
            if f.write is Write.BLEND:
                o(1, f"_old_{name} = __pc_np.empty(_width)")
            o(1, "for _k in range(_width):")
            o(2, f"_f_{name}[_k] = {access.load(f, access.field_index(f) + '[_k]')}")
            if f.write is Write.BLEND:
                o(2, f"_old_{name}[_k] = _f_{name}[_k]")
        elif f.index is Index.INSTANCE and f.table is not None:
            o(1, f"_f_{name} = _s_{name}")
        elif f.index is Index.DETECTORS:
            o(1, "_nd = __pc_np.int64(_p.n_detectors)")
            o(1, f"_f_{name} = __pc_np.full((_width, max(_nd, 0)), -1.0)")
            o(1, f"if _nd > 0 and _p.{f.array} != 0 and _p.vec_ci != 0:")
            o(2, "_ci = __pc_as_i32(_p.vec_ci)")
            o(2, f"_tss = __pc_as_f64(_p.{f.array})")
            o(2, "for _k in range(_width):")
            o(3, "_cell = __pc_np.int64(_ci[_node_index[_k]])")
            o(3, "for _d in range(_nd):")
            o(4, f"_f_{name}[_k, _d] = _tss[_cell * _nd + _d]")

    def numeric_conductance_of(self, o, args):
        """dI/dV by a second kernel call at v + DV, when the method assigns no conductance."""
        if not self.numeric_conductance:
            return
        currents = [n for n in self.current_names() if n in self.kernel.params]
        if "conductance" not in self.kernel.params:
            o(1, "_f_conductance = __pc_np.zeros(_width)")
        if not currents or "v" not in self.kernel.params:
            return
        second = []
        for arg in args:
            name = arg[3:]
            if arg == "_f_v":
                o(1, "_v2 = _f_v + __pc_DV")
                second.append("_v2")
            elif name in currents:
                o(1, f"_d_{name} = __pc_np.zeros(_width)")
                second.append(f"_d_{name}")
            else:
                second.append(arg)
        self.call(o, second)
        o(1, "for _k in range(_width):")
        first = " + ".join(f"_f_{n}[_k]" for n in currents)
        other = " + ".join(f"_d_{n}[_k]" for n in currents)
        o(2, f"_f_conductance[_k] = (({other}) - ({first})) / __pc_DV")

    def write_back(self, o):
        if self.buffers:
            o(1, "for _k in range(_width):")
            values = {f.name: f"_f_{f.name}[_k]" for f in self.buffers}
            for lhs, op, coeff, value in access.current_writes(self.buffers, values, lambda a: f"{a}[_k]"):
                o(2, f"{lhs} {op} {coeff}({value})")
        for name in sorted(self.method.access.writes):
            f = self.plan.get(name)
            if f is None or f.write in (None, Write.INPLACE, Write.BUFFER):
                continue
            o(1, "for _k in range(_width):")
            lhs, op, coeff, value = access.write_op(f, f"_f_{name}[_k]", f"_old_{name}[_k]",
                                                   access.field_index(f) + "[_k]")
            o(2, f"{lhs} {op} {coeff}({value})")
