"""Numpy arrays over Arbor's memory, and per-instance gathers through its index arrays."""
import ctypes
import threading

import numpy as np

from ... import abi
from ...abi.rules import is_range
from ...errors import MechanismError


def view(pointer, count, ctype=abi.value_t):
    """A numpy array over ``count`` elements at a ctypes pointer (None for NULL)."""
    if not pointer or count <= 0:
        return None
    return view_at(ctypes.cast(pointer, ctypes.c_void_p).value, count, ctype)


# Reference counts in _kept_random: the view (pp's dict, the local name, the
# argument); its array (the cache, the view's base, the argument).
VIEW_REFS, ROOT_REFS = 3, 3


roots = threading.local()     # .made: arrays over Arbor's memory made by the Invocation being set up


def view_at(address, count, ctype=abi.value_t):
    """A numpy array over ``count`` elements at an integer address.

    Every view or copy-free derivative of it (a slice, a reshape, a read-only
    view) references it as its ``base``, so its reference count tells whether
    anything still holds Arbor's memory after a call (see Invocation.check_kept)."""
    array = np.ctypeslib.as_array((ctype * count).from_address(address))
    made = getattr(roots, "made", None)
    if made is not None:
        made.append((array, getattr(roots, "field", None)))
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
            values[name] = frozen_copy(view(getattr(pp, name), pp.width, ctype))
        live = {name: view(getattr(pp, name), n_cv, ctype) for name, ctype in self._PER_CV.items()}
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_current", lambda name: frozen_copy(live[name]))
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


def readonly(array):
    view = array.view()
    view.flags.writeable = False
    return view


def frozen_copy(array):
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
        self.contiguous = is_range(index)
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
