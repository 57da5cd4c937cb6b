: IF on shared values (a Python if) mixed with IF on per-instance values (np.where),
: currents and PROCEDUREs inside them (tests/test_nmodl.py)
NEURON {
    SUFFIX ifs
    NONSPECIFIC_CURRENT i
    RANGE gbar, w, y
    GLOBAL mode, vth
}
PARAMETER { gbar = 0.0001 (S/cm2) mode = 2 vth = -20 (mV) }
STATE { w y }
INITIAL {
    w = 0.1
    y = 0.2
}
BREAKPOINT {
    SOLVE states METHOD cnexp
    LOCAL a, b
    IF (mode > 1) {
        a = 2
        IF (v > vth) { b = a * 3 } ELSE { b = a / 2 }
        i = gbar * (v + 60) * b * w
    } ELSE {
        i = gbar * (v + 60)
    }
    IF (v < -50) {
        IF (mode > 3) { y = y + 1 } ELSE { y = y * 0.99 }
    }
}
DERIVATIVE states {
    LOCAL k
    IF (mode == 2) { k = 0.5 }
    rates(v, k)
    w' = (winf - w) / 2
}
ASSIGNED { winf }
PROCEDURE rates(vm, kk) {
    IF (mode < 5) {
        winf = 1 / (1 + exp(-(vm + 40) * kk / 5))
    } ELSE {
        winf = 0
    }
}
