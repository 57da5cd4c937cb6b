"""The prototype's README examples run unchanged with backend="python".

Each runs in a subprocess (a simulation through Python callbacks; a crash
must fail the test, not pytest). The ExampleMech of the seed writes ``pp.eka``
while declaring only ``ca``: that one is a clear error (test_errors.py), and
runs once the line is dropped (below).
"""
from pycat_cell import check_snippet

PASSIVE = '''
import arbor
import arbor_pycat

@arbor_pycat.register
class Passive(arbor_pycat.CustomMechanism):
    name = 'passive'
    def init_mechanism(self, pp):
        print(dir(pp))
    def compute_currents(self, pp):
        pp.i = pp.v * 1e-2

cat = arbor_pycat.build(backend="python")
'''

SEED_HH = '''
import numpy as np
import arbor
import arbor_pycat

def exprelr(x): return np.where(np.isclose(x, 0), 1., x / np.expm1(x))
def alpha_m(V): return exprelr(-0.1*V - 4.0)
def alpha_h(V): return 0.07*np.exp(-0.05*V - 3.25)
def alpha_n(V): return 0.1*exprelr(-0.1*V - 5.5)
def beta_m(V):  return 4.0*np.exp(-(V + 65.0)/18.0)
def beta_h(V):  return 1.0/(np.exp(-0.1*V - 3.5) + 1.0)
def beta_n(V):  return 0.125*np.exp(-0.0125*V - 0.8125)

@arbor_pycat.register
class ExampleMech(arbor_pycat.CustomMechanism):
    name = 'custom_hh'
    kind = 'density'
    state_vars = [('m', '', 0), ('h', '', 0), ('n', '', 0), ('t', '', 0)]
    parameters = [('gna', '',   0.120),
                  ('gk', '',    0.036),
                  ('gl', '',    0.0003),
                  ('ena', '',  55),
                  ('ek', '',  -77),
                  ('el', '',  -65)]

    def init_mechanism(self, pp):
        pp.m = alpha_m(pp.v) / (alpha_m(pp.v) + beta_m(pp.v))
        pp.h = alpha_h(pp.v) / (alpha_h(pp.v) + beta_h(pp.v))
        pp.n = alpha_n(pp.v) / (alpha_n(pp.v) + beta_n(pp.v))

    def advance_state(self, pp):
        pp.t += pp.dt
        pp.m += pp.dt * (alpha_m(pp.v)*(1-pp.m) - beta_m(pp.v)*pp.m)
        pp.h += pp.dt * (alpha_h(pp.v)*(1-pp.h) - beta_h(pp.v)*pp.h)
        pp.n += pp.dt * (alpha_n(pp.v)*(1-pp.n) - beta_n(pp.v)*pp.n)

    def compute_currents(self, pp):
        ina = pp.gna*pp.m**3*pp.h*(pp.v - pp.ena)
        ik = pp.gk*pp.n**4*(pp.v - pp.ek)
        il = pp.gl*(pp.v - pp.el)
        iapp = 0.05 if pp.t[0] % 100 > 95 else 0
        pp.i = ina + ik + il - iapp

cat = arbor_pycat.build(backend="python")
'''

RUN = '''
import numpy as np
from pycat_cell import OneCell, simulate
assert arbor_pycat.builder.last_backends == {{{name!r}: "python"}}
trace, spikes, _ = simulate(OneCell(cat, paint=[{name!r}], clamp=0.0, detector=True), t_end={t_end})
assert np.all(np.isfinite(trace)), trace
print("MAX", trace.max(), "LAST", trace[-1], "SPIKES", len(spikes), spikes)
'''


def test_seed_passive_example_runs():
    result = check_snippet(PASSIVE + RUN.format(name="passive", t_end=50.0))
    # print(dir(pp)) in init_mechanism shows the fields (Arbor runs init twice)
    listings = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert listings and all("'v'" in line and "'dt'" in line and "'width'" in line for line in listings)
    last = float(result.stdout.split("LAST")[1].split()[0])
    # i = v * 1e-2 mA/cm2 is a leak towards 0 mV with a 0.1 ms time constant
    assert abs(last) < 1e-3, result.stdout


def test_seed_hh_example_runs_and_spikes():
    result = check_snippet(SEED_HH + RUN.format(name="custom_hh", t_end=300.0))
    spikes = int(result.stdout.split("SPIKES")[1].split()[0])
    # iapp kicks in during t % 100 > 95: one spike per kick (t = 95, 195, 295 ms)
    assert spikes == 3, result.stdout
    assert float(result.stdout.split("MAX")[1].split()[0]) > 20.0


def test_seed_example_mech_without_the_eka_line_runs():
    code = '''
import arbor
import arbor_pycat

@arbor_pycat.register
class ExampleMech(arbor_pycat.CustomMechanism):
    name = 'example'
    state_vars = [('x', 'mV', 1.),
                  ('y', 'mV', 0.)]
    ions = [arbor_pycat.IonInfo('ca', expected_valence=2, verify_valence=True)]

    def init_mechanism(self, pp):
        print(dir(pp))
        pp.v = 10

    def advance_state(self, pp):
        pp.x +=  pp.y * pp.dt
        pp.y += -pp.x * pp.dt

    def compute_currents(self, pp):
        pp.i = pp.v + pp.x

    def write_ions(self, pp):
        pp.cai = -pp.v

cat = arbor_pycat.build(backend="python")
''' + RUN.format(name="example", t_end=1.0)
    result = check_snippet(code)
    assert "'cai'" in result.stdout and "'x'" in result.stdout
