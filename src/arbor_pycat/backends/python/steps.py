"""What runs before and after a method: refreshing inputs, resetting and scattering
buffered currents (with the numeric conductance), writing back copies.

A buffered field (:attr:`~arbor_pycat.spec.fields.Write.BUFFER`) is added
after the call to each of its decode's ``targets``,
``target[index] += write_scale * weight * value``.
"""
import functools

import numpy as np

from ...abi.rules import DV
from ...spec.fields import Index
from .scatter import fused_scatter
from .views import readonly


def _adds_to(f, array):
    return any(target == array for target, _ in f.targets)


def canonical_order(buffers):
    """The non-specific current, then the ionic ones by ion, then the conductance:
    the order both backends sum currents in."""
    return sorted(buffers, key=lambda item: (_adds_to(item[0], "vec_g"), item[0].ion is not None,
                                             item[0].ion or 0))


class Steps:
    """The part of :class:`~.invocation.Invocation` that runs around the call."""

    def _prepare_numeric_conductance(self, plan, attributes, pp):
        """Buffers for a second evaluation of compute_currents at v + DV."""
        self.v_gather = self.gather("vec_v", plan["v"].index)
        self.v_plus = np.empty(self.width)
        self.v_real = attributes.get("v")
        self.current_sum = np.zeros(self.width)
        if "conductance" not in attributes:
            buffer = np.zeros(self.width)
            self.current_fields.append((plan["conductance"], buffer))
            self.owned["conductance"] = buffer
        self.scratch = {f.name: np.zeros(self.width) for f, _ in self.current_fields
                        if not _adds_to(f, "vec_g")}

    def _plan_steps(self):
        """Decide once what each call must do before and after the method runs.

        An empty method then costs a callback and a call, nothing more.
        """
        opaque = self.method.access.dynamic
        before, after = [], []
        if opaque or self.numeric_conductance:
            before.append(self.dynamic_writes.clear)
        before += self.refreshers
        if self.random:
            before.append(self._refresh_random)
        self.current_fields = canonical_order(self.current_fields)
        # a current the method reads may be written through the name it read it into
        # (i = pp.i; i += ...): scattered too (adding nothing if it was not)
        reads = self.method.access.reads
        written = [f for f, _ in self.current_fields
                   if opaque or f.name in self.static_writes or f.name in reads or _adds_to(f, "vec_g")]
        if written:
            before.append(functools.partial(self._reset_currents, [f.name for f in written]))
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

    def _coefficients(self, f):
        """``write_scale * weight`` per instance for buffered field ``f``."""
        return f.write_scale * self.weights(f)

    def _scatter_step(self, written):
        """The function that adds the buffered fields to their target arrays."""
        buffers = written + [f for f, _ in self.current_fields
                             if f not in written and _adds_to(f, "vec_g")]
        # (gather of the target, coefficients, names of the fields summed into it)
        groups = {}
        for f in buffers:
            for array, index in f.targets:
                ion = f.ion if index is Index.ION else None
                key = (array, index, ion, f.write_scale, f.weighted)
                if key not in groups:
                    groups[key] = (self.gather(array, index, ion), self._coefficients(f), [])
                groups[key][2].append(f.name)
        groups = list(groups.values())
        numeric, dynamic, fields = self.numeric_conductance, self.dynamic_writes, self.fields
        total, scaled = np.zeros(self.width), np.empty(self.width)
        if groups and all(gather is not None and gather.contiguous for gather, _, _ in groups):
            # Every target is a slice of Arbor's arrays: one compiled loop each.
            add_weighted, add_weighted_sum = fused_scatter()
            plan = [(gather.values, weights, names) for gather, weights, names in groups]

            def fused_step():
                if numeric and "conductance" not in dynamic:
                    self._numeric_conductance()
                contiguous = np.ascontiguousarray
                for target, weights, names in plan:
                    if len(names) == 1:
                        add_weighted(target, weights, contiguous(fields[names[0]]))
                    else:
                        add_weighted_sum(target, weights, tuple([contiguous(fields[n]) for n in names]))
            return fused_step

        def scatter():
            if numeric and "conductance" not in dynamic:
                self._numeric_conductance()
            for gather, weights, names in groups:
                if len(names) == 1:
                    np.multiply(fields[names[0]], weights, out=scaled)
                else:
                    np.add(fields[names[0]], fields[names[1]], out=total)
                    for name in names[2:]:
                        np.add(total, fields[name], out=total)
                    np.multiply(total, weights, out=scaled)
                gather.add(scaled)
        return scatter

    def _numeric_conductance(self):
        """dI/dV by re-running compute_currents at v + DV (it must not change state)."""
        d, owned = self.fields, self.owned
        names = [f.name for f, _ in self.current_fields if not _adds_to(f, "vec_g")]
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
        d["v"] = readonly(self.v_plus)
        # What else the method writes (a state it records or counts) keeps the real
        # call's values, as in the compiled code (and modcc's, which differentiates)
        kept = {name: (d[name], d[name].copy()) for name in self.method.access.writes
                if name not in real and name != "conductance" and isinstance(d.get(name), np.ndarray)}
        try:
            self.call(self.pp)
            second = {name: d[name] for name in names}
        finally:
            for name, (array, values) in kept.items():
                array[...] = values
                d[name] = array
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
