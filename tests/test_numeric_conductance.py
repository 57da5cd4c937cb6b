"""compute_currents without pp.conductance: dI/dV by a second evaluation at v + 0.001 mV.

The second evaluation's assignments must not land in the real current (a bug
that once made a plain leak run away). Compared with Arbor's builtin ``pas``.
"""
import pytest

from pycat_cell import check_snippet

CODE = """
import numpy as np
import arbor
import arbor_pycat
from arbor_pycat import CustomMechanism, IonInfo, register
from pycat_cell import OneCell, simulate

@register
class Leak(CustomMechanism):
    name = "leak_no_g"
    parameters = [("g", "S/cm2", 1e-3), ("e", "mV", -70.0)]

    def compute_currents(self, pp):
        {body}

cat = arbor_pycat.build(backend="python")
ours, _, _ = simulate(OneCell(cat, paint=["leak_no_g"], ncv={ncv}, clamp=0.02), t_end=100.0)
theirs, _, _ = simulate(OneCell(cat, paint=[arbor.density("pas/e=-70", g=1e-3)], ncv={ncv},
                                clamp=0.02), t_end=100.0)
diff = np.abs(ours - theirs).max()
print("DIFF", diff)
assert diff < 1e-6, (diff, ours[::100], theirs[::100])
"""


@pytest.mark.parametrize("body", [
    "pp.i = pp.g * (pp.v - pp.e)",
    "pp.i += pp.g * (pp.v - pp.e)",
    "pp.i[:] = pp.g * (pp.v - pp.e)",
    "pp.i = pp.g * pp.v\n        pp.i -= pp.g * pp.e",
    # pp.i bound to a parameter's view, then updated in place: must not touch g
    "pp.i = pp.g\n        pp.i *= pp.v - pp.e",
    "x = pp.g * (pp.v - pp.e)\n        pp.i = x\n        pp.i += 0.0",
])
@pytest.mark.parametrize("ncv", [1, 3])
def test_leak_without_conductance_matches_pas(body, ncv):
    check_snippet(CODE.format(body=body, ncv=ncv))
