"""The entry of a scalar kernel: a loop over instances, one kernel call each.

The loop runs over pieces of instances whose index arrays all go up by one
(every instance of a density mechanism on an unbranched cable is one piece; a
branched cell has a gap at each fork): inside a piece, Arbor's arrays are read
and written contiguously and LLVM vectorises the loop. The shim says in
``_key`` which index arrays are ranges over all instances (see
:mod:`arbor_pycat.abi.contract`); then there is one piece and no scan.
Scattered instances (many short pieces) take one indexed loop instead, and a
method that writes states only first copies what it reads through an index
into instance order and runs the same loop over the copies (its kernel is
compiled into the entry once).

Values of the temperature alone (:mod:`.hoist`) are computed once per call
where every instance has the same temperature; otherwise one indexed loop
computes them per instance.
"""
import functools

from ...abi import contract
from ...spec.fields import Write
from . import access
from .entry import Entry

# Below this mean length of the index's pieces, the indexed loop beats one loop per piece.
SHORTEST_MEAN_PIECE = 16
# From this many instances on, the entry checks whether the temperature is uniform (hoist.py).
SHORTEST_UNIFORM = 8
# The instance part of a status in the entry's loop (see loop()): Arbor's
# widths are below 2**32.
_INSTANCES = (1 << 32) - 1
_CODE = (1 << contract.STATUS_CODE_BITS) - 1      # the message code: a status's low bits


