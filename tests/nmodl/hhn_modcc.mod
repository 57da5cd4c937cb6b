: Twin of neuron/hhn.mod in modcc's dialect: the same channels, for comparison.
NEURON {
    SUFFIX hhn_modcc
    USEION na READ ena WRITE ina
    USEION k READ ek WRITE ik
    NONSPECIFIC_CURRENT il
    RANGE gnabar, gkbar, gl, el
}
PARAMETER {
    gnabar = .1 (S/cm2)
    gkbar = .03 (S/cm2)
    gl = .0002 (S/cm2)
    el = -60 (mV)
}
STATE { m h n }
ASSIGNED { minf hinf ninf mtau htau ntau gna gk }
BREAKPOINT {
    SOLVE states METHOD cnexp
    gna = gnabar*m*m*m*h
    ina = gna*(v - ena)
    gk = gkbar*n*n*n*n
    ik = gk*(v - ek)
    il = gl*(v - el)
}
INITIAL {
    rates(v, celsius)
    m = minf
    h = hinf
    n = ninf
}
DERIVATIVE states {
    rates(v, celsius)
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
    n' = (ninf - n)/ntau
}
PROCEDURE rates(v, tc) {
    LOCAL a, b, s, q
    q = 2.5^((tc - 10)/10)
    a = 0.12*trap(-(v + 38), 9)
    b = 3.5*exp(-(v + 63)/20)
    s = a + b
    mtau = 1/(q*s)
    minf = a/s
    a = 0.06*exp(-(v + 62)/22)
    b = 1/(exp(-(v + 33)/11) + 1)
    s = a + b
    htau = 1/(q*s)
    hinf = a/s
    a = 0.011*trap(-(v + 52), 11)
    b = 0.14*exp(-(v + 62)/75)
    s = a + b
    ntau = 1/(q*s)
    ninf = a/s
}
FUNCTION trap(x, y) {
    if (fabs(x/y) < 1e-6) {
        trap = y*(1 - x/y/2)
    } else {
        trap = x/(exp(x/y) - 1)
    }
}
