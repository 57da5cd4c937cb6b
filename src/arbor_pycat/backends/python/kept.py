"""Nothing a method was handed may outlive its call: Arbor frees that memory.

The part of :class:`~.invocation.Invocation` that finds a ``pp`` or an array
over Arbor's memory still referenced after the call, and disarms it.
"""
import gc
import sys

import numpy as np

from ...errors import MechanismError
from .views import ROOT_REFS, VIEW_REFS


class KeptCheck:
    """Reference counts of what a call handed out, checked after every call."""

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
            if view is not None and (sys.getrefcount(view) > VIEW_REFS
                                     or sys.getrefcount(view.base) > ROOT_REFS):
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
