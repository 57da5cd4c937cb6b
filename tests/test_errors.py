"""Bad declarations: each is a MechanismError (a ValueError) naming the class and the entry.

Nothing here runs a simulation. Errors about what a method's body does with
``pp`` may surface at ``register`` or at ``build()`` (API.md); the tests
accept either, but never later than ``build()``.
"""
import types
from contextlib import contextmanager

import arbor
import numpy as np
import pytest

import arbor_pycat
from arbor_pycat import CustomMechanism, IonInfo, MechanismError, register
from arbor_pycat import declarations


@contextmanager
def mechanism_error(*fragments):
    """Expect a MechanismError whose message contains every fragment."""
    with pytest.raises(MechanismError) as info:
        yield info
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def register_and_build(cls):
    """Register ``cls`` and build a catalogue of it alone (python backend)."""
    register(cls)
    return arbor_pycat.build(cls, backend="python")


# -- the error type -------------------------------------------------------------

def test_mechanism_error_is_a_value_error():
    assert issubclass(MechanismError, ValueError)
    assert arbor_pycat.MechanismError is MechanismError


# -- name -----------------------------------------------------------------------

def test_missing_name():
    with mechanism_error("NoName", "name"):
        @register
        class NoName(CustomMechanism):
            kind = "density"


@pytest.mark.parametrize("bad", ["1abc", "my-mech", "with space", "class", "", "na+k"])
def test_invalid_name(bad):
    with mechanism_error("BadName", repr(bad)):
        @register
        class BadName(CustomMechanism):
            name = bad


@pytest.mark.parametrize("bad", [3, 1.5, b"bytes", ("a",)])
def test_name_not_a_string(bad):
    with mechanism_error("BadName"):
        @register
        class BadName(CustomMechanism):
            name = bad


# -- kind and backend -----------------------------------------------------------

@pytest.mark.parametrize("bad", ["dense", "Density", "synapse", "", None, 1])
def test_unknown_kind(bad):
    with mechanism_error("BadKind", "kind", repr(bad)):
        @register
        class BadKind(CustomMechanism):
            name = "bad_kind"
            kind = bad


def test_unknown_backend_on_the_class():
    with mechanism_error("BadBackend", "backend", "'cuda'"):
        @register
        class BadBackend(CustomMechanism):
            name = "bad_backend"
            backend = "cuda"


def test_unknown_backend_in_build():
    @register
    class Fine(CustomMechanism):
        name = "fine_backend"

    with mechanism_error("backend", "'cuda'"):
        arbor_pycat.build(Fine, backend="cuda")


# -- duplicate and reserved field names ----------------------------------------

def test_state_and_parameter_with_the_same_name():
    with mechanism_error("Dup", "'g'", "parameters"):
        @register
        class Dup(CustomMechanism):
            name = "dup"
            parameters = [("g", "S/cm2", 0.1)]
            state_vars = [("g", "", 0.0)]


def test_state_declared_twice():
    with mechanism_error("Dup", "'m'", "state_vars"):
        @register
        class Dup(CustomMechanism):
            name = "dup"
            state_vars = [("m", "", 0.0), ("m", "", 1.0)]


def test_global_and_parameter_with_the_same_name():
    with mechanism_error("Dup", "'q10'"):
        @register
        class Dup(CustomMechanism):
            name = "dup"
            parameters = [("q10", "", 3.0)]
            globals = [("q10", "", 3.0)]


def test_random_variable_and_state_with_the_same_name():
    with mechanism_error("Dup", "'w'"):
        @register
        class Dup(CustomMechanism):
            name = "dup"
            state_vars = [("w", "", 0.0)]
            random = [("w", 0)]


def test_state_named_v():
    with mechanism_error("StateV", "'v'", "reserved"):
        @register
        class StateV(CustomMechanism):
            name = "state_v"
            state_vars = [("v", "mV", 0.0)]


def test_parameter_named_after_a_declared_ion_current():
    with mechanism_error("ParamIna", "'ina'", "reserved"):
        @register
        class ParamIna(CustomMechanism):
            name = "param_ina"
            parameters = [("ina", "mA/cm2", 0.0)]
            ions = [IonInfo("na")]


