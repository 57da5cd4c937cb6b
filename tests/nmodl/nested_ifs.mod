: IF inside an IF branch that leaves the variable as it was where the inner condition is false,
: and ELSE IF without ELSE, in BREAKPOINT, INITIAL, a FUNCTION and a PROCEDURE; each once read a
: stale or undefined branch temporary (tests/test_nmodl.py)
NEURON {
    SUFFIX nested_ifs
    NONSPECIFIC_CURRENT i
    RANGE q, r, u, w
}
STATE { m }
ASSIGNED { q r u w }
INITIAL {
    m = 0.1
    IF (v > -70) {
        IF (v < -60) { m = 0.3 }
    }
    q = 3
}
BREAKPOINT {
    SOLVE st METHOD cnexp
    LOCAL t
    IF (v < -1000) { q = 1 } ELSE { q = 2 }
    q = q + 10
    IF (v > -60) { q = 4 } ELSE IF (v < -66) { q = 5 }
    t = 1
    IF (v < -1000) { t = 7 }
    IF (v > -66) {
        IF (v > 0) { t = 100 }
    }
    r = t + f(v)
    setu(v)
    i = 0.00001 * (v + 65) * (q + r + u + m)
}
DERIVATIVE st { m' = (0.5 - m) / 4 }
FUNCTION f(x) {
    LOCAL s
    s = 1
    IF (x < -1000) { s = 7 }
    IF (x > -66) {
        IF (x > 0) { s = 100 }
    } ELSE IF (x < -80) { s = 3 }
    f = s
}
PROCEDURE setu(x) {
    u = 2
    IF (x > -66) {
        IF (x < -60) { u = 5 } ELSE IF (x > -20) { u = 6 }
    }
    w = u
}
