: Python-unsafe names in NET_RECEIVE (the generated loop's own j and k) (tests/test_nmodl.py)
NEURON {
    POINT_PROCESS names_syn
    NONSPECIFIC_CURRENT i
    RANGE g, e
}
PARAMETER { e = 0 (mV) }
STATE { g }
INITIAL { g = 0 }
BREAKPOINT {
    SOLVE decay METHOD cnexp
    i = g * (v - e)
}
DERIVATIVE decay { g' = -g / 2 }
NET_RECEIVE(weight) {
    LOCAL k, j
    k = 2 * weight
    j = 0.5
    g = g + k * j
}
