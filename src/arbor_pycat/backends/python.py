"""The python backend: the shim calls the user's methods through Python's C API.

Each method gets a ``pp`` whose fields are numpy arrays over Arbor's memory,
or per-instance copies gathered through Arbor's index arrays. Views are built
once per ppack (the shim hands every call a fingerprint of the ppack's
pointers and of the simulation) and reused; per call, only what changes
(gathered inputs, random numbers, events) is refreshed, and only what the
method writes is scattered back.
"""
import ctypes
import functools
import gc
import sys
import threading
import traceback
import warnings

import numpy as np

from .. import abi
from .. import fields as F
from ..errors import MechanismError, MechanismRuntimeError, _remember

DV = 1e-3   # mV: step of the numeric dI/dV when compute_currents assigns no conductance
_MAX_CACHED = 64


def compile(spec, shim):
    return PythonMechanism(spec, shim)


class PythonMechanism:
    backend = "python"

    def __init__(self, spec, shim):
        self.spec = spec
        try:
            self.instance = spec.cls()
        except Exception as exc:
            raise MechanismError(f"{spec.label}: creating the mechanism object "
                                 f"{spec.cls.__qualname__}() failed: {type(exc).__name__}: {exc}") from exc
        self.messages = {}
        self.callbacks = {}
        # The shim calls each runner through Python's C API with
        # (ppack address, events address, fingerprint) and keeps it alive;
        # it also bumps the fingerprint at every init, invalidating cached views.
        for name, method in spec.methods.items():
            self.callbacks[name] = MethodRunner(spec, method, self.instance, shim)


class MethodRunner:
    """What the shim calls for one method of one mechanism: f(ppack, events, fingerprint) -> int."""

    def __init__(self, spec, method, instance, shim):
        self.spec = spec
        self.method = method
        self.bound = getattr(instance, method.name)
        self.shim = shim
        self.plan = F.plan(spec, method.name)
        self.invocations = {}

    def __call__(self, address, events_address, key):
        invocation = None
        try:
            invocation = self.invocations.get(key)
            if invocation is None:
                if len(self.invocations) >= _MAX_CACHED:
                    self.invocations.clear()
                invocation = Invocation(self, address)
                self.invocations[key] = invocation
            invocation.run(events_address)
            return 0
        except BaseException as exc:   # never let an exception cross into Arbor
            if invocation is not None and invocation.dead:
                self.invocations.pop(key, None)
            return self.fail(exc)

    def fail(self, exc):
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, KeyboardInterrupt):
            # Ctrl-C reached Python inside the method: say so as the shim does
            # when it stops a run, and raise KeyboardInterrupt again in the main
            # thread once sim.run() has returned.
            message = (f"arbor_pycat: KeyboardInterrupt (Ctrl-C): the simulation was interrupted "
                       f"while {self.spec.label} ran {self.method.name}\n\nOriginal traceback:\n{details}")
            import _thread
            from .. import bridge
            bridge._interrupted_in_python[0] = True
            _thread.interrupt_main()
        else:
            message = (f"arbor_pycat: {self.spec.label} failed in {self.method.name}: "
                       f"{type(exc).__name__}: {exc}\n\nOriginal traceback:\n{details}")
        error = MechanismRuntimeError(message)
        error.__cause__ = exc
        _remember(error)
        try:
            self.shim.set_error(message)
        except BaseException:
            pass
        return -1


def _view(pointer, count, ctype=abi.value_t):
    """A numpy array over ``count`` elements at a ctypes pointer (None for NULL)."""
    if not pointer or count <= 0:
        return None
    return _view_at(ctypes.cast(pointer, ctypes.c_void_p).value, count, ctype)


# Reference counts in _kept_random: the view (pp's dict, the local name, the
# argument); its array (the cache, the view's base, the argument).
_VIEW_REFS, _ROOT_REFS = 3, 3
_roots = threading.local()     # .made: arrays over Arbor's memory made by the Invocation being set up


