"""The spec boundary: ``arbor_pycat.spec.make_spec(cls)`` on valid and invalid classes.

Nothing here builds a catalogue or runs Arbor; this module does not import
arbor, and one test checks that ``make_spec`` does not either.

Paths already tested through ``register()`` are not repeated here:
``test_errors.py`` (names, kinds, backends, malformed declarations and random
slots, reserved and duplicate names, ion entries, junctions with ions,
signatures, undeclared and read-only fields, the reversal-potential rules),
``test_reliability.py`` (NaN and complex defaults, async and generator methods,
a keyword-only argument, abstract classes, ``__init__`` arguments),
``test_messages.py`` (the file and line of a typo, of a read-only ``pp.v``
write, of a wrong signature, of a method Arbor never calls),
``test_shadowed_state.py`` (state variables named like concentrations) and
``test_compiler.py`` (``linear``). Here: the ion flags that are inferred from
what the methods read and write, what a valid spec holds, the paths those
files do not reach, and, for every error that points into the user's code,
that the message starts with the class, names the field, and that its
location is this file and the line of the offending expression.
"""
import math
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from arbor_pycat import CustomMechanism, IonInfo, MechanismError
from arbor_pycat.spec import make_spec

HERE = Path(__file__).resolve()


def line_of(marker):
    """The line of this file that ends with the comment ``# <marker>``."""
    lines = HERE.read_text().splitlines()
    found = [n for n, line in enumerate(lines, 1) if line.rstrip().endswith(f"# {marker}")]
    assert len(found) == 1, (marker, found)
    return found[0]


