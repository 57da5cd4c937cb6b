: A three-state channel started at its steady state (SOLVE ... STEADYSTATE sparse in INITIAL),
: voltage-dependent rates (tests/test_nmodl.py)
NEURON {
    SUFFIX steady
    NONSPECIFIC_CURRENT i
    RANGE gbar
}
PARAMETER { gbar = 0.0005 (S/cm2) e = -80 (mV) }
STATE { C I O }
ASSIGNED { a b c d }
INITIAL {
    rates(v)
    SOLVE scheme STEADYSTATE sparse
}
BREAKPOINT {
    SOLVE scheme METHOD sparse
    i = gbar * O * (v - e)
}
KINETIC scheme {
    rates(v)
    ~ C <-> O (a, b)
    ~ O <-> I (c, d)
    CONSERVE C + O + I = 1
}
PROCEDURE rates(vm) {
    a = 0.5 * exp((vm + 40) / 12)
    b = 0.3 * exp(-(vm + 40) / 20)
    c = 0.05 * exp((vm + 50) / 30)
    d = 0.02
}
