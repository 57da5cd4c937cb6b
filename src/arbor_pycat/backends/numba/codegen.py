"""Generate the entry function Arbor calls for one method (Python source text).

The entry reads the ppack, prepares every field the kernel uses (from the
field plans of :mod:`arbor_pycat.fields`), calls the kernel, and writes the
results back the way modcc's generated code does:

* currents: ``vec_i[node] += scale * weight * (i + sum of ionic currents)``,
  ionic ``current_density[ion_index] += scale * weight * i_ion``,
  ``vec_g[node] += scale * weight * conductance`` (scale 10 for density
  mechanisms, converting mA/cm² to A/m²; 1 for point and junction ones,
  whose weight already converts nA);
* the conductance, when the method does not assign it, by evaluating the
  kernel a second time at v + DV;
* concentrations: ``x[idx] += w * (new - old)``, or ``x[idx] += w * new`` in
  write_ions; reversal potentials and voltages: plain assignment.
"""
from ... import abi
from ..python import DV

_INDENT = "    "
# Below this mean length of the index's pieces, the indexed loop beats one loop per piece.
_SHORTEST_MEAN_PIECE = 16


class Lines:
    def __init__(self):
        self.lines = []

    def __call__(self, depth, text):
        self.lines.append(_INDENT * depth + text)

    def text(self):
        return "\n".join(self.lines)