def _view_at(address, count, ctype=abi.value_t):
    """A numpy array over ``count`` elements at an integer address.

    Every view or copy-free derivative of it (a slice, a reshape, a read-only
    view) references it as its ``base``, so its reference count tells whether
    anything still holds Arbor's memory after a call (see Invocation.check_kept)."""
    array = np.ctypeslib.as_array((ctype * count).from_address(address))
    made = getattr(_roots, "made", None)
    if made is not None:
        made.append((array, getattr(_roots, "field", None)))
    return array


class RawPPack:
    """``pp.raw``: a read-only look at Arbor's ppack.

    Scalars are plain numbers; the arrays whose length is known are read-only
    copies (the per-CV ones copied afresh at each access, so always current):
    nothing here can write Arbor's memory, reach past it, or outlive it."""
    _SCALARS = ("width", "n_detectors", "dt", "mechanism_id")
    _PER_INSTANCE = {"node_index": abi.index_t, "peer_index": abi.index_t,
                     "multiplicity": abi.index_t, "weight": abi.value_t}
    _PER_CV = {"vec_v": abi.value_t, "vec_i": abi.value_t, "vec_g": abi.value_t,
               "temperature_degC": abi.value_t, "diam_um": abi.value_t, "area_um2": abi.value_t,
               "vec_ci": abi.index_t}

    def __init__(self, pp, n_cv, label):
        values = {name: getattr(pp, name) for name in self._SCALARS}
        for name, ctype in self._PER_INSTANCE.items():
            values[name] = _frozen_copy(_view(getattr(pp, name), pp.width, ctype))
        live = {name: _view(getattr(pp, name), n_cv, ctype) for name, ctype in self._PER_CV.items()}
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_current", lambda name: _frozen_copy(live[name]))
        object.__setattr__(self, "_label", label)

    def __getattr__(self, name):
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        if name in self._PER_CV:
            return self._current(name)
        if name.startswith("__"):
            raise AttributeError(name)
        raise MechanismError(f"{self._label}: pp.raw.{name} is not available (pp.raw shows "
                             f"{', '.join(sorted(set(values) | set(self._PER_CV)))}); "
                             "use the pp fields instead")

    def __setattr__(self, name, value):
        raise MechanismError(f"{self._label}: pp.raw is read-only (cannot set pp.raw.{name})")

    def __delattr__(self, name):
        raise MechanismError(f"{self._label}: pp.raw is read-only (cannot delete pp.raw.{name})")

    def __dir__(self):
        return sorted(set(self._values) | set(self._PER_CV))

    def __repr__(self):
        return f"<read-only ppack of {self._label}: width={self._values['width']}>"


def _readonly(array):
    view = array.view()
    view.flags.writeable = False
    return view


def _frozen_copy(array):
    if array is None:
        return None
    copy = array.copy()
    copy.flags.writeable = False
    return copy


class Gather:
    """Per-instance values ``source[index]``, as a view where ``index`` is a range."""

    def __init__(self, source, index):
        self.source = source
        self.index = index
        first = int(index[0]) if len(index) else 0
        self.contiguous = bool(len(index) == 0 or np.array_equal(index, np.arange(first, first + len(index))))
        self.unique = self.contiguous or len(np.unique(index)) == len(index)
        if self.contiguous:
            self.slice = slice(first, first + len(index))
            self.values = source[self.slice]     # always current: no refresh needed
        else:
            self.values = np.empty(len(index))

    def refresh(self):
        if not self.contiguous:
            np.take(self.source, self.index, out=self.values)

    def fresh_copy(self):
        return self.source[self.slice].copy() if self.contiguous else self.source[self.index]

    def assign(self, values):
        """``source[index] = values``."""
        if self.contiguous:
            if values is not self.values:
                self.source[self.slice] = values
        else:
            self.source[self.index] = values

    def add(self, values):
        """``source[index] += values``, accumulating repeated indices."""
        if self.contiguous:
            np.add(self.values, values, out=self.values)
        elif self.unique:
            self.source[self.index] += values
        else:
            np.add.at(self.source, self.index, values)