@pytest.mark.parametrize("field, ion", [("ek", "k"), ("cai", "ca"), ("cao", "ca"), ("nad", "na"),
                                        ("caq", "ca")])
def test_parameter_named_after_an_ion_field(field, ion):
    with mechanism_error("IonField", repr(field), "reserved"):
        @register
        class IonField(CustomMechanism):
            name = "ion_field"
            parameters = [(field, "", 0.0)]
            ions = [IonInfo(ion)]


@pytest.mark.parametrize("field", ["i", "conductance", "width", "dt", "temperature", "diam", "area",
                                   "peer_v", "time_since_spike", "node_index", "weight", "raw"])
def test_reserved_pp_field_names(field):
    with mechanism_error("Reserved", repr(field), "reserved"):
        @register
        class Reserved(CustomMechanism):
            name = "reserved"
            state_vars = [(field, "", 0.0)]


def test_global_named_dt():
    with mechanism_error("GlobalDt", "'dt'", "reserved"):
        @register
        class GlobalDt(CustomMechanism):
            name = "global_dt"
            globals = [("dt", "ms", 0.1)]


# -- malformed declarations ----------------------------------------------------

@pytest.mark.parametrize("attribute", ["state_vars", "parameters", "globals"])
@pytest.mark.parametrize("value, fragment", [
    ([("m", "")], "('m', '')"),                       # too short
    ([("m", "", 0.0, 1.0)], "('m', '', 0.0, 1.0)"),   # too long
    ([("m", 1, 0.0)], "units"),                       # units not a string
    ([("m", "", "zero")], "'zero'"),                  # default not a number
    ([("1m", "", 0.0)], "'1m'"),                      # name not an identifier
    ([(3, "", 0.0)], "3"),                            # name not a string
    ([3.5], "3.5"),                                   # not a tuple at all
    ("m", "'m'"),                                     # a string, not a list
    (7, "7"),                                         # not iterable
])
def test_malformed_declaration(attribute, value, fragment):
    with mechanism_error("Malformed", attribute, fragment):
        Malformed = type("Malformed", (CustomMechanism,), {"name": "malformed", attribute: value})
        register(Malformed)


@pytest.mark.parametrize("value, fragment", [
    ([("w", -1)], "slot"),
    ([("w", 1)], "slot"),                # slots must be 0..n-1
    ([("w", 0), ("u", 0)], "slot"),
    ([("w", "0")], "slot"),
    ([("1w", 0)], "'1w'"),
    ([("w", 0, 1)], "random"),
])
def test_malformed_random(value, fragment):
    with mechanism_error("BadRandom", fragment):
        BadRandom = type("BadRandom", (CustomMechanism,), {"name": "bad_random", "random": value})
        register(BadRandom)


# -- ions ------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["na+", "1ca", "", "k o", "class"])
def test_ion_name_not_an_identifier(bad):
    with mechanism_error("BadIon", repr(bad)):
        @register
        class BadIon(CustomMechanism):
            name = "bad_ion"
            ions = [IonInfo(bad)]


def test_ion_entry_of_the_wrong_type():
    with mechanism_error("BadIon", "ions", "5"):
        @register
        class BadIon(CustomMechanism):
            name = "bad_ion"
            ions = [5]


def test_ion_declared_twice():
    with mechanism_error("TwoK", "'k'", "twice"):
        @register
        class TwoK(CustomMechanism):
            name = "two_k"
            ions = [IonInfo("k"), IonInfo("k")]


def test_junction_with_ions():
    with mechanism_error("Gap", "junction"):
        @register
        class Gap(CustomMechanism):
            name = "gap"
            kind = "junction"
            ions = [IonInfo("ca")]


def test_diffusive_concentration_needs_the_flag():
    with mechanism_error("UsesCad", "cad", "use_diff_concentration"):
        @register
        class UsesCad(CustomMechanism):
            name = "uses_cad"
            ions = [IonInfo("ca")]

            def compute_currents(self, pp):
                pp.i = 0.0 * pp.cad


