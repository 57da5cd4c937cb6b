"""The value each ``pp`` field shows, and its writer, made from the field's decode.

A field is a view of Arbor's memory where it can be (parameters, states, a
per-CV array whose index is a range), else a per-instance copy gathered
through its index, refreshed before each call; writes reach Arbor as the
decode's :class:`~arbor_pycat.spec.fields.Write` says.
"""
import numpy as np

from ... import abi
from ...errors import MechanismError
from ...spec.fields import Index, Write
from .assign import assign
from .views import Gather, RawPPack, readonly, view


class FieldBuilder:
    """The part of :class:`~.invocation.Invocation` that makes the fields."""

    def _writer(self, name, target, mark=True):
        label = self.label
        dynamic = self.dynamic_writes

        def write(value):
            if value is not target:
                assign(target, value, label, name)
            if mark:
                dynamic.add(name)
        return write

    def _binding_writer(self, name):
        """Writer of a buffered field (a current, the conductance).

        A fresh float64 array of the right shape (the result of an expression:
        it owns its data) is bound without a copy and read at scatter time;
        anything else (scalars, views such as ``pp.gbar``, which later in-place
        updates of ``pp.i`` must not modify) is copied into the buffer
        currently installed for ``name``."""
        label, owned, dynamic, shape = self.label, self.owned, self.dynamic_writes, (self.width,)
        invocation = self

        def write(value):
            if (type(value) is np.ndarray and value.base is None and value.shape == shape
                    and value.dtype == np.float64):
                invocation.fields[name] = value
            else:
                buffer = owned[name]
                assign(buffer, value, label, name)
                invocation.fields[name] = buffer
            dynamic.add(name)
        return write

    def weights(self, f):
        """The factor of a weighted write per instance: the CV weight where the decode
        says ``weighted``, else 1."""
        return self.weight if f.weighted else np.ones(self.width)

    # -- Arbor's arrays -----------------------------------------------------------
    def _index(self, index, ion=None):
        """The index array (instance -> element) of ``index``."""
        pp, width = self.ppack, self.width
        if index is Index.NODE:
            return self.node_index
        if index is Index.PEER:
            return view(pp.peer_index, width, abi.index_t)
        if index is Index.ION:
            array = view(pp.ion_states[ion].index, width, abi.index_t)
            return array if array is not None else np.zeros(0, dtype=np.int32)
        raise AssertionError(index)

    def gather(self, array, index, ion=None):
        """The :class:`Gather` of Arbor's ``array`` (a ppack array, or ion ``ion``'s)
        through ``index``, made once per invocation."""
        key = (array, index, ion)
        found = self.gathers.get(key)
        if found is not None:
            return found
        indices = self._index(index, ion)
        n = int(indices.max()) + 1 if self.width else 0
        if index is Index.PEER and self.width:
            n = max(n, self.n_cv)        # the peer's CV may lie beyond the instances' ones
        owner = self.ppack if ion is None else self.ppack.ion_states[ion]
        values = view(getattr(owner, array), n)
        found = self.gathers[key] = Gather(values, indices) if values is not None else None
        return found

    # -- one field ------------------------------------------------------------------
    def _prepare(self, f, pp):
        """(value shown as pp.<name>, writer or None) for field ``f``."""
        name, width = f.name, self.width
        if f.role == "ppack":
            return RawPPack(pp, self.n_cv, self.label), None
        if f.write is Write.BUFFER:
            buffer = np.zeros(width)
            self.current_fields.append((f, buffer))
            self.owned[name] = buffer
            return buffer, self._binding_writer(name)
        if f.index is Index.NONE:
            return self._single_value(f, pp), None
        if f.index is Index.INSTANCE:
            return self._per_instance(f, pp)
        if f.index is Index.DETECTORS:
            return self._time_since_spike(f, pp), None
        if f.gathered:
            return self._gathered(f)
        raise MechanismError(f"{self.label}: no python-backend reading of pp.{name} ({f.row()})")

    def _single_value(self, f, pp):
        if f.table is None:
            # A ppack scalar; Arbor's dt changes from step to step (the steps end exactly
            # at epoch and sample times): read it at every call, as modcc does.
            def refresh(ppack=pp, name=f.name, array=f.array):
                self.fields[name] = getattr(ppack, array)
            self.refreshers.append(refresh)
            return getattr(pp, f.array)
        if f.table == "globals":
            return float(pp.globals[f.slot])
        if f.table == "ion_states":
            return float(getattr(pp.ion_states[f.ion], f.array)[0])
        raise AssertionError(f.row())

    def _per_instance(self, f, pp):
        width = self.width
        if f.table is None:              # Arbor's own index and weight arrays: read-only
            array = view(getattr(pp, f.array), width, abi.index_t if f.dtype == "index" else abi.value_t)
            return (readonly(array) if array is not None else None), None
        if f.table in ("parameters", "state_vars"):
            array = view(getattr(pp, f.table)[f.slot], width)
            if f.write is Write.INPLACE:
                return array, self._writer(f.name, array, mark=False)
            return readonly(array), None
        if f.table == "random_numbers":
            self.random.append((f.name, f.slot))
            return None, None            # a fresh view at each call
        raise AssertionError(f.row())

    def _time_since_spike(self, f, pp):
        width, n_det = self.width, pp.n_detectors
        values = np.full((width, max(n_det, 0)), -1.0)
        if n_det > 0 and width and getattr(pp, f.array) and pp.vec_ci:
            n_cv = int(self.node_index.max()) + 1
            cells = view(pp.vec_ci, n_cv, abi.index_t)[self.node_index]
            index = cells[:, None] * n_det + np.arange(n_det)[None, :]
            tss = view(getattr(pp, f.array), int(index.max()) + 1)
            self.refreshers.append(lambda: np.take(tss, index, out=values))
        return readonly(values)

    def _gathered(self, f):
        gather = self.gather(f.array, f.index, f.ion)
        if gather is None:
            if f.table == "ion_states":
                raise MechanismError(f"{self.label}: Arbor passed no {f.array} for pp.{f.name}")
            return None, None
        if f.scale != 1.0:
            if f.write is not None:
                raise MechanismError(f"{self.label}: pp.{f.name} is scaled and written, which no "
                                     f"rule of Arbor's ABI defines ({f.row()})")
            values = np.empty(self.width)
            scale = f.scale

            def refresh(gather=gather, values=values):
                if not gather.contiguous:
                    gather.refresh()
                np.multiply(gather.values, scale, out=values)
            self.refreshers.append(refresh)
            return readonly(values), None
        if f.write is None:
            if not gather.contiguous:
                self.refreshers.append(gather.refresh)
            return readonly(gather.values), None
        return self._writable_gather(f, gather)

    def _writable_gather(self, f, gather):
        """A writable per-instance copy, scattered back after the call if written.

        Written means assigned (``pp.x = ...``, ``pp.x[...] = ...``) or changed
        through any other name for the same array (``x = pp.x; x[:] = ...``):
        the copy is compared with what it held before the call, so that every
        write reaches Arbor, as it does where the copy is a view of Arbor's memory."""
        name, mode = f.name, f.write
        if mode is Write.ASSIGN and gather.contiguous:
            view_ = gather.values    # writes go straight to Arbor's memory: that is assignment
            return view_, self._writer(name, view_, mark=False)
        values = np.empty(len(gather.index))
        old = np.empty(len(gather.index))

        def refresh():
            gather.refresh()
            values[...] = gather.values
            old[...] = values
        self.refreshers.append(refresh)
        weights = self.weights(f)

        if mode is Write.ASSIGN:
            def finish():
                gather.assign(values)
        elif mode is Write.BLEND:         # modcc outside write_ions: x += w * (new - old)
            def finish():
                gather.add(weights * (values - old))
        elif mode is Write.ACCUMULATE:    # modcc in write_ions: x += w * new (Arbor reset x before)
            def finish():
                gather.add(weights * values)
        else:
            raise MechanismError(f"{self.label}: pp.{name}: no write {mode} of a gathered field")

        def changed():
            return not np.array_equal(values, old, equal_nan=True)
        self.finishers.append((name, finish, changed))
        return values, self._writer(name, values)