class PPBase:
    """The ``pp`` a method receives. Fields are plain attributes; writes are checked."""
    _writers = {}
    _label = ""
    _plan = {}

    def __setattr__(self, name, value):
        writer = self._writers.get(name)
        if writer is None:
            raise MechanismError(self._write_error(name))
        writer(value)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        from ..locations import suggestion
        hint = suggestion(name, self._plan)
        raise MechanismError(f"{self._label}: pp.{name} is not a field here"
                             + (f"; {hint}" if hint else "")
                             + f" (fields: {', '.join(sorted(self._plan))})")

    def __delattr__(self, name):
        raise MechanismError(f"{self._label}: pp.{name} cannot be deleted")

    def __dir__(self):
        return sorted(self.__dict__)

    def __repr__(self):
        return f"<pp of {self._label}: {', '.join(sorted(self.__dict__))}>"

    def _write_error(self, name):
        if name in self._plan:
            return f"{self._label}: pp.{name} is read-only here"
        return f"{self._label}: pp.{name} is not a field here (fields: {', '.join(sorted(self._plan))})"


class Events:
    """The events delivered to a point mechanism in this step.

    ``mech_index[k]`` is the instance the k-th event targets, ``weight[k]``
    its weight (the connection's, in its units). Iterating yields
    ``(mech_index, weight)`` pairs.
    """
    __slots__ = ("mech_index", "weight")

    def __init__(self, mech_index, weight):
        self.mech_index = mech_index
        self.weight = weight

    def __len__(self):
        return len(self.mech_index)

    def __iter__(self):
        return zip(self.mech_index.tolist(), self.weight.tolist())

    def __repr__(self):
        return f"Events(mech_index={self.mech_index!r}, weight={self.weight!r})"


_CV_FIELD = {"vec_v": "v", "vec_i": "i", "vec_g": "conductance", "temperature_degC": "temperature",
             "diam_um": "diam", "area_um2": "area"}
_NO_EVENTS = Events(np.zeros(0, dtype=np.int64), np.zeros(0))
_float32_warned = set()