def spec_error(cls, *fragments, marker=None):
    """make_spec(cls) fails; the message starts with the class and has every fragment;
    with ``marker``, the error points at that line of this file."""
    with pytest.raises(MechanismError) as info:
        make_spec(cls)
    error = info.value
    message = str(error)
    assert isinstance(error, ValueError)
    assert message.startswith(f"{cls.__qualname__}: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if marker is None:
        assert error.location is None, message
    else:
        assert (Path(error.filename).resolve(), error.lineno) == (HERE, line_of(marker)), message
        assert f'File "{error.filename}", line {error.lineno}, in {cls.__qualname__}.' in message
    return error


def flags(ion):
    """The nine inferred flags of an IonSpec, as the names of those set."""
    names = ("write_int_concentration", "write_ext_concentration", "read_int_concentration",
             "read_ext_concentration", "use_diff_concentration", "write_rev_potential",
             "read_rev_potential", "read_valence", "verify_valence")
    return {name for name in names if getattr(ion, name)}


# -- what a valid spec holds ---------------------------------------------------------

def test_a_valid_spec_normalises_the_declarations():
    class Channel(CustomMechanism):
        name = "spec_channel"
        parameters = [("gbar", "S/cm2", 1), "scale"]
        state_vars = ["m", ("h", "", 0.5)]
        globals = [("q10", "", 3)]
        random = ["w", ("u", 1)]
        ions = ["k"]

        def advance_state(self, pp):
            pp.m = pp.m + pp.dt * pp.w * pp.q10

        def compute_currents(self, pp):
            pp.ik = pp.gbar * pp.scale * pp.m * pp.h * (pp.v - pp.ek)

    spec = make_spec(Channel)
    assert (spec.name, spec.kind, spec.backend, spec.linear, spec.cls) == \
        ("spec_channel", "density", None, False, Channel)
    assert [(d.name, d.units, d.default) for d in spec.parameters] == [("gbar", "S/cm2", 1.0),
                                                                       ("scale", "", 0.0)]
    assert all(isinstance(d.default, float) for d in spec.parameters + spec.globals)
    assert [(d.name, d.default) for d in spec.state_vars] == [("m", 0.0), ("h", 0.5)]
    assert [(g.name, g.default) for g in spec.globals] == [("q10", 3.0)]
    assert [(r.name, r.slot) for r in spec.random] == [("w", 0), ("u", 1)]
    assert list(spec.methods) == ["compute_currents", "advance_state"]     # Arbor's order
    assert spec.methods["advance_state"].access.writes == {"m"}
    assert spec.methods["advance_state"].access.reads == {"m", "dt", "w", "q10"}
    assert spec.label == "mechanism 'spec_channel' (class test_a_valid_spec_normalises_the_" \
                         "declarations.<locals>.Channel)"
    assert spec.needs_numeric_conductance()                 # ik written, no pp.conductance


def test_random_slots_follow_the_declaration_order_or_the_given_slots():
    class Noisy(CustomMechanism):
        name = "spec_noisy"
        kind = "point"
        random = [("b", 1), ("a", 0)]

    assert [(r.name, r.slot) for r in make_spec(Noisy).random] == [("b", 1), ("a", 0)]


def test_backend_kind_and_linear_are_kept():
    class Syn(CustomMechanism):
        name = "spec_syn"
        kind = "point"
        backend = "python"
        linear = True

        def apply_events(self, pp, events):
            pass

    spec = make_spec(Syn)
    assert (spec.kind, spec.backend, spec.linear, list(spec.methods)) == \
        ("point", "python", True, ["apply_events"])


# -- ion flags inferred from what the methods read and write ---------------------------

def _ion_class(ion, function, method="compute_currents"):
    return type("IonUser", (CustomMechanism,), {"name": "spec_ion_user", "ions": [ion],
                                                method: function})


def _reads_ena(self, pp):
    pp.ina = 0.1 * (pp.v - pp.ena)


def _reads_nai(self, pp):
    pp.i = 0.0 * pp.nai


def _reads_nao(self, pp):
    pp.i = 0.0 * pp.nao


def _reads_naq(self, pp):
    pp.i = 0.0 * pp.naq


def _writes_nai(self, pp):
    pp.nai = 10.0


def _writes_nao(self, pp):
    pp.nao = 140.0


def _augments_nai(self, pp):
    pp.nai += 0.1 * pp.ina


def _copies_nao_to_nai(self, pp):
    pp.nai = pp.nao


def _no_ion_field(self, pp):
    pp.i = 0.0 * pp.v


@pytest.mark.parametrize("function, method, expected", [
    (_reads_ena, "compute_currents", {"read_rev_potential"}),
    (_reads_nai, "compute_currents", {"read_int_concentration"}),
    (_reads_nao, "compute_currents", {"read_ext_concentration"}),
    (_reads_naq, "compute_currents", {"read_valence"}),
    (_writes_nai, "write_ions", {"write_int_concentration"}),
    (_writes_nao, "write_ions", {"write_ext_concentration"}),
    (_augments_nai, "write_ions", {"read_int_concentration", "write_int_concentration"}),
    (_copies_nao_to_nai, "init_mechanism", {"read_ext_concentration", "write_int_concentration"}),
    (_no_ion_field, "compute_currents", set()),
], ids=lambda x: x.__name__.strip("_") if callable(x) else None)
def test_ion_flags_are_inferred_from_reads_and_writes(function, method, expected):
    (ion,) = make_spec(_ion_class(IonInfo("na"), function, method)).ions
    assert flags(ion) == expected
    assert (ion.name, ion.expected_valence) == ("na", 0)


def test_an_ion_given_by_name_is_inferred_like_an_ion_info():
    by_name = make_spec(_ion_class("na", _reads_ena)).ions
    by_info = make_spec(_ion_class(IonInfo("na"), _reads_ena)).ions
    assert by_name == by_info and flags(by_name[0]) == {"read_rev_potential"}


def _ca_current(self, pp):
    pp.ica = 0.0 * pp.v


def _halves_cad(self, pp):
    pp.cad = pp.cad * 0.5


def test_an_explicit_flag_wins_over_the_inference():
    cls = _ion_class(IonInfo("ca", read_rev_potential=True, write_int_concentration=True,
                             verify_valence=True, expected_valence=2), _ca_current)
    (ion,) = make_spec(cls).ions
    assert flags(ion) == {"read_rev_potential", "write_int_concentration", "verify_valence"}
    assert ion.expected_valence == 2
    (ion,) = make_spec(_ion_class(IonInfo("na", read_rev_potential=False, write_rev_potential=False),
                                  _no_ion_field)).ions
    assert flags(ion) == set()


def test_an_explicit_false_read_flag_makes_the_read_an_error():
    def compute_currents(self, pp):
        pp.i = 0.0 * pp.nai  # not readable

    cls = type("NoRead", (CustomMechanism,), {"name": "spec_no_read", "compute_currents": compute_currents,
                                             "ions": [IonInfo("na", read_int_concentration=False)]})
    spec_error(cls, "compute_currents uses pp.nai", "IonInfo('na') does not declare it is read or written",
               marker="not readable")


def test_use_diff_concentration_is_never_inferred():
    (ion,) = make_spec(_ion_class(IonInfo("ca", use_diff_concentration=True), _halves_cad,
                                  "write_ions")).ions
    assert flags(ion) == {"use_diff_concentration"}        # not write_int_concentration: cad is its own
    (ion,) = make_spec(_ion_class(IonInfo("ca", use_diff_concentration=True), _ca_current)).ions
    assert flags(ion) == {"use_diff_concentration"}        # declared, even if unused


def test_use_diff_concentration_missing_points_at_the_use():
    class UsesCad(CustomMechanism):
        name = "spec_uses_cad"
        ions = [IonInfo("ca")]

        def write_ions(self, pp):
            pp.cai = 2.0 * pp.cad  # cad without the flag

    spec_error(UsesCad, "pp.cad", "IonInfo('ca')", "use_diff_concentration=True",
               marker="cad without the flag")


def test_a_state_shadowing_a_concentration_moves_the_inference_to_ion_name():
    class Pump(CustomMechanism):
        name = "spec_pump"
        state_vars = [("cai", "mM", 5e-5)]
        ions = [IonInfo("ca", write_int_concentration=True)]

        def advance_state(self, pp):
            pp.cai = pp.cai + pp.dt * pp.ica            # the state, and the total current

        def write_ions(self, pp):
            pp.ion_cai = pp.cai + 0.0 * pp.ion_cai      # the ion's concentration, read

    (ion,) = make_spec(Pump).ions
    assert flags(ion) == {"write_int_concentration", "read_int_concentration"}

    class WriteOnlyPump(Pump):
        name = "spec_write_only_pump"

        def write_ions(self, pp):
            pp.ion_cai = pp.cai                          # the state read, the ion's written

    (ion,) = make_spec(WriteOnlyPump).ions
    assert flags(ion) == {"write_int_concentration"}    # reading the state is no read of the ion's


def helper_reading(pp):
    return pp.nai


def test_an_opaque_method_assumes_every_read_and_says_so():
    class Opaque(CustomMechanism):
        name = "spec_opaque"
        ions = [IonInfo("na")]

        def compute_currents(self, pp):
            pp.ina = 0.0 * helper_reading(pp)

    with pytest.warns(UserWarning, match=r"Opaque: cannot see every pp access .*compute_currents"):
        (ion,) = make_spec(Opaque).ions
    assert flags(ion) == {"read_int_concentration", "read_ext_concentration", "read_rev_potential",
                          "read_valence"}                 # every read, no write
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_spec(Opaque)                                 # said once per class


# -- errors of the declarations that earlier tests do not reach -----------------------------

def test_an_async_generator_method_is_refused():
    class AsyncGen(CustomMechanism):
        name = "spec_async_gen"

        async def advance_state(self, pp):
            yield

    spec_error(AsyncGen, "advance_state is an 'async def' method")


def test_a_method_whose_signature_cannot_be_read():
    class Builtin(CustomMechanism):
        name = "spec_builtin"
        advance_state = max

    spec_error(Builtin, "advance_state: cannot read its signature")


def test_keyword_only_arguments_are_all_named():
    class KwOnly(CustomMechanism):
        name = "spec_kw_only"

        def compute_currents(self, pp, *, scale, offset):
            pass

    spec_error(KwOnly, "compute_currents has the keyword-only arguments scale, offset without a default",
               "Arbor passes only (pp)", "give them a default")


def test_init_with_several_required_arguments_names_them_all():
    class NeedsTwo(CustomMechanism):
        name = "spec_needs_two"

        def __init__(self, tau, gbar, *args, scale=1.0, **kwargs):
            pass

    spec_error(NeedsTwo, "__init__ needs the arguments tau, gbar", "NeedsTwo() with none")


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_an_infinite_default_is_allowed(value):
    class Infinite(CustomMechanism):
        name = "spec_infinite"
        parameters = [("tau", "ms", value)]      # cnexp(tau=inf) leaves a gate where it is
    assert make_spec(Infinite).parameters[0].default == value


def test_a_declared_default_of_numpy_type_is_a_float():
    import numpy as np

    class Numpy(CustomMechanism):
        name = "spec_numpy"
        parameters = [("g", "S/cm2", np.float32(0.25)), ("n", "", np.int64(3))]
    assert [(type(d.default), d.default) for d in make_spec(Numpy).parameters] == [(float, 0.25),
                                                                                 (float, 3.0)]


@pytest.mark.parametrize("default", [math.nan, float("nan"), "nan"])
def test_a_nan_default_in_any_spelling_is_refused(default):
    class Nan(CustomMechanism):
        name = "spec_nan"
        globals = [("q10", "", default)]
    spec_error(Nan, "globals entry 'q10'", "NaN")


def test_a_global_named_like_one_of_its_ions_is_refused():
    """Arbor reads 'mech/k=8' as renaming ion k: such a global could never be set."""
    class Named(CustomMechanism):
        name = "spec_global_ion"
        globals = [("k", "", 1.0)]
        ions = ["k"]

        def compute_currents(self, pp):
            pp.ik = pp.k * (pp.v - pp.ek)
    spec_error(Named, "globals entry 'k' has the name of an ion", "renaming of that ion")


# -- errors that point into the method: class, field, file and line ---------------------------

def test_a_wrong_apply_events_signature_points_at_the_def():
    class Events(CustomMechanism):
        name = "spec_events"
        kind = "point"

        def apply_events(self, pp, events, extra):  # one too many
            pass

    spec_error(Events, "apply_events must have the signature apply_events(self, pp, events)",
               "not apply_events(self, pp, events, extra)", marker="one too many")


def _located(name, kind="density", ions=(), methods=()):
    return type(name, (CustomMechanism,), {"name": "spec_" + name.lower(), "kind": kind,
                                           "ions": list(ions), **dict(methods)})


def _uses_pp_ko(self, pp):
    pp.i = 0.0 * pp.ko  # ko of no ion


def _uses_pp_ek(self, pp):
    pp.i = 0.0 * (pp.v - pp.ek)  # ek of no ion


def _voltage_current(self, pp):
    pp.i = 0.0  # no current in a voltage mechanism


def _current_outside(self, pp):
    pp.i = 0.0  # current outside compute_currents


def _peer_v(self, pp):
    pp.i = 0.0 * pp.peer_v  # peer of a density mechanism


def _time_since_spike(self, pp, events):
    x = pp.time_since_spike  # outside post_event
    del x


def _undeclared(self, pp):
    pp.i = pp.gbar_k * pp.v  # undeclared


@pytest.mark.parametrize("cls, field, reason, marker", [
    (_located("NoK", ions=["na"], methods={"compute_currents": _uses_pp_ko}), "ko",
     "no ion 'k' is declared (ions: na)", "ko of no ion"),
    (_located("NoK2", methods={"compute_currents": _uses_pp_ek}), "ek",
     "no ion 'k' is declared (ions: none)", "ek of no ion"),
    (_located("Clamp", kind="voltage", methods={"advance_state": _voltage_current}), "i",
     "a voltage mechanism has no current", "no current in a voltage mechanism"),
    (_located("Late", methods={"advance_state": _current_outside}), "i",
     "currents exist only in compute_currents", "current outside compute_currents"),
    (_located("Peer", methods={"compute_currents": _peer_v}), "peer_v",
     "only junction mechanisms have a peer", "peer of a density mechanism"),
    (_located("Spike", kind="point", methods={"apply_events": _time_since_spike}), "time_since_spike",
     "it exists only in post_event", "outside post_event"),
    (_located("Undeclared", methods={"compute_currents": _undeclared}), "gbar_k",
     "not a declared parameter, state variable, global, random variable or ion field", "undeclared"),
], ids=lambda x: x if isinstance(x, str) and x.isidentifier() else None)
def test_a_field_that_is_not_there_names_why_and_where(cls, field, reason, marker):
    method = next(m for m in ("compute_currents", "advance_state", "apply_events") if m in vars(cls))
    spec_error(cls, f"{method} uses pp.{field}, which is not a field here: {reason}", marker=marker)


def _writes_dt(self, pp):
    pp.dt = 0.1  # an input


def _writes_weight(self, pp):
    pp.weight[0] = 1.0  # an expert array


def _writes_read_only_nao(self, pp):
    pp.nao = 140.0  # declared read-only


@pytest.mark.parametrize("cls, field, reason, marker", [
    (_located("Dt", methods={"advance_state": _writes_dt}), "dt", "it is an input", "an input"),
    (_located("Weight", methods={"advance_state": _writes_weight}), "weight", "it is an input",
     "an expert array"),
    (_located("Nao", ions=[IonInfo("na", write_ext_concentration=False, read_ext_concentration=True)],
              methods={"write_ions": _writes_read_only_nao}), "nao",
     "IonInfo('na') does not declare it writes nao", "declared read-only"),
])
def test_a_read_only_write_names_why_and_where(cls, field, reason, marker):
    method = next(m for m in ("advance_state", "write_ions") if m in vars(cls))
    spec_error(cls, f"{method} writes pp.{field}, which is read-only here: {reason}", marker=marker)


def test_a_reversal_potential_written_by_a_density_mechanism_points_at_the_write():
    class WritesEna(CustomMechanism):
        name = "spec_writes_ena"
        ions = [IonInfo("na")]

        def init_mechanism(self, pp):
            pp.ena = 50.0  # a density mechanism

    spec_error(WritesEna, "writes the reversal potential ena", "kind='reversal_potential'",
               marker="a density mechanism")


def test_a_declared_reversal_potential_write_without_a_writer_has_no_location():
    class DeclaresEna(CustomMechanism):
        name = "spec_declares_ena"
        kind = "point"
        ions = [IonInfo("na", write_rev_potential=True)]

    spec_error(DeclaresEna, "writes the reversal potential ena", "set_ion(..., method=...)")


def test_a_reversal_potential_mechanism_writing_a_concentration_points_at_the_write():
    class RevNa(CustomMechanism):
        name = "spec_rev_na"
        kind = "reversal_potential"
        ions = [IonInfo("na")]

        def compute_currents(self, pp):
            pp.ena = 25.0 * (pp.nao - pp.nai)
            pp.nai = 10.0  # and a concentration

    spec_error(RevNa, "compute_currents writes pp.nai", "cannot write currents or concentrations",
               marker="and a concentration")


def test_a_reversal_potential_mechanism_of_two_ions_may_set_both():
    class RevBoth(CustomMechanism):
        name = "spec_rev_both"
        kind = "reversal_potential"
        ions = ["na", "k"]

        def compute_currents(self, pp):
            pp.ena = 25.0 * (pp.nao / pp.nai)
            pp.ek = -80.0

    ions = make_spec(RevBoth).ions
    assert [flags(ion) for ion in ions] == [
        {"write_rev_potential", "read_int_concentration", "read_ext_concentration"},
        {"write_rev_potential"}]


# -- the boundary itself ---------------------------------------------------------------

def test_make_spec_needs_no_arbor(tmp_path):
    """Specs are made without Arbor: a fresh interpreter makes one and has not imported it."""
    script = tmp_path / "leak.py"        # a file: the spec reads the methods' source
    script.write_text(textwrap.dedent("""
        import sys
        import arbor_pycat
        from arbor_pycat.spec import make_spec

        class Leak(arbor_pycat.CustomMechanism):
            name = "leak"
            parameters = [("g", "S/cm2", 1e-4)]
            ions = ["k"]

            def compute_currents(self, pp):
                pp.ik = pp.g * (pp.v - pp.ek)

        spec = make_spec(Leak)
        assert [p.name for p in spec.parameters] == ["g"] and spec.ions[0].read_rev_potential
        assert "arbor" not in sys.modules, "make_spec imported arbor"
        print("OK")
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stdout + result.stderr
