"""Arbor's rules for turning a mechanism's values into its arrays, each written once.

These are what modcc's generated code does (write a small NMODL file, run
``modcc -t cpu`` and read the C++); :mod:`arbor_pycat.spec.fields` puts them
into every field's decode, and the backends apply the decode.
"""
import numpy as np

# Density mechanisms give currents in mA/cm² and conductances in S/cm²; Arbor's
# vec_i and vec_g are in A/m² and S/m²: ×10. Point and junction mechanisms give
# nA and µS, which the CV weight converts: ×1.
CURRENT_SCALE = {"density": 10.0, "point": 1.0, "junction": 1.0}

# pp.i<ion> outside compute_currents is the ion's total current density,
# Arbor's current_density (A/m²) ×0.1: mA/cm².
ION_TOTAL_SCALE = 0.1

# Concentration writes are weighted by the CV-coverage weight for density
# mechanisms and by 1 for point mechanisms (modcc's rule).
def concentration_weighted(kind):
    """True when a concentration write of a ``kind`` mechanism is multiplied by
    the CV weight (density), False when its weight is 1 (point)."""
    return kind == "density"


# Step (mV) of the numeric dI/dV when compute_currents assigns no conductance.
DV = 1e-3


def is_range(index):
    """True when ``index`` is first, first + 1, ..., first + n - 1 (or empty):
    then per-instance values are a slice of Arbor's per-CV arrays. The shim
    computes the same test for the layout flags (``is_range`` in _shim.cpp)."""
    n = len(index)
    if n == 0:
        return True
    first = index[0]
    return bool(index[n - 1] - first == n - 1 and np.all(np.diff(index) == 1))