# -- method signatures ----------------------------------------------------------

def test_method_without_pp():
    with mechanism_error("NoPP", "compute_currents", "compute_currents(self, pp)"):
        @register
        class NoPP(CustomMechanism):
            name = "no_pp"

            def compute_currents(self):
                pass


def test_method_with_an_extra_argument():
    with mechanism_error("Extra", "advance_state", "advance_state(self, pp)"):
        @register
        class Extra(CustomMechanism):
            name = "extra"

            def advance_state(self, pp, dt):
                pass


def test_apply_events_without_events():
    with mechanism_error("NoEvents", "apply_events", "apply_events(self, pp, events)"):
        @register
        class NoEvents(CustomMechanism):
            name = "no_events"
            kind = "point"

            def apply_events(self, pp):
                pass


def test_static_method_is_missing_self():
    with mechanism_error("Static", "init_mechanism"):
        @register
        class Static(CustomMechanism):
            name = "static"

            @staticmethod
            def init_mechanism(pp):
                pass


def test_method_that_is_not_callable():
    with mechanism_error("NotCallable", "write_ions"):
        @register
        class NotCallable(CustomMechanism):
            name = "not_callable"
            write_ions = 3


def test_optional_extra_arguments_are_fine():
    @register
    class Defaults(CustomMechanism):
        name = "defaults"

        def compute_currents(self, pp, scale=1.0):
            pp.i = 0.0 * scale
            pp.conductance = 0.0

    assert "defaults" in set(arbor_pycat.build(Defaults, backend="python"))


# -- what the method bodies write -----------------------------------------------

@pytest.mark.filterwarnings("ignore:.*cannot see every pp access")   # print(dir(pp))
def test_seed_example_mech_writing_eka_with_only_ca():
    """The seed README's ExampleMech, verbatim: eka is not a field of a ca-only mechanism."""
    with mechanism_error("ExampleMech", "eka"):
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
                pp.x += pp.y * pp.dt
                pp.y += -pp.x * pp.dt

            def compute_currents(self, pp):
                pp.i = pp.v + pp.x

            def write_ions(self, pp):
                pp.eka = +80
                pp.cai = -pp.v

        arbor_pycat.build(ExampleMech, backend="python")


def test_write_of_an_undeclared_field():
    class WritesGbar(CustomMechanism):
        name = "writes_gbar"

        def advance_state(self, pp):
            pp.gbar = 0.1

    with mechanism_error("WritesGbar", "advance_state", "gbar"):
        register_and_build(WritesGbar)


def test_read_of_an_undeclared_field():
    class ReadsGbar(CustomMechanism):
        name = "reads_gbar"

        def compute_currents(self, pp):
            pp.i = pp.gbar * (pp.v + 65)

    with mechanism_error("ReadsGbar", "compute_currents", "gbar"):
        register_and_build(ReadsGbar)


def test_ion_field_of_an_undeclared_ion():
    class UsesK(CustomMechanism):
        name = "uses_k"
        ions = [IonInfo("na")]

        def compute_currents(self, pp):
            pp.ik = 0.0

    with mechanism_error("UsesK", "ik"):
        register_and_build(UsesK)


def test_write_of_a_global():
    class WritesGlobal(CustomMechanism):
        name = "writes_global"
        globals = [("q10", "", 3.0)]

        def advance_state(self, pp):
            pp.q10 = 1.0

    with mechanism_error("WritesGlobal", "q10", "read-only"):
        register_and_build(WritesGlobal)


def test_write_of_a_read_only_ion_concentration():
    class WritesCao(CustomMechanism):
        name = "writes_cao"
        ions = [IonInfo("ca", write_ext_concentration=False, read_ext_concentration=True)]

        def write_ions(self, pp):
            pp.cao = 2.0

    with mechanism_error("WritesCao", "cao"):
        register_and_build(WritesCao)