class ScalarEntry(Entry):
    scalar_form = True
    contiguous = False       # while writing the loop of a piece
    per_instance_prelude = False   # while writing the loop that calls the prelude per instance
    through_copies = False   # gathered fields are read through _a_<name> (Arbor's array or a copy)

    def text(self):
        o = self.out
        kernel = self.kernel
        self.header(o)
        self.setup(o)
        prelude = getattr(kernel, "prelude", None)
        if prelude is not None and not prelude.kernel_reads_field:
            access.setup(o, self.plan[prelude.field], self.spec, self.scalar_form, self.error_code)
        indexes = sorted({access.field_index(f) for f in self.fields if f.gathered}
                         | {index for f in self.buffers for _, index, _, _ in access.targets(f)})
        self.uniform_reads(o)
        # No try/except: the scalar form only holds code that cannot raise.
        o(1, f"_whole = {self.all_ranges(indexes)}")
        raises = getattr(kernel, "raises", False)
        if raises:
            o(1, "_status = 0")
        if prelude is None:
            self.loops(o, indexes, 1)
        else:
            # Values of the temperature alone (hoist.py): computed once where every
            # instance has the same temperature, for each instance where not.
            self.prelude_values(o, prelude)
            o(1, "if _pu:")
            self.prelude_call(o, prelude, 2)
            self.loops(o, indexes, 2)
            o(1, "else:")
            self.per_instance_prelude = True
            self.contiguous = False
            self.loop(o, 2, "range(_width)")
            self.per_instance_prelude = False
        self.contiguous = False
        if raises:
            o(1, "if _status != 0:")
            if getattr(kernel, "records", False):
                self.record(o, 2)
            o(2, f"return _status & {_CODE}")
        self.multiplicity(o)
        o(1, "return 0")
        return o.text()

    def loops(self, o, indexes, depth):
        """The loops over the instances (see text())."""
        if not indexes:
            self.pieces_loop(o, indexes, depth, may_split=False)
        else:
            # The shim hands the pieces (where any index array of the mechanism breaks) in
            # _pieces_ptr, computed once per ppack; NULL when there is one. Long pieces:
            # one vectorised loop each. Scattered instances (many short pieces: a channel
            # on one CV of each of many cells, synapses): a method that writes only
            # per-instance arrays (states) first copies what it reads through the index
            # into instance order, and one loop over every instance vectorises; others
            # take one indexed loop.
            d = depth
            o(d, "_pieces_at = __pc_address_of(_pieces_ptr)")
            o(d, "_n_pieces = __pc_piece_count(_pieces_ptr, _whole, _width)")
            if self.gathered_fields() and not self.indexed_writes():
                self.pieces_or_copies_loop(o, indexes, d)
                return
            o(d, f"if _whole or (_pieces_at != 0 and _n_pieces * {SHORTEST_MEAN_PIECE} < _width):")
            self.pieces_loop(o, indexes, d + 1, may_split=True)
            o(d, "else:")
            self.contiguous = False
            self.loop(o, d + 1, "range(_width)")

    def pieces_or_copies_loop(self, o, indexes, depth):
        """The loop over the pieces, or over copies (in instance order) of what the
        method reads through an index where the pieces are short: one loop, so that
        the kernel is compiled into the entry once. For methods that write only
        per-instance arrays."""
        d = depth
        gathered = self.gathered_fields()
        o(d, f"_copied = not (_whole or (_pieces_at != 0 and _n_pieces * {SHORTEST_MEAN_PIECE} < _width))")
        for f in gathered:
            o(d, f"_a_{f.name} = _s_{f.name}")
        o(d, "if _copied:")
        for f in gathered:
            o(d + 1, f"_a_{f.name} = __pc_gathered(_s_{f.name}, {access.field_index(f)}, _width)")
        o(d + 1, "if " + " or ".join(f"__pc_address_of(_a_{f.name}) == 0" for f in gathered) + ":")
        for f in gathered:
            o(d + 2, f"__pc_release(_a_{f.name})")      # (free(NULL) does nothing)
        o(d + 2, f"return {self.error_code('memory')}")
        self.through_copies = True
        self.pieces_loop(o, indexes, d, may_split=True, copies=True)
        self.through_copies = False
        o(d, "if _copied:")
        for f in gathered:
            o(d + 1, f"__pc_release(_a_{f.name})")

    def prelude_values(self, o, prelude):
        """``_pu``: every instance has the same value ``_pt`` of the prelude's field, bit
        for bit (see hoist.py). Below SHORTEST_UNIFORM instances the prelude runs per
        instance (there is no loop to save it from)."""
        f = self.plan[prelude.field]
        array = access.field_index(f)    # the temperature is a CV's: read through an index
        o(1, "_pt = 0.0")
        o(1, "_pu = False")
        o(1, f"if _width >= {SHORTEST_UNIFORM}:")
        o(2, f"_pt = {access.load(f, array + '[0]')}")
        o(2, "_pbits = __pc_bits_of(_pt)")
        o(2, "_pdiff = 0")
        o(2, f"if {self.is_range(array)}:")
        o(3, f"_o_first = {array}[0]")
        o(3, "for _k in range(_width):")
        o(4, f"_pdiff |= __pc_bits_of({access.load(f, '_o_first + _k')}) ^ _pbits")
        o(2, "else:")
        o(3, "for _k in range(_width):")
        o(4, f"_pdiff |= __pc_bits_of({access.load(f, array + '[_k]')}) ^ _pbits")
        o(2, "_pu = _pdiff == 0")

    @classmethod
    def all_ranges(cls, indexes):
        """The test that every index array in ``indexes`` is a range over all instances:
        one mask of the shim's layout bits, and a scan of any array that has none."""
        bits = [access.layout_bit(array) for array in indexes]
        mask = sum(1 << bit for bit in bits if bit is not None)
        tests = [f"(_key & {mask}) == {mask}"] if mask else []
        tests += [cls.is_range(array) for array, bit in zip(indexes, bits) if bit is None]
        return " and ".join(tests) or "True"

    @staticmethod
    def is_range(array):
        """The test that index ``array`` is a range over all instances (the shim's layout
        bit, or a scan where it has none)."""
        bit = access.layout_bit(array)
        # (the scan takes an array: the scalar form holds index arrays as raw pointers)
        return (f"((_key >> {bit}) & 1) == 1" if bit is not None
                else f"__pc_is_range(__pc_carray({array}, _width))")

    def prelude_call(self, o, prelude, depth, temperature="_pt"):
        """The prelude's values (kernel arguments) for ``temperature``: the one every
        instance has (``_pt``), or one instance's."""
        o(depth, f"_pv = {prelude.name}({temperature})")
        for j, value in enumerate(prelude.values):
            o(depth, f"{value} = _pv[{j}]")

    # -- where an index points for instance _k ---------------------------------
    def at(self, array):
        return f"_o{array} + _k" if self.contiguous else f"{array}[_k]"

    def gathered_fields(self):
        return [f for f in self.fields if f.gathered]

    def indexed_writes(self):
        """True when the method writes through an index (currents, concentrations, v)."""
        if self.buffers:
            return True
        return any(self.plan[n].write in (Write.ASSIGN, Write.BLEND, Write.ACCUMULATE)
                   for n in self.kernel.outputs if n in self.plan)

    def load(self, f):
        array = f"_a_{f.name}" if self.through_copies and f.gathered else None
        return access.load(f, self.at(access.field_index(f)) if f.gathered else None, array,
                           self.read)

    # -- which of Arbor's arrays an access touches (ppack.load_scoped) -----------
    @functools.cached_property
    def scopes(self):
        """{pointer variable: scope number}: one number per distinct storage of Arbor's
        (two variables for one array share it), the first MAX_SCOPES storages only."""
        storages = {"_w": "__pc_as_f64(_p.weight)"}
        for f in self.fields:
            pointer = access.storage(f)
            if pointer is not None:
                storages[f"_s_{f.name}"] = storages[f"_a_{f.name}"] = pointer
        for f in self.buffers:
            for variable, _, target, ion in access.targets(f):
                storages[variable] = access.target_storage(target, ion)
        numbers = {storage: k for k, storage in enumerate(dict.fromkeys(storages.values()))}
        return {variable: numbers[storage] for variable, storage in storages.items()
                if numbers[storage] < access.MAX_SCOPES}

    def read(self, array, index):
        """``array[index]``, told to LLVM as a read of its own array."""
        number = self.scopes.get(array)
        return access.plain(array, index) if number is None else f"__pc_ld({array}, {index}, {number})"

    def write(self, o, depth, lhs, op, coeff, value, keep=None):
        """``lhs op coeff(value)``, told to LLVM as a write of its own array; where
        ``keep`` (a condition) is false, ``lhs`` keeps its value (a select, not a
        branch: the loop still vectorises)."""
        assert op in ("=", "+=")
        number = self.scopes.get(lhs.array)
        term = f"{coeff}({value})"
        if keep is not None:
            old = "0.0" if op == "+=" else self.read(lhs.array, lhs.index)
            term = f"({term} if {keep} else {old})"
        if number is None:
            o(depth, f"{lhs} {op} {term}")
            return
        new = term if op == "=" else f"{self.read(lhs.array, lhs.index)} + {term}"
        o(depth, f"__pc_st({lhs.array}, {lhs.index}, {new}, {number})")

    # -- loops -------------------------------------------------------------------
    def pieces_loop(self, o, indexes, depth, may_split, copies=False):
        """One vectorised loop per piece of the index (one piece where the shim says the
        whole index is a range; ``may_split``: else the shim's pieces, see text();
        ``copies``: one piece, at offset 0, where ``_copied``)."""
        o(depth, "_start = 0")
        if may_split:
            o(depth, "_piece = 0")
        o(depth, "while _start < _width:")
        o(depth + 1, "_stop = _width")
        inner = depth + 1
        if copies:
            for array in indexes:
                o(depth + 1, f"_o{array} = 0")
            o(depth + 1, "if not _copied:")
            inner = depth + 2
        if may_split:
            o(inner, "if not _whole:")
            o(inner + 1, "_piece += 1")
            o(inner + 1, "_stop = __pc_np.int64(__pc_as_i32(_pieces_at)[_piece])")
        for array in indexes:
            o(inner, f"_o{array} = {array}[_start] - _start")
        self.contiguous = True
        self.loop(o, depth + 1, "range(_start, _stop)")
        o(depth + 1, "_start = _stop")

    def loop(self, o, depth, iteration):
        """``for _k in <iteration>``: load, call the kernel, write back."""
        kernel = self.kernel
        o(depth, f"for _k in {iteration}:")
        for f in self.fields:
            value = self.load(f)
            if value is not None:
                o(depth + 1, f"_f_{f.name} = {value}")
        prelude = getattr(kernel, "prelude", None)
        if prelude is not None and self.per_instance_prelude:
            self.prelude_call(o, prelude, depth + 1, self.load(self.plan[prelude.field]))
        o(depth + 1, f"_r = {kernel.name}({self.kernel_args()})")
        offset = 1 if getattr(kernel, "raises", False) else 0     # _r[0] is the status
        if offset:
            # the first instance's status where two have the same group (see
            # Lowering.set_status): its instance part is larger
            o(depth + 1, f"_status = max(_status, (_r[0] + (({_INSTANCES} - _k) << "
                         f"{contract.STATUS_CODE_BITS})) if _r[0] != 0 else 0)")
        results = {name: f"_r[{j + offset}]" for j, name in enumerate(kernel.outputs)}
        self.numeric_conductance_of(o, results, depth + 1)
        # an instance that raised keeps its inputs, for record() to run it again
        keep = "_r[0] == 0" if getattr(kernel, "records", False) else None
        for lhs, op, coeff, value in self.write_ops(results):
            self.write(o, depth + 1, lhs, op, coeff, value, keep if self.read_back(lhs) else None)

    def read_back(self, lhs):
        """True unless the kernel surely reads nothing of ``lhs``'s array (a current
        buffer, say): where it may, an instance that raised must keep it. (A buffered
        current starts at 0 for the kernel: it reads none of Arbor's arrays.)"""
        number = self.scopes.get(lhs.array)
        read = self.read_storages
        return number is None or None in read or number in read

    @functools.cached_property
    def read_storages(self):
        """The scope numbers (see scopes) of the arrays the kernel's inputs come from;
        None among them for one the scopes do not number."""
        return {self.scopes.get(f"_s_{f.name}") for f in self.fields
                if self.load(f) is not None and f.write is not Write.BUFFER}

    def record(self, o, depth):
        """The kernel once more, for the instance whose raise fails the run and with the
        raise record: it writes there the numbers its message formats (messages.py).
        That instance's results were not written back (loop()): it computes again
        from the same values."""
        o(depth, f"_k = {_INSTANCES} - ((_status >> {contract.STATUS_CODE_BITS}) & {_INSTANCES})")
        o(depth, "if _k < 0 or _k >= _width:")        # (cannot happen: never read out of bounds)
        o(depth + 1, f"return _status & {_CODE}")
        contiguous, copies = self.contiguous, self.through_copies
        self.contiguous = self.through_copies = False      # read from Arbor's arrays, through the index
        for f in self.fields:
            value = self.load(f)
            if value is not None:
                o(depth, f"_f_{f.name} = {value}")
        prelude = getattr(self.kernel, "prelude", None)
        if prelude is not None:
            self.prelude_call(o, prelude, depth, self.load(self.plan[prelude.field]))
        o(depth, f"_r = {self.kernel.name}({self.kernel_args(record='__pc_address_of(_rec_ptr)')})")
        self.contiguous, self.through_copies = contiguous, copies

    def kernel_args(self, shifted_v=False, record="0"):
        """The kernel's arguments for instance ``_k`` (``shifted_v``: at v + DV;
        ``record``: the raise record's address, 0 for none)."""
        kernel = self.kernel
        prelude = getattr(kernel, "prelude", None)
        return ", ".join([("_f_v + __pc_DV" if shifted_v and f.name == "v" else "_f_" + f.name)
                          for f in self.fields]
                         + [p for _, _, p in kernel.uniform_reads]
                         + [record] * getattr(kernel, "records", False)
                         + ["_k"] * getattr(kernel, "formats_index", False)
                         + (list(prelude.values) if prelude is not None else []))

    def uniform_reads(self, o):
        """``pp.x[i]`` with a constant ``i``: read once, before the loop (bounds checked)."""
        for name, index, param in self.kernel.uniform_reads:
            f = self.plan[name]
            position = f"_width + ({index})" if index < 0 else str(index)
            o(1, f"if not ({-index if index < 0 else index + 1} <= _width):")
            o(2, f"return {self.error_code('index:' + name + ':' + str(index))}")
            if f.gathered:
                o(1, f"{param} = _s_{name}[{access.field_index(f)}[{position}]]")
            else:
                o(1, f"{param} = _s_{name}[{position}]")

    def numeric_conductance_of(self, o, results, depth):
        """dI/dV by a second kernel call at v + DV, when the method assigns no conductance."""
        if not self.numeric_conductance:
            return
        currents = [n for n in self.current_names() if n in results]
        if not currents or "v" not in self.kernel.params:
            results["conductance"] = "0.0"
            return
        o(depth, f"_r2 = {self.kernel.name}({self.kernel_args(shifted_v=True)})")
        outputs = self.kernel.outputs
        first = " + ".join(results[n] for n in currents)
        offset = 1 if getattr(self.kernel, "raises", False) else 0     # _r2[0]: the status
        second = " + ".join(f"_r2[{outputs.index(n) + offset}]" for n in currents)
        o(depth, f"_g = (({second}) - ({first})) / __pc_DV")
        results["conductance"] = "_g"

    def write_ops(self, results):
        """How each result reaches Arbor, per instance ``_k``: ``lhs op coeff(value)``."""
        buffers = [f for f in self.buffers if f.name in results]
        ops = access.current_writes(buffers, results, self.at, self.read)
        for name, value in results.items():
            f = self.plan.get(name)
            if f is None or f.write is Write.BUFFER:
                continue
            ops.append(access.write_op(f, value, f"_f_{name}",
                                       self.at(access.field_index(f)) if f.gathered else None, self.read))
        return ops