class EntryWriter:
    """Writes ``_entry_<method>`` for one kernel."""

    def __init__(self, spec, method, plan, kernel, numeric_conductance, error_code):
        self.spec = spec
        self.method = method
        self.plan = plan
        self.kernel = kernel
        self.numeric_conductance = numeric_conductance
        self.error_code = error_code          # status code for "the kernel raised"
        self.out = Lines()
        self.fields = [plan[name] for name in kernel.params]
        self.written = set(kernel.outputs) if kernel.mode == "scalar" else set(method.access.writes)
        kind = spec.kind
        self.scale = "10.0" if kind == "density" else "1.0"
        self.concentration_weight = "_w[_k]" if kind == "density" else "1.0"

    # -- shared set-up ---------------------------------------------------------
    def _setup(self, o):
        spec = self.spec
        o(1, "_p = __pc_carray(_pp_ptr, 1)[0]")
        o(1, "_width = __pc_np.int64(_p.width)")
        o(1, "_node_index = __pc_carray(__pc_as_i32(_p.node_index), _width)")
        # The scalar form reads per-instance arrays through raw pointers: no negative-index
        # wrap-around on _k, which LLVM cannot rule out in a piece's loop and which
        # would stop it vectorising.
        scalar = self.kernel.mode == "scalar"
        o(1, "_w = __pc_as_f64(_p.weight)" if scalar else "_w = __pc_carray(__pc_as_f64(_p.weight), _width)")
        ions = sorted({f.key[0] if isinstance(f.key, tuple) else f.key
                       for f in self.fields if f.source in ("ion", "ion_total", "valence", "ion_current")})
        if ions:
            o(1, f"_ions = __pc_carray(__pc_as_ion(_p.ion_states), {len(spec.ions)})")
            for k in ions:
                o(1, f"_ion{k}_index = __pc_carray(__pc_as_i32(_ions[{k}].index), _width)")
            for f in self.fields:
                if f.source == "ion_current":
                    o(1, f"_cd{f.key} = __pc_as_f64(_ions[{f.key}].current_density)")
        o(1, "_vec_i = __pc_as_f64(_p.vec_i)")
        o(1, "_vec_g = __pc_as_f64(_p.vec_g)")
        if spec.parameters:
            o(1, f"_params = __pc_carray(__pc_as_u64(_p.parameters), {len(spec.parameters)})")
        if spec.state_vars:
            o(1, f"_states = __pc_carray(__pc_as_u64(_p.state_vars), {len(spec.state_vars)})")
        for f in self.fields:
            self._setup_field(o, f)

    def _setup_field(self, o, f):
        name, source, key = f.name, f.source, f.key
        if source == "scalar":
            o(1, f"_f_{name} = _p.{key}" + (" * 1.0" if key == "dt" else ""))
            if key == "width":
                o(1, "_f_width = _width")
        elif source == "cv" or source == "peer":
            o(1, f"_cv_{name} = __pc_as_f64(_p.{key})")
            if source == "peer":
                o(1, "_peer_index = __pc_carray(__pc_as_i32(_p.peer_index), _width)")
        elif source in ("parameter", "state"):
            table = "_params" if source == "parameter" else "_states"
            if self.kernel.mode == "scalar":
                o(1, f"_a_{name} = __pc_as_f64({table}[{key}])")
            else:
                o(1, f"_a_{name} = __pc_carray(__pc_as_f64({table}[{key}]), _width)")
        elif source == "global":
            o(1, f"_f_{name} = __pc_as_f64(_p.globals)[{key}]")
        elif source == "raw":
            if key == "ppack":
                raise _cannot("pp.raw (Arbor's ppack) is available with the python backend only")
            if key == "multiplicity":
                o(1, "_f_multiplicity = __pc_np.ones(_width, __pc_np.int32)")
                o(1, "if _p.multiplicity != 0:")
                o(2, "_f_multiplicity = __pc_carray(__pc_as_i32(_p.multiplicity), _width)")
            elif key == "node_index":
                o(1, "_f_node_index = _node_index")
            elif key == "peer_index":
                o(1, "_f_peer_index = __pc_carray(__pc_as_i32(_p.peer_index), _width)")
            elif key == "weight":
                o(1, "_f_weight = _w")
        elif source == "ion":
            k, array = key
            o(1, f"_ion_{name} = __pc_as_f64(_ions[{k}].{array})")
            o(1, f"if _ions[{k}].{array} == 0:")
            o(2, f"return {self.error_code('null:' + name)}")
        elif source == "ion_total":
            o(1, f"_ion_{name} = __pc_as_f64(_ions[{key}].current_density)")
        elif source == "valence":
            o(1, f"_f_{name} = __pc_as_f64(_ions[{key}].ionic_charge)[0]")
        elif source == "random":
            slots = max(r.slot for r in self.spec.random) + 1
            o(1, f"_rand_{name} = __pc_as_f64(__pc_carray(__pc_as_u64(_p.random_numbers), {slots})[{self.spec.random[key].slot}])")
        elif source == "time_since_spike":
            pass
        elif source in ("current", "conductance", "ion_current"):
            pass
        else:
            raise AssertionError(source)

    contiguous = False   # while writing the loop for contiguous index arrays

    def _index_array(self, f):
        if f.source == "peer":
            return "_peer_index"
        if f.source in ("ion", "ion_total", "ion_current"):
            ion = f.key[0] if f.source == "ion" else f.key
            return f"_ion{ion}_index"
        return "_node_index"

    def _index_source(self, array):
        """The ppack expression of index ``array`` (a raw pointer)."""
        if array == "_node_index":
            return "_p.node_index"
        if array == "_peer_index":
            return "_p.peer_index"
        return f"_ions[{int(array[len('_ion'):-len('_index')])}].index"

    def _layout_bit(self, array):
        """The bit of the shim's layout flags that says ``array`` is a range, or None."""
        if array == "_node_index":
            return abi.LAYOUT_NODE_INDEX_BIT
        if array == "_peer_index":
            return abi.LAYOUT_PEER_INDEX_BIT
        ion = int(array[len("_ion"):-len("_index")])
        return abi.LAYOUT_FIRST_ION_BIT + ion if ion < abi.LAYOUT_MAX_IONS else None   # then scanned

    def _at(self, array):
        """Where index ``array`` points for instance ``_k`` (an offset while contiguous)."""
        return f"_o{array} + _k" if self.contiguous else f"{array}[_k]"

    def _index(self, f):
        """The index expression of field ``f`` for instance ``_k``."""
        return self._at(self._index_array(f))

    buffered = frozenset()   # fields copied into instance order (_gbuf_<name>) before the loop

    def _load(self, f):
        """Per-instance value of ``f`` (scalar form), or None for set-up scalars."""
        name, source = f.name, f.source
        if name in self.buffered:
            return f"{'0.1 * ' if source == 'ion_total' else ''}_gbuf_{name}[_k]"
        if source in ("cv", "peer"):
            return f"_cv_{name}[{self._index(f)}]"
        if source in ("parameter", "state"):
            return f"_a_{name}[_k]"
        if source == "ion":
            return f"_ion_{name}[{self._index(f)}]"
        if source == "ion_total":
            return f"0.1 * _ion_{name}[{self._index(f)}]"
        if source == "random":
            return f"_rand_{name}[_k]"
        if source in ("current", "conductance", "ion_current"):
            return "0.0"
        if source == "raw":
            return f"_f_{name}[_k]"
        return None

    # -- scalar form -----------------------------------------------------------
    def scalar(self):
        o = self.out
        kernel = self.kernel
        o(0, f"def __pc_entry_{self.method.name}(_pp_ptr, _ev_ptr, _key):")
        self._setup(o)
        indexes = sorted({self._index_array(f) for f in self.fields if f.source in
                          ("cv", "peer", "ion", "ion_total", "ion_current")}
                         | ({"_node_index"} if self._has_currents() else set()))
        self._uniform_reads(o)
        # The loop runs over pieces of instances whose index arrays all go up by one
        # (every instance of a density mechanism on an unbranched cable is one piece;
        # a branched cell has a gap at each fork): inside a piece, Arbor's arrays are
        # read and written contiguously and LLVM vectorises the loop. The shim says in
        # _key which index arrays are ranges over all instances (see abi.LAYOUT_*);
        # then there is one piece and no scan.
        # No try/except: the scalar form only holds code that cannot raise.
        o(1, "_whole = True")
        for array in indexes:
            bit = self._layout_bit(array)
            is_range = f"((_key >> {bit}) & 1) == 1" if bit is not None else f"__pc_is_range({array})"
            o(1, f"_whole = _whole and {is_range}")
        raises = getattr(kernel, "raises", False)
        if raises:
            o(1, "_status = 0")
        if not indexes:
            self._pieces_loop(o, indexes, 1, may_split=False)
        elif self._gathered_fields() and not self._indexed_writes():
            # It writes only per-instance arrays (states): on an index with gaps, what it
            # reads through the index is copied into instance order first, and one loop
            # over every instance vectorises (better than one loop per piece).
            o(1, "if _whole:")
            self._pieces_loop(o, indexes, 2, may_split=False)
            o(1, "else:")
            self._copied_loop(o, 2)
        else:
            # Scattered instances (many short pieces: a channel on one CV of each of many
            # cells, synapses) take one indexed loop: a piece costs a loop set-up.
            breaks = " + ".join(f"__pc_count_breaks(__pc_as_i32({self._index_source(a)}), _width)"
                                for a in indexes)
            o(1, f"if _whole or ({breaks}) * {_SHORTEST_MEAN_PIECE} < _width:")
            self._pieces_loop(o, indexes, 2, may_split=True)
            o(1, "else:")
            self.contiguous = False
            self._scalar_loop(o, 2, "range(_width)")
        self.contiguous = False
        if raises:
            o(1, "if _status != 0:")
            o(2, "return _status")
        self._multiplicity(o)
        o(1, "return 0")
        return o.text()

    def _gathered_fields(self):
        return [f for f in self.fields if f.source in ("cv", "peer", "ion", "ion_total")]

    def _indexed_writes(self):
        """True when the method writes through an index (currents, concentrations, v)."""
        if self._has_currents():
            return True
        return any(self.plan[n].write in ("assign", "blend", "accumulate")
                   for n in self.kernel.outputs if n in self.plan)

    def _copied_loop(self, o, depth):
        """The loop over every instance, reading copies (in instance order) of what the
        method reads through an index; see scalar()."""
        self.contiguous = False
        gathered = self._gathered_fields()
        for f in gathered:
            source = ("_cv_" if f.source in ("cv", "peer") else "_ion_") + f.name
            o(depth, f"_gbuf_{f.name} = __pc_np.empty(_width)")
            o(depth, "for _k in range(_width):")
            o(depth + 1, f"_gbuf_{f.name}[_k] = {source}[{self._index_array(f)}[_k]]")
        self.buffered = {f.name for f in gathered}
        self._scalar_loop(o, depth, "range(_width)")
        self.buffered = frozenset()

    def _pieces_loop(self, o, indexes, depth, may_split):
        """One vectorised loop per piece of the index (one piece where the shim says the
        whole index is a range; ``may_split``: else the pieces are found here)."""
        o(depth, "_start = 0")
        o(depth, "while _start < _width:")
        o(depth + 1, "_stop = _width")
        if may_split:
            o(depth + 1, "if not _whole:")
            for k, array in enumerate(indexes):
                end = f"__pc_run_end(__pc_as_i32({self._index_source(array)}), _start, _width)"
                o(depth + 2, f"_stop = {end}" if k == 0 else f"_stop = min(_stop, {end})")
        for array in indexes:
            o(depth + 1, f"_o{array} = {array}[_start] - _start")
        self.contiguous = True
        self._scalar_loop(o, depth + 1, "range(_start, _stop)")
        o(depth + 1, "_start = _stop")

    def _scalar_loop(self, o, depth, iteration):
        """``for _k in <iteration>``: load, call the kernel, write back (contiguous
        indexing while ``self.contiguous``, else through the index arrays)."""
        kernel = self.kernel
        o(depth, f"for _k in {iteration}:")
        for f in self.fields:
            value = self._load(f)
            if value is not None:
                o(depth + 1, f"_f_{f.name} = {value}")
        args = ", ".join(["_f_" + f.name for f in self.fields] + [p for _, _, p in kernel.uniform_reads])
        o(depth + 1, f"_r = {kernel.name}({args})")
        offset = 1 if getattr(kernel, "raises", False) else 0     # _r[0] is the status
        if offset:
            o(depth + 1, "_status = max(_status, _r[0])")
        results = {name: f"_r[{j + offset}]" for j, name in enumerate(kernel.outputs)}
        self._scalar_numeric_conductance(o, results, depth + 1)
        for lhs, op, coeff, value in self._write_ops(results):
            o(depth + 1, f"{lhs} {op} {coeff}({value})")

    def _uniform_reads(self, o):
        """``pp.x[i]`` with a constant ``i``: read once, before the loop (bounds checked)."""
        for name, index, param in self.kernel.uniform_reads:
            f = self.plan[name]
            position = f"_width + ({index})" if index < 0 else str(index)
            o(1, f"if not ({-index if index < 0 else index + 1} <= _width):")
            o(2, f"return {self.error_code('index:' + name + ':' + str(index))}")
            if f.source in ("parameter", "state"):
                o(1, f"{param} = _a_{name}[{position}]")
            else:
                o(1, f"{param} = _cv_{name}[{self._index_array(f)}[{position}]]")

    def _has_currents(self):
        return any(f.source in ("current", "ion_current", "conductance") for f in self.fields) \
            or self.numeric_conductance

    def _currents(self, results):
        names = [n for n in ("i",) + tuple("i" + ion.name for ion in self.spec.ions) if n in results
                 and self.plan.get(n) is not None and self.plan[n].source in ("current", "ion_current")]
        return names

    def _scalar_numeric_conductance(self, o, results, depth=3):
        if not self.numeric_conductance:
            return
        currents = self._currents(results)
        if not currents or "v" not in self.kernel.params:
            results["conductance"] = "0.0"
            return
        args = ", ".join([("_f_v + __pc_DV" if f.name == "v" else "_f_" + f.name) for f in self.fields]
                         + [p for _, _, p in self.kernel.uniform_reads])
        o(depth, f"_r2 = {self.kernel.name}({args})")
        outputs = self.kernel.outputs
        first = " + ".join(results[n] for n in currents)
        offset = 1 if getattr(self.kernel, "raises", False) else 0     # _r2[0]: the status
        second = " + ".join(f"_r2[{outputs.index(n) + offset}]" for n in currents)
        o(depth, f"_g = (({second}) - ({first})) / __pc_DV")
        results["conductance"] = "_g"

    def _write_ops(self, results):
        """How each result reaches Arbor, per instance ``_k``: ``lhs op coeff(value)``."""
        plan = self.plan
        sw = f"{self.scale} * _w[_k] * "
        ops = []
        currents = self._currents(results)
        if currents:
            ops.append((f"_vec_i[{self._at('_node_index')}]", "+=", sw, " + ".join(results[n] for n in currents)))
            for n in currents:
                f = plan[n]
                if f.source == "ion_current":
                    ops.append((f"_cd{f.key}[{self._index(f)}]", "+=", sw, results[n]))
        if "conductance" in results and plan.get("conductance") is not None:
            ops.append((f"_vec_g[{self._at('_node_index')}]", "+=", sw, results["conductance"]))
        for name, value in results.items():
            f = plan.get(name)
            if f is None or f.source in ("current", "ion_current", "conductance"):
                continue
            ops.append(self._write_op(f, value, f"_f_{name}"))
        return ops

    def _write_op(self, f, new, old):
        """The write of one non-current field for instance ``_k``."""
        name, source = f.name, f.source
        if f.write == "inplace":
            return (f"_a_{name}[_k]", "=", "", new)
        target = f"_cv_{name}" if source == "cv" else f"_ion_{name}"
        if f.write == "assign":
            return (f"{target}[{self._index(f)}]", "=", "", new)
        weight = f"{self.concentration_weight} * "
        if f.write == "blend":
            return (f"{target}[{self._index(f)}]", "+=", weight, f"{new} - {old}")
        if f.write == "accumulate":
            return (f"{target}[{self._index(f)}]", "+=", weight, new)
        raise AssertionError(f.write)

    def _write_one(self, o, depth, f, new, old):
        """Write back one non-current field (array form; ``_k`` is the instance)."""
        lhs, op, coeff, value = self._write_op(f, new, old)
        o(depth, f"{lhs} {op} {coeff}({value})")

    def _multiplicity(self, o):
        if self.method.name != "init_mechanism" or not self.spec.state_vars:
            return
        o(1, "if _p.multiplicity != 0:")
        o(2, "_m = __pc_carray(__pc_as_i32(_p.multiplicity), _width)")
        o(2, f"for _j in range({len(self.spec.state_vars)}):")
        o(3, "_s = __pc_carray(__pc_as_f64(_states[_j]), _width)")
        o(3, "for _k in range(_width):")
        o(4, "_s[_k] *= _m[_k]")

    # -- array form ------------------------------------------------------------
    def array(self):
        o = self.out
        kernel = self.kernel
        o(0, f"def __pc_entry_{self.method.name}(_pp_ptr, _ev_ptr, _key):")
        if self.method.name == "apply_events" and getattr(kernel, "events_only", False):
            # Every statement works on the events: with none, nothing to do (Arbor
            # calls this every step, mostly with no events).
            o(1, "_ev_address0 = __pc_address_of(_ev_ptr)")
            o(1, "if _ev_address0 == 0:")
            o(2, "return 0")
            o(1, "_stream0 = __pc_carray(__pc_as_u64(_ev_address0), 2)")
            o(1, "if _stream0[1] <= _stream0[0]:")
            o(2, "return 0")
        self._setup(o)
        for f in self.fields:
            self._array_prepare(o, f)
        args = [f"_f_{f.name}" for f in self.fields]
        if self.method.name == "apply_events":
            o(1, "_ev_n = 0")
            o(1, "_ev_target = __pc_np.zeros(0, __pc_np.int64)")
            o(1, "_ev_weight = __pc_np.zeros(0)")
            o(1, "_ev_address = __pc_address_of(_ev_ptr)")
            o(1, "if _ev_address != 0:")
            o(2, "_stream = __pc_carray(__pc_as_u64(_ev_address), 2)")
            o(2, "_ev_n = __pc_np.int64((_stream[1] - _stream[0]) // 8)")
            o(2, "_events = __pc_carray(__pc_as_event(_stream[0]), _ev_n)")
            o(2, "_ev_target = __pc_np.empty(_ev_n, __pc_np.int64)")
            o(2, "_ev_weight = __pc_np.empty(_ev_n)")
            o(2, "for _j in range(_ev_n):")
            o(3, "_ev_target[_j] = _events[_j].mech_index")
            o(3, "_ev_weight[_j] = _events[_j].weight")
            args += ["_ev_target", "_ev_weight", "_ev_n"]
        o(1, "try:")
        o(2, f"_status = {kernel.name}({', '.join(args)})")
        o(1, "except Exception:")
        o(2, f"return {self.error_code('raised')}")
        o(1, "if _status != 0:")
        o(2, "return _status")
        self._array_numeric_conductance(o, args)
        self._array_write_back(o)
        self._multiplicity(o)
        o(1, "return 0")
        return o.text()

    def _array_prepare(self, o, f):
        name, source = f.name, f.source
        if source in ("parameter", "state"):
            o(1, f"_f_{name} = _a_{name}")
        elif source in ("cv", "peer", "ion", "ion_total"):
            o(1, f"_f_{name} = __pc_np.empty(_width)")
            if f.write == "blend":
                o(1, f"_old_{name} = __pc_np.empty(_width)")
            o(1, "for _k in range(_width):")
            o(2, f"_f_{name}[_k] = {self._load(f)}")
            if f.write == "blend":
                o(2, f"_old_{name}[_k] = _f_{name}[_k]")
        elif source == "random":
            o(1, f"_f_{name} = __pc_carray(_rand_{name}, _width)")
        elif source in ("current", "conductance", "ion_current"):
            o(1, f"_f_{name} = __pc_np.zeros(_width)")
        elif source == "time_since_spike":
            o(1, "_nd = __pc_np.int64(_p.n_detectors)")
            o(1, f"_f_{name} = __pc_np.full((_width, max(_nd, 0)), -1.0)")
            o(1, "if _nd > 0 and _p.time_since_spike != 0 and _p.vec_ci != 0:")
            o(2, "_ci = __pc_as_i32(_p.vec_ci)")
            o(2, "_tss = __pc_as_f64(_p.time_since_spike)")
            o(2, "for _k in range(_width):")
            o(3, "_cell = __pc_np.int64(_ci[_node_index[_k]])")
            o(3, "for _d in range(_nd):")
            o(4, f"_f_{name}[_k, _d] = _tss[_cell * _nd + _d]")

    def _array_numeric_conductance(self, o, args):
        if not self.numeric_conductance:
            return
        currents = [f.name for f in self.fields if f.source in ("current", "ion_current")]
        if "conductance" not in [f.name for f in self.fields]:
            o(1, "_f_conductance = __pc_np.zeros(_width)")
        if not currents or "v" not in [f.name for f in self.fields]:
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
        o(1, "try:")
        o(2, f"_status = {self.kernel.name}({', '.join(second)})")
        o(1, "except Exception:")
        o(2, f"return {self.error_code('raised')}")
        o(1, "if _status != 0:")
        o(2, "return _status")
        o(1, "for _k in range(_width):")
        first = " + ".join(f"_f_{n}[_k]" for n in currents)
        other = " + ".join(f"_d_{n}[_k]" for n in currents)
        o(2, f"_f_conductance[_k] = (({other}) - ({first})) / __pc_DV")

    def _array_write_back(self, o):
        plan = self.plan
        currents = [f for f in self.fields if f.source in ("current", "ion_current")]
        has_g = self.numeric_conductance or any(f.source == "conductance" for f in self.fields)
        if currents or has_g:
            o(1, "for _k in range(_width):")
            o(2, f"_sw = {self.scale} * _w[_k]")
            if currents:
                o(2, f"_vec_i[_node_index[_k]] += _sw * ({' + '.join(f'_f_{f.name}[_k]' for f in currents)})")
            for f in currents:
                if f.source == "ion_current":
                    o(2, f"_cd{f.key}[_ion{f.key}_index[_k]] += _sw * _f_{f.name}[_k]")
            if has_g:
                o(2, "_vec_g[_node_index[_k]] += _sw * _f_conductance[_k]")
        for name in sorted(self.written):
            f = plan.get(name)
            if f is None or f.write in (None, "inplace", "buffer"):
                continue
            o(1, "for _k in range(_width):")
            self._write_one(o, 2, f, f"_f_{name}[_k]", f"_old_{name}[_k]")


def _cannot(message):
    from .. import CannotCompile
    return CannotCompile(message)


def module_prelude():
    return ("import numpy as __pc_np\n"
            "import math as __pc_math\n"
            f"__pc_DV = {DV!r}\n")