@pytest.mark.parametrize("method", ["compute_currents", "advance_state", "write_ions"])
def test_density_mechanism_writing_v_outside_init(method):
    def body(self, pp):
        pp.v = -65.0

    WritesV = type("WritesV", (CustomMechanism,), {"name": "writes_v", method: body})
    with mechanism_error("WritesV", method, "pp.v", "init_mechanism"):
        register_and_build(WritesV)


def test_density_mechanism_augmenting_v():
    class BumpsV(CustomMechanism):
        name = "bumps_v"

        def advance_state(self, pp):
            pp.v += 1.0

    with mechanism_error("BumpsV", "advance_state", "pp.v"):
        register_and_build(BumpsV)


def test_point_mechanism_writing_v():
    class PointV(CustomMechanism):
        name = "point_v"
        kind = "point"

        def apply_events(self, pp, events):
            pp.v = 0.0

    with mechanism_error("PointV", "apply_events", "pp.v"):
        register_and_build(PointV)


def test_writing_v_is_allowed_in_init_and_in_voltage_mechanisms():
    class InitV(CustomMechanism):
        name = "init_v"

        def init_mechanism(self, pp):
            pp.v = -70.0

    class Clamp(CustomMechanism):
        name = "clamp_v"
        kind = "voltage"

        def advance_state(self, pp):
            pp.v = -70.0

    register(InitV)
    register(Clamp)
    assert set(arbor_pycat.build(InitV, Clamp, backend="python")) == {"init_v", "clamp_v"}


def test_density_mechanism_writing_a_reversal_potential():
    class WritesEca(CustomMechanism):
        name = "writes_eca"
        ions = [IonInfo("ca")]

        def write_ions(self, pp):
            pp.eca = 120.0

    with mechanism_error("WritesEca", "eca", "reversal_potential"):
        register_and_build(WritesEca)


def test_density_mechanism_declaring_a_reversal_potential_write():
    class DeclaresEca(CustomMechanism):
        name = "declares_eca"
        ions = [IonInfo("ca", write_rev_potential=True)]

    with mechanism_error("DeclaresEca", "eca", "reversal_potential"):
        register_and_build(DeclaresEca)


def test_point_mechanism_writing_a_reversal_potential():
    class PointEk(CustomMechanism):
        name = "point_ek"
        kind = "point"
        ions = [IonInfo("k")]

        def init_mechanism(self, pp):
            pp.ek = -80.0

    with mechanism_error("PointEk", "ek", "reversal_potential"):
        register_and_build(PointEk)


def _reversal_class(extra_name, extra):
    """A reversal-potential mechanism for ca, plus one more method ``extra``."""
    def init_mechanism(self, pp):
        pp.eca = 12.5 * np.log(pp.cao / pp.cai)

    namespace = {"name": "rev_ca", "kind": "reversal_potential", "ions": [IonInfo("ca")],
                 "init_mechanism": init_mechanism, extra_name: extra}
    return type("RevCa", (CustomMechanism,), namespace)


def test_reversal_potential_mechanism_writing_a_current():
    def compute_currents(self, pp):
        pp.i = 0.0

    with mechanism_error("RevCa", "pp.i"):
        register_and_build(_reversal_class("compute_currents", compute_currents))


def test_reversal_potential_mechanism_writing_an_ion_current():
    def compute_currents(self, pp):
        pp.ica = 0.0

    with mechanism_error("RevCa", "ica"):
        register_and_build(_reversal_class("compute_currents", compute_currents))


def test_reversal_potential_mechanism_writing_a_concentration():
    def compute_currents(self, pp):
        pp.eca = 12.5 * np.log(pp.cao / pp.cai)
        pp.cai = 1e-4

    with mechanism_error("RevCa", "cai"):
        register_and_build(_reversal_class("compute_currents", compute_currents))


@pytest.mark.parametrize("method", ["advance_state", "write_ions"])
def test_reversal_potential_mechanism_with_a_method_arbor_never_calls(method):
    """Arbor 0.12 calls only init_mechanism and compute_currents of these: no silent no-op."""
    def body(self, pp):
        pp.eca = 12.5 * np.log(pp.cao / pp.cai)

    with mechanism_error("RevCa", method, "compute_currents"):
        register_and_build(_reversal_class(method, body))


