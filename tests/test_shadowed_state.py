"""A state variable named like an ion concentration its mechanism writes (NMODL's
``STATE { cai }`` with ``USEION ca WRITE cai``): the state is ``pp.cai`` and is
visible to Arbor as ``cai``; the ion's concentration is ``pp.ion_cai``."""
import arbor
import numpy as np
import pytest
from arbor import units as U

import arbor_pycat
from arbor_pycat import CustomMechanism, IonInfo, MechanismError
from arbor_pycat.spec import fields as F
from arbor_pycat.declarations import spec_of
from arbor_pycat.recipe import CableRecipe


class CalciumPump(CustomMechanism):
    """cai relaxes to 1e-4 mM and rises with the calcium influx; its own state is the concentration."""
    name = "test_shadow_pump"
    state_vars = [("cai", "mM", 0.0)]
    parameters = [("tau", "ms", 20.0), ("cai0", "mM", 5e-5)]
    ions = [IonInfo("ca")]

    def init_mechanism(self, pp):
        pp.cai = pp.cai0

    def advance_state(self, pp):
        pp.cai = pp.cai + pp.dt * ((1e-4 - pp.cai) / pp.tau - 0.01 * pp.ica)

    def write_ions(self, pp):
        pp.ion_cai = pp.cai


def test_state_shadows_a_written_concentration():
    spec = spec_of(CalciumPump)
    (ion,) = spec.ions
    assert ion.write_int_concentration and not ion.read_int_concentration
    plans = spec.fields["write_ions"]
    assert plans["cai"].role == "state"
    assert plans["ion_cai"].role == "ion" and plans["ion_cai"].write == "accumulate"
    assert spec.fields["advance_state"]["cai"].write == "inplace"


def test_state_named_like_an_unwritten_concentration_is_refused():
    class Bad(CustomMechanism):
        name = "test_shadow_bad"
        state_vars = ["cai"]
        ions = [IonInfo("ca")]

        def advance_state(self, pp):
            pp.cai = pp.cai * 0.5
    with pytest.raises(MechanismError, match="does not write"):
        spec_of(Bad)


def test_ion_prefixed_names_are_reserved():
    class Clash(CustomMechanism):
        name = "test_shadow_clash"
        parameters = [("ion_cao", "", 1.0)]
        ions = [IonInfo("ca")]
    with pytest.raises(MechanismError, match="reserved"):
        spec_of(Clash)


def test_reversal_potential_names_stay_reserved():
    class Clash(CustomMechanism):
        name = "test_shadow_eca"
        state_vars = ["eca"]
        ions = [IonInfo("ca", write_int_concentration=True)]
    with pytest.raises(MechanismError, match="reserved"):
        spec_of(Clash)


class Cell(CableRecipe):
    def make_cell(self, gid):
        tree = arbor.segment_tree()
        tree.append(arbor.mnpos, arbor.mpoint(-5, 0, 0, 5), arbor.mpoint(5, 0, 0, 5), tag=1)
        decor = (arbor.decor()
                 .paint("(all)", arbor.density("hh"))
                 .paint("(all)", arbor.density("test_shadow_pump"))
                 .paint("(all)", arbor.density("default::pas")))
        decor.place("(location 0 0.5)", arbor.i_clamp(2 * U.ms, 20 * U.ms, 0.05 * U.nA))
        return arbor.cable_cell(tree, decor, arbor.label_dict())

    def probes(self, gid):
        return [arbor.cable_probe_ion_int_concentration("(location 0 0.5)", "ca", "ion"),
                arbor.cable_probe_density_state("(location 0 0.5)", "test_shadow_pump", "cai", "state")]


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_arbor_sees_the_state_under_its_name(backend):
    cat = arbor_pycat.build(CalciumPump, backend=backend)
    assert arbor_pycat.builder.last_backends["test_shadow_pump"] == backend
    props = arbor.neuron_cable_properties()
    props.catalogue.extend(cat, "")
    props.catalogue.extend(arbor.default_catalogue(), "default::")
    recipe = Cell(properties=props)
    sim = arbor.simulation(recipe)
    handles = [sim.sample((0, tag), arbor.regular_schedule(0.5 * U.ms)) for tag in ("ion", "state")]
    sim.run(30 * U.ms, 0.025 * U.ms)
    ion, state = (sim.samples(h)[0][0][:, 1] for h in handles)
    assert np.ptp(state) > 1e-6, "the state should move"
    # write_ions hands the state to Arbor every step: the ion's concentration is the state
    np.testing.assert_allclose(ion, state, rtol=0, atol=1e-15)
