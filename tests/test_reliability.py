"""Reliability: whatever a user writes, no crash and no silently wrong run.

Each test reproduces one case that once crashed, ran silently wrong or gave a
misleading error. Where a crash is possible the case runs in a fresh
interpreter (``run_snippet``), so that a segmentation fault fails one test
instead of killing pytest.
"""
import abc
import math

import numpy as np
import pytest

import arbor_pycat
from arbor_pycat import CustomMechanism, MechanismError, register
from pycat_cell import OneCell, check_snippet, run_snippet, simulate


def _message(cls_body):
    with pytest.raises(MechanismError) as info:
        cls_body()
    return str(info.value)


# -- declarations and signatures (register time) ----------------------------------

@pytest.mark.parametrize("attribute", ["parameters", "state_vars", "globals"])
def test_nan_default_is_refused_at_register(attribute):
    def declare():
        @register
        class NanDefault(CustomMechanism):
            name = "nan_default"
            locals()[attribute] = [("g", "", math.nan)]
    message = _message(declare)
    assert "NanDefault" in message and "'g'" in message and "NaN" in message, message


def test_complex_default_is_refused_at_register():
    def declare():
        @register
        class ComplexDefault(CustomMechanism):
            name = "complex_default"
            parameters = [("g", "", 1 + 2j)]
    message = _message(declare)
    assert "ComplexDefault" in message and "'g'" in message and "real" in message, message


def test_async_method_is_refused_at_register():
    def declare():
        @register
        class Async(CustomMechanism):
            name = "async_mech"

            async def advance_state(self, pp):
                pass
    message = _message(declare)
    assert "Async" in message and "advance_state" in message and "async def" in message, message


def test_generator_method_is_refused_at_register():
    def declare():
        @register
        class Gen(CustomMechanism):
            name = "gen_mech"
            state_vars = ["s"]

            def advance_state(self, pp):
                pp.s[:] = 1.0
                yield
    message = _message(declare)
    assert "Gen" in message and "advance_state" in message and "generator" in message, message


def test_required_keyword_only_argument_is_refused_at_register():
    def declare():
        @register
        class KwOnly(CustomMechanism):
            name = "kw_only"

            def advance_state(self, pp, *, k):
                pass
    message = _message(declare)
    assert "KwOnly" in message and "advance_state" in message and "keyword-only" in message, message
    assert "k" in message


def test_keyword_only_argument_with_a_default_is_fine():
    @register
    class KwDefault(CustomMechanism):
        name = "kw_default"
        state_vars = ["s"]

        def advance_state(self, pp, *, k=2.0):
            pp.s[:] = k
    assert "kw_default" in set(arbor_pycat.build(KwDefault, backend="python"))


def test_abstract_class_is_refused_at_register():
    class Base(CustomMechanism, abc.ABC):
        @abc.abstractmethod
        def rate(self):
            ...

    def declare():
        @register
        class Abstract(Base):
            name = "abstract_mech"

            def advance_state(self, pp):
                pass
    message = _message(declare)
    assert "Abstract" in message and "abstract" in message and "rate" in message, message


def test_init_with_required_arguments_is_refused_at_register():
    def declare():
        @register
        class NeedsArgs(CustomMechanism):
            name = "needs_args"

            def __init__(self, tau):
                self.tau = tau

            def advance_state(self, pp):
                pass
    message = _message(declare)
    assert "NeedsArgs" in message and "__init__" in message and "tau" in message, message


def test_init_that_raises_is_a_mechanism_error_at_build():
    @register
    class InitFails(CustomMechanism):
        name = "init_fails"

        def __init__(self):
            raise RuntimeError("no licence")

        def advance_state(self, pp):
            pass
    with pytest.raises(MechanismError) as info:
        arbor_pycat.build(InitFails, backend="python")
    message = str(info.value)
    assert "InitFails" in message and "no licence" in message, message


def test_declared_names_are_normalised_like_python_identifiers():
    """'tau_µ' (micro sign) in a declaration is 'tau_μ' (Greek mu) in source code."""
    micro = "tau_\u00b5"

    @register
    class Micro(CustomMechanism):
        name = "micro_sign"
        parameters = [(micro, "ms", 2.0)]
        state_vars = [("s", "", 0.0)]

        def init_mechanism(self, pp):
            pp.s[:] = pp.tau_µ      # the parser turns this into tau_μ

    spec = arbor_pycat.declarations.spec_of(Micro)
    assert spec.parameters[0].name == "tau_\u03bc"
    catalogue = arbor_pycat.build(Micro, backend="python")
    assert "micro_sign" in set(catalogue)


def test_names_equal_after_normalisation_are_duplicates():
    def declare():
        @register
        class Twice(CustomMechanism):
            name = "twice"
            parameters = [("tau_\u00b5", "", 1.0)]
            state_vars = [("tau_\u03bc", "", 1.0)]
    message = _message(declare)
    assert "Twice" in message and "already declared" in message, message