class Invocation:
    """One method on one ppack: cached views, the ``pp`` object, the scatter steps."""
    dead = False

    def __init__(self, runner, address):
        made = _roots.made = []
        try:
            self._setup(runner, address)
        finally:
            _roots.made = None
            _roots.field = None
        self.tracked = self._tracked(made)
        del made
        self.counts = self._counts()

    # -- what may not outlive a call -----------------------------------------
    def _tracked(self, made):
        """(object, field name) for what a method can reach of Arbor's memory: the
        arrays handed out as pp fields that are over it, the arrays they are
        views of (any view derived from one references it, so its reference
        count shows a kept slice too), and pp itself (pp.raw holds copies only)."""
        roots = {id(array): field for array, field in made}
        handed = []
        tracked = []
        for name, value in self.fields.items():
            if isinstance(value, np.ndarray):
                handed.append((value, name))
        seen = set()
        for value, name in handed:
            if id(value) in roots:
                over = (value,)
            elif value.base is not None and id(value.base) in roots:
                over = (value, value.base)
            else:
                continue        # a per-instance copy of ours, not Arbor's memory
            for item in over:
                if id(item) not in seen:
                    seen.add(id(item))
                    tracked.append((item, name))
        tracked.append((self.pp, None))
        return tracked

    def _counts(self):
        self.kept_items = tuple(item for item, _ in self.tracked)
        counts = tuple(map(sys.getrefcount, self.kept_items))
        self.count_sum = sum(counts)
        return counts

    def _disarm(self):
        """Make what was kept harmless: every array this call handed out (or made
        over Arbor's memory) becomes an empty read-only array, and pp an empty
        shell, so that a kept one can no longer reach Arbor's memory. (A slice a
        method made itself cannot be found: the error says to keep none.)"""
        self.dead = True
        for item, _ in self.tracked:
            if isinstance(item, np.ndarray):
                try:
                    item.__setstate__((1, (0,), item.dtype, False, b""))
                    item.flags.writeable = False
                except Exception:
                    pass
        self.pp.__dict__.clear()
        type(self.pp)._plan = {}
        type(self.pp)._writers = {}
        type(self.pp)._label = f"{self.label} (a pp kept after its call: no longer valid)"
        self.tracked, self.counts, self.kept_items, self.count_sum = [], (), (), 0

    def _kept_random(self):
        """Random-number fields still referenced: each call hands out a fresh view
        (held by pp alone) of a cached array (held by the cache and that view)."""
        kept = []
        for name, _ in self.random:
            view = self.fields.get(name)
            if view is not None and (sys.getrefcount(view) > _VIEW_REFS
                                     or sys.getrefcount(view.base) > _ROOT_REFS):
                kept.append(name)
        return kept

    def check_kept(self):
        """Raise if anything over Arbor's memory is still referenced after the call.

        Arbor frees these arrays when its simulation goes, and a kept view would
        then read or write freed memory: refuse it at the first call that keeps one."""
        # Fast path, every call: these counts never drop below their baseline
        # (pp's dict and this object hold each item), so an unchanged sum means
        # nothing more refers to any of them.
        if sum(map(sys.getrefcount, self.kept_items)) <= self.count_sum and (
                not self.random or not self._kept_random()):
            return
        gc.collect()        # a reference cycle may hold a view only until it is collected
        now = tuple(map(sys.getrefcount, self.kept_items))
        kept = [name for (_, name), count, before in zip(self.tracked, now, self.counts) if count > before]
        kept += self._kept_random()
        if not kept:
            return
        self._disarm()
        names = sorted({name for name in kept if name is not None})
        what = (", ".join(f"pp.{name}" for name in names) + " (or a view of it)") if names else "pp"
        raise MechanismError(
            f"{self.label}: {what} is still referenced after the method returned (kept on self, "
            "in a global or a closure?). pp and its arrays are Arbor's memory, valid only during "
            "the call; Arbor frees them when the simulation ends, and a kept array would then read "
            "or write freed memory. Keep a copy instead, e.g. np.array(pp.<field>)")

    def _setup(self, runner, address):
        spec = runner.spec
        self.spec = spec
        self.method = runner.method
        self.label = f"{spec.label} in {self.method.name}"
        self.call = runner.bound
        pp = abi.PPack.from_address(address)
        self.ppack = pp
        width = self.width = pp.width
        access = self.method.access
        plan = runner.plan
        used = set(plan) if access.opaque else (access.reads | access.writes)
        self.static_writes = access.writes & set(plan)
        self.kind = spec.kind
        self.node_index = _view(pp.node_index, width, abi.index_t)
        if self.node_index is None:
            self.node_index = np.zeros(0, dtype=np.int32)
        n_cv = int(self.node_index.max()) + 1 if width else 0
        self.weight = _view(pp.weight, width)
        if self.weight is None:
            self.weight = np.zeros(0)
        self.cv = {}
        self.n_cv = n_cv
        for attribute in ("vec_v", "vec_i", "vec_g", "temperature_degC", "diam_um", "area_um2"):
            _roots.field = _CV_FIELD[attribute]
            array = _view(getattr(pp, attribute), n_cv)
            self.cv[attribute] = Gather(array, self.node_index) if array is not None else None
        self.owned = {}          # current/conductance name -> the buffer installed for it
        self.refreshers = []     # run before the call
        self.finishers = []      # run after the call, each (field name, function)
        self.dynamic_writes = set()
        attributes = {}
        writers = {}
        self.current_fields = []
        for name in sorted(used):
            if name not in plan:
                continue
            field = plan[name]
            _roots.field = name
            value, writer = self._prepare(field, pp)
            attributes[name] = value
            if writer is not None:
                writers[name] = writer
        cls = type("pp", (PPBase,), {"_writers": writers, "_label": self.label, "_plan": plan})
        self.pp = cls()
        self.pp.__dict__.update(attributes)
        self.fields = self.pp.__dict__       # what the method sees as pp.<name>
        self.numeric_conductance = (self.method.name == "compute_currents"
                                    and spec.needs_numeric_conductance())
        if self.numeric_conductance:
            self._prepare_numeric_conductance(plan, attributes, pp)
        self.multiplicity = None
        if self.method.name == "init_mechanism" and pp.multiplicity and spec.state_vars:
            self.multiplicity = _view(pp.multiplicity, width, abi.index_t).astype(float)
            self.states = [_view(pp.state_vars[k], width) for k in range(len(spec.state_vars))]
        self.random = [(name, f.key) for name, f in plan.items() if f.source == "random" and name in used]
        self.random_cache = {}
        self.events = self.method.name == "apply_events"
        self._plan_steps()

    # -- building fields ------------------------------------------------------
    def _writer(self, name, target, mark=True):
        label = self.label
        dynamic = self.dynamic_writes

        def write(value):
            if value is not target:
                _assign(target, value, label, name)
            if mark:
                dynamic.add(name)
        return write

    def _binding_writer(self, name):
        """Writer of a current or conductance.

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
                _assign(buffer, value, label, name)
                invocation.fields[name] = buffer
            dynamic.add(name)
        return write

    def _prepare(self, field, pp):
        """(value shown as pp.<name>, writer or None) for one field."""
        name, source, key, width = field.name, field.source, field.key, self.width
        if source == "scalar":
            if key == "dt":
                # Arbor's dt changes from step to step (the steps end exactly at
                # epoch and sample times): read it at every call, as modcc does.
                def refresh_dt(ppack=pp, invocation=self):
                    invocation.fields["dt"] = ppack.dt
                self.refreshers.append(refresh_dt)
            return getattr(pp, key), None
        if source in ("parameter", "state"):
            array = _view((pp.parameters if source == "parameter" else pp.state_vars)[key], width)
            return array, self._writer(name, array, mark=False)
        if source == "global":
            return float(pp.globals[key]), None
        if source == "raw":
            if key == "ppack":
                return RawPPack(pp, self.n_cv, self.label), None
            array = _view(getattr(pp, key), width, abi.value_t if key == "weight" else abi.index_t)
            return (_readonly(array) if array is not None else None), None
        if source == "cv":
            gather = self.cv[key]
            if gather is None:
                return None, None
            if field.write is None:
                if not gather.contiguous:
                    self.refreshers.append(gather.refresh)
                return _readonly(gather.values), None
            return self._writable_gather(name, gather, "assign")
        if source == "peer":
            peer = _view(pp.peer_index, width, abi.index_t)
            n = int(max(peer.max(), self.node_index.max())) + 1 if width else 0
            gather = Gather(_view(pp.vec_v, n), peer)
            if not gather.contiguous:
                self.refreshers.append(gather.refresh)
            return _readonly(gather.values), None
        if source in ("current", "ion_current", "conductance"):
            buffer = np.zeros(width)
            self.current_fields.append((name, source, key, buffer))
            self.owned[name] = buffer
            return buffer, self._binding_writer(name)
        if source in ("ion", "ion_total", "valence"):
            k = key[0] if isinstance(key, tuple) else key
            ion = pp.ion_states[k]
            if source == "valence":
                return float(ion.ionic_charge[0]), None
            index = _view(ion.index, width, abi.index_t)
            if index is None:
                index = np.zeros(0, dtype=np.int32)
            n = int(index.max()) + 1 if width else 0
            if source == "ion_total":
                gather = Gather(_view(ion.current_density, n), index)
                values = np.empty(width)
                src = gather.values if gather.contiguous else None

                def refresh(gather=gather, values=values, src=src):
                    if src is None:
                        gather.refresh()
                        np.multiply(gather.values, 0.1, out=values)
                    else:
                        np.multiply(src, 0.1, out=values)
                self.refreshers.append(refresh)
                return _readonly(values), None
            array = _view(getattr(ion, key[1]), n)
            if array is None:
                raise MechanismError(f"{self.label}: Arbor passed no {key[1]} for pp.{name}")
            gather = Gather(array, index)
            if field.write is None:
                if not gather.contiguous:
                    self.refreshers.append(gather.refresh)
                return _readonly(gather.values), None
            return self._writable_gather(name, gather, field.write)
        if source == "random":
            return None, None   # filled per call
        if source == "time_since_spike":
            n_det = pp.n_detectors
            values = np.full((width, max(n_det, 0)), -1.0)
            if n_det > 0 and width and pp.time_since_spike and pp.vec_ci:
                n_cv = int(self.node_index.max()) + 1
                cells = _view(pp.vec_ci, n_cv, abi.index_t)[self.node_index]
                index = cells[:, None] * n_det + np.arange(n_det)[None, :]
                tss = _view(pp.time_since_spike, int(index.max()) + 1)
                self.refreshers.append(lambda: np.take(tss, index, out=values))
            return _readonly(values), None
        raise AssertionError(f"unknown field source {source!r}")

    def _writable_gather(self, name, gather, mode):
        """A writable per-instance copy, scattered back after the call if written.

        Written means assigned (``pp.x = ...``, ``pp.x[...] = ...``) or changed
        through any other name for the same array (``x = pp.x; x[:] = ...``):
        the copy is compared with what it held before the call, so that every
        write reaches Arbor, as it does where the copy is a view of Arbor's memory."""
        if mode == "assign" and gather.contiguous:
            view = gather.values    # writes go straight to Arbor's memory: that is assignment
            return view, self._writer(name, view, mark=False)
        values = np.empty(len(gather.index))
        old = np.empty(len(gather.index))

        def refresh():
            gather.refresh()
            values[...] = gather.values
            old[...] = values
        self.refreshers.append(refresh)
        weights = self._ion_write_weights()

        if mode == "assign":
            def finish():
                gather.assign(values)
        elif mode == "blend":     # modcc outside write_ions: x += w * (new - old)
            def finish():
                gather.add(weights * (values - old))
        else:                     # modcc in write_ions: x += w * new (Arbor reset x before)
            def finish():
                gather.add(weights * values)

        def changed():
            return not np.array_equal(values, old, equal_nan=True)
        self.finishers.append((name, finish, changed))
        return values, self._writer(name, values)

    def _ion_write_weights(self):
        # modcc writes concentrations of point mechanisms with weight 1.
        return np.ones(self.width) if self.kind != "density" else self.weight

    def _prepare_numeric_conductance(self, plan, attributes, pp):
        """Buffers for a second evaluation of compute_currents at v + DV."""
        gather = self.cv["vec_v"]
        self.v_plus = np.empty(self.width)
        self.v_real = attributes.get("v")
        self.current_sum = np.zeros(self.width)
        if "conductance" not in attributes:
            buffer = np.zeros(self.width)
            self.current_fields.append(("conductance", "conductance", None, buffer))
        self.scratch = {name: np.zeros(self.width) for name, source, _, _ in self.current_fields
                        if source != "conductance"}
        self.v_gather = gather
        if "conductance" not in self.owned:
            self.owned["conductance"] = self.current_fields[-1][3]

    # -- running --------------------------------------------------------------
    def _plan_steps(self):
        """Decide once what each call must do before and after the method runs.

        An empty method then costs a callback and a call, nothing more.
        """
        opaque = self.method.access.opaque
        before, after = [], []
        if opaque or self.numeric_conductance:
            before.append(self.dynamic_writes.clear)
        before += self.refreshers
        if self.random:
            before.append(self._refresh_random)
        written = [(name, source, key, buffer) for name, source, key, buffer in self.current_fields
                   if opaque or name in self.static_writes or source == "conductance"]
        if written:
            before.append(functools.partial(self._reset_currents, [name for name, _, _, _ in written]))
        if written or self.numeric_conductance:
            after.append(self._scatter_step(written))
        for name, finish, changed in self.finishers:
            if name in self.static_writes:
                after.append(finish)
            else:       # assigned where analysis cannot see it, or written through an alias
                after.append(functools.partial(self._finish_if_written, name, finish, changed))
        if self.multiplicity is not None:
            after.append(self._apply_multiplicity)
        self.before, self.after = tuple(before), tuple(after)

    def _reset_currents(self, names):
        """Zero the current buffers and show them as pp.<name> again."""
        fields, owned = self.fields, self.owned
        for name in names:
            buffer = owned[name]
            buffer.fill(0.0)
            fields[name] = buffer

    def _finish_if_written(self, name, finish, changed):
        if name in self.dynamic_writes or changed():
            finish()

    def _apply_multiplicity(self):
        for state in self.states:
            state *= self.multiplicity

    def _scatter_step(self, written):
        """The function that adds currents and conductance to Arbor's arrays."""
        scale = 10.0 if self.kind == "density" else 1.0
        weights = scale * self.weight
        vec_i, vec_g = self.cv["vec_i"], self.cv["vec_g"]
        currents = [name for name, source, _, _ in written if source in ("current", "ion_current")]
        ion_currents = [(name, self._ion_current_gather(key)) for name, source, key, _ in written
                        if source == "ion_current"]
        conductances = [name for name, source, _, _ in self.current_fields if source == "conductance"]
        total, scaled = np.zeros(self.width), np.empty(self.width)
        numeric = self.numeric_conductance
        dynamic = self.dynamic_writes
        fields = self.fields
        targets = [vec_i] + [gather for _, gather in ion_currents] + ([vec_g] if conductances else [])
        if currents and all(t is not None and t.contiguous for t in targets):
            # Every target is a slice of Arbor's arrays: one compiled loop does it all.
            add_weighted, add_weighted_sum = _fused_scatter()
            ion_targets = tuple(gather.values for _, gather in ion_currents)
            ion_names = [name for name, _ in ion_currents]
            g_target = vec_g.values if conductances else None
            g_name = conductances[0] if conductances else None

            def fused_step():
                if numeric and "conductance" not in dynamic:
                    self._numeric_conductance()
                contiguous = np.ascontiguousarray
                if len(currents) == 1:
                    add_weighted(vec_i.values, weights, contiguous(fields[currents[0]]))
                else:
                    add_weighted_sum(vec_i.values, weights,
                                     tuple([contiguous(fields[name]) for name in currents]))
                for target, name in zip(ion_targets, ion_names):
                    add_weighted(target, weights, contiguous(fields[name]))
                if g_name:
                    add_weighted(g_target, weights, contiguous(fields[g_name]))
            return fused_step

        def scatter():
            if numeric and "conductance" not in dynamic:
                self._numeric_conductance()
            if currents:
                if len(currents) == 1:
                    np.multiply(fields[currents[0]], weights, out=scaled)
                else:
                    np.add(fields[currents[0]], fields[currents[1]], out=total)
                    for name in currents[2:]:
                        np.add(total, fields[name], out=total)
                    np.multiply(total, weights, out=scaled)
                vec_i.add(scaled)
            for name, gather in ion_currents:
                np.multiply(fields[name], weights, out=scaled)
                gather.add(scaled)
            for name in conductances:
                np.multiply(fields[name], weights, out=scaled)
                vec_g.add(scaled)
        return scatter

    def _ion_current_gather(self, k):
        ion = self.ppack.ion_states[k]
        index = _view(ion.index, self.width, abi.index_t)
        n = int(index.max()) + 1 if self.width else 0
        return Gather(_view(ion.current_density, n), index)

    def run(self, events_address):
        for step in self.before:
            step()
        if self.events:
            self.call(self.pp, self._events(events_address))
        else:
            self.call(self.pp)
        for step in self.after:
            step()
        self.check_kept()

    def _refresh_random(self):
        pp = self.ppack
        for name, k in self.random:
            address = ctypes.cast(pp.random_numbers[k], ctypes.c_void_p).value
            root = self.random_cache.get(address)
            if root is None:
                if len(self.random_cache) > 256:
                    self.random_cache.clear()
                root = self.random_cache[address] = _view_at(address, self.width)
            # A fresh view each call: one kept from an earlier call shows in root's count.
            self.pp.__dict__[name] = _readonly(root)

    def _events(self, address):
        if not address:
            return _NO_EVENTS
        stream = abi.EventStream.from_address(address)
        begin = ctypes.cast(stream.begin, ctypes.c_void_p).value
        end = ctypes.cast(stream.end, ctypes.c_void_p).value
        if not begin or end <= begin:
            return _NO_EVENTS
        n = (end - begin) // ctypes.sizeof(abi.EventData)
        raw = np.frombuffer((ctypes.c_char * (end - begin)).from_address(begin), dtype=abi.EVENT_DTYPE, count=n)
        return Events(raw["mech_index"].astype(np.int64), raw["weight"].astype(np.float64))

    def _numeric_conductance(self):
        """dI/dV by re-running compute_currents at v + DV (it must not change state)."""
        d, owned = self.fields, self.owned
        names = [name for name, source, _, _ in self.current_fields if source != "conductance"]
        real = {name: d[name] for name in names}          # results of the real call
        real_buffers = {name: owned[name] for name in names}
        total = self.current_sum
        total.fill(0.0)
        for name in names:
            total += real[name]
            scratch = self.scratch[name]
            scratch.fill(0.0)
            owned[name] = d[name] = scratch
        np.add(self.v_gather.fresh_copy() if self.v_real is None else self.v_real, DV, out=self.v_plus)
        d["v"] = _readonly(self.v_plus)
        try:
            self.call(self.pp)
            second = {name: d[name] for name in names}
        finally:
            owned.update(real_buffers)
            d.update(real)
            if self.v_real is None:
                del d["v"]
            else:
                d["v"] = self.v_real
        g = owned["conductance"]
        g.fill(0.0)
        for name in names:
            g += second[name]
        g -= total
        g /= DV
        d["conductance"] = g