def test_reversal_potential_mechanism_that_writes_no_reversal_potential():
    class NoRev(CustomMechanism):
        name = "no_rev"
        kind = "reversal_potential"
        ions = [IonInfo("ca")]

        def init_mechanism(self, pp):
            pass

    with mechanism_error("NoRev", "reversal"):
        register_and_build(NoRev)


def test_valid_reversal_potential_mechanism_builds():
    def compute_currents(self, pp):
        pp.eca = 12.5 * np.log(pp.cao / pp.cai)

    cls = _reversal_class("compute_currents", compute_currents)
    assert set(register_and_build(cls)) == {"rev_ca"}


# -- register, build() arguments ------------------------------------------------

def test_register_returns_the_class():
    class Leak(CustomMechanism):
        name = "leak_returned"

        def compute_currents(self, pp):
            pp.i = 1e-4 * (pp.v + 65)

    assert register(Leak) is Leak


def test_failed_register_does_not_register():
    before = dict(declarations._registry)
    with pytest.raises(MechanismError):
        @register
        class Bad(CustomMechanism):
            name = "half_registered"
            kind = "nonsense"
    assert declarations._registry == before


def test_build_with_two_classes_of_the_same_name():
    class A(CustomMechanism):
        name = "same"

    class B(CustomMechanism):
        name = "same"

    with mechanism_error("'same'"):
        arbor_pycat.build(A, B, backend="python")


# -- Arbor version -----------------------------------------------------------------

@pytest.mark.parametrize("version", ["0.11.0", "0.9.0", "0.13.0", "1.0.0", "unknown"])
def test_unsupported_arbor_version(version):
    from arbor_pycat.compat import check_arbor
    fake = types.SimpleNamespace(__version__=version)
    with pytest.raises(arbor_pycat.UnsupportedArborError) as info:
        check_arbor(fake)
    message = str(info.value)
    assert version in message
    assert arbor_pycat.SUPPORTED_ARBOR in message     # names the supported range
    assert ">=0.12" in message and "<0.13" in message


def test_arbor_module_without_a_version():
    from arbor_pycat.compat import check_arbor
    with pytest.raises(arbor_pycat.UnsupportedArborError, match="0.12"):
        check_arbor(types.SimpleNamespace())


@pytest.mark.parametrize("version", ["0.12.0", "0.12.2", "0.12.2.dev0", "0.12.3rc1"])
def test_supported_arbor_versions(version):
    from arbor_pycat.compat import check_arbor
    assert check_arbor(types.SimpleNamespace(__version__=version)) == version


def test_installed_arbor_is_supported():
    from arbor_pycat.compat import check_arbor
    assert check_arbor() == arbor.__version__


def test_build_refuses_an_unsupported_arbor(monkeypatch):
    class Fine(CustomMechanism):
        name = "fine_version"

    monkeypatch.setattr(arbor, "__version__", "0.11.0")
    with pytest.raises(arbor_pycat.UnsupportedArborError, match="0.11.0"):
        arbor_pycat.build(Fine, backend="python")


@pytest.mark.filterwarnings("ignore:.*cannot see every pp access")   # exec'd methods have no source
@pytest.mark.parametrize("kind, method", [
    ("reversal_potential", "advance_state"),
    ("reversal_potential", "write_ions"),
    ("voltage", "write_ions"),
    ("density", "apply_events"),
    ("junction", "apply_events"),
])
def test_method_arbor_never_calls_for_the_kind(kind, method):
    body = {"name": "ignored_method", "kind": kind}
    if kind == "reversal_potential":
        body["ions"] = [IonInfo("ca", write_rev_potential=True)]
    signature = "self, pp, events" if method == "apply_events" else "self, pp"
    namespace = {}
    exec(f"def {method}({signature}):\n    pass\n", namespace)
    body[method] = namespace[method]
    cls = type("Ignored", (CustomMechanism,), body)
    with mechanism_error("Ignored", method, "never calls", kind):
        register(cls)
