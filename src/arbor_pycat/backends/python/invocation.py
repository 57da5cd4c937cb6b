"""One method on one ppack: the ``pp`` it sees, what runs before and after the call.

Each method gets a ``pp`` whose fields are numpy arrays over Arbor's memory,
or per-instance copies gathered through Arbor's index arrays. Views are built
once per ppack (the shim hands every call a fingerprint of the ppack's
pointers and of the simulation) and reused; per call, only what changes
(gathered inputs, random numbers, events) is refreshed, and only what the
method writes is scattered back. The fields come from :mod:`.fields`, the
steps around the call from :mod:`.steps`, the check that nothing outlives the
call from :mod:`.kept`.
"""
import ctypes

import numpy as np

from ... import abi
from .fields import FieldBuilder
from .kept import KeptCheck
from .pp import NO_EVENTS, Events, PPBase
from .steps import Steps
from .views import readonly, roots, view, view_at


class Invocation(KeptCheck, FieldBuilder, Steps):
    """One method on one ppack: cached views, the ``pp`` object, the scatter steps."""
    dead = False

    def __init__(self, runner, address):
        made = roots.made = []
        try:
            self._setup(runner, address)
        finally:
            roots.made = None
            roots.field = None
        self.tracked = self._tracked(made)
        del made
        self.counts = self._counts()

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
        # every field is made available where the fields are known only when the
        # method runs (getattr(pp, name): a constant resolved at build() may change)
        used = set(plan) if access.dynamic else (access.reads | access.writes)
        self.static_writes = access.writes & set(plan)
        self.kind = spec.kind
        self.node_index = view(pp.node_index, width, abi.index_t)
        if self.node_index is None:
            self.node_index = np.zeros(0, dtype=np.int32)
        n_cv = int(self.node_index.max()) + 1 if width else 0
        self.weight = view(pp.weight, width)
        if self.weight is None:
            self.weight = np.zeros(0)
        self.n_cv = n_cv
        self.gathers = {}        # (array, index, ion) -> Gather, see FieldBuilder.gather
        self.random = []         # (name, slot) of the random fields, refreshed per call
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
            roots.field = name
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
        if self.method.name == "init_mechanism" and pp.multiplicity and spec.scaled_states:
            self.multiplicity = view(pp.multiplicity, width, abi.index_t).astype(float)
            self.states = [view(pp.state_vars[k], width) for k in spec.scaled_states]
        self.random_cache = {}
        self.events = self.method.name == "apply_events"
        self._plan_steps()

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
                root = self.random_cache[address] = view_at(address, self.width)
            # A fresh view each call: one kept from an earlier call shows in root's count.
            self.pp.__dict__[name] = readonly(root)

    def _events(self, address):
        if not address:
            return NO_EVENTS
        stream = abi.EventStream.from_address(address)
        begin = ctypes.cast(stream.begin, ctypes.c_void_p).value
        end = ctypes.cast(stream.end, ctypes.c_void_p).value
        if not begin or end <= begin:
            return NO_EVENTS
        n = (end - begin) // ctypes.sizeof(abi.EventData)
        raw = np.frombuffer((ctypes.c_char * (end - begin)).from_address(begin), dtype=abi.EVENT_DTYPE, count=n)
        return Events(raw["mech_index"].astype(np.int64), raw["weight"].astype(np.float64))