_FUSED = None


def _fused_scatter():
    """Compiled loops for ``target += weights * sum(values)`` on contiguous slices.

    One call per target instead of two or three numpy operations each.
    """
    global _FUSED
    if _FUSED is None:
        from numba import njit

        @njit(cache=True, error_model="numpy")
        def add_weighted(target, weights, values):
            for k in range(weights.shape[0]):
                target[k] += weights[k] * values[k]

        @njit(cache=True, error_model="numpy")
        def add_weighted_sum(target, weights, values):
            for k in range(weights.shape[0]):
                total = 0.0
                for v in values:
                    total += v[k]
                target[k] += weights[k] * total
        _FUSED = add_weighted, add_weighted_sum
    return _FUSED


_REAL_KINDS = frozenset("fiub")


def _check_real(value, label, name):
    """Refuse values that numpy would turn into NaN (None) or cut (complex) silently."""
    kind = None
    if value is None:
        kind = "None"
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in _REAL_KINDS:
            kind = value.dtype
    elif isinstance(value, (complex, np.complexfloating)):
        kind = "complex"
    elif not isinstance(value, (bool, int, float, np.number, np.bool_)):
        try:
            dtype = np.asarray(value).dtype
        except Exception:
            return          # numpy's own error follows, with the shapes
        if dtype.kind not in _REAL_KINDS:
            kind = "None" if dtype.kind == "O" and _has_none(value) else dtype
    if kind is None:
        return
    if kind == "None":
        why = "None (numpy would store NaN)"
    elif kind == "complex" or getattr(kind, "kind", "") == "c":
        why = "complex values (numpy would keep the real part only)"
    else:
        why = f"values of type {kind}, which are not real numbers"
    raise MechanismError(f"{label}: pp.{name} was assigned {why}: assign real numbers "
                         "(one per instance, or a scalar)")


def _has_none(value):
    try:
        return any(item is None for item in np.asarray(value, dtype=object).ravel())
    except Exception:
        return False


def _assign(target, value, label, name):
    if type(value) is not float:
        _check_real(value, label, name)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype == np.float32:
        key = (label, name)
        if key not in _float32_warned:
            _float32_warned.add(key)
            warnings.warn(f"{label}: pp.{name} assigned float32 values; arbor computes in float64 "
                          "(with JAX, enable x64: jax.config.update('jax_enable_x64', True))",
                          stacklevel=3)
    try:
        target[...] = value
    except (ValueError, TypeError) as exc:
        raise MechanismError(f"{label}: cannot assign a value of shape {np.shape(value)} to "
                             f"pp.{name}, which has shape {target.shape} (one value per instance, "
                             f"or a scalar): {exc}") from None
