TITLE hhn: Hodgkin-Huxley-style channels written in NEURON's dialect
? This file uses constructs modcc rejects: TABLE, UNITSOFF/UNITSON, GLOBAL ASSIGNED
? variables, celsius inside a PROCEDURE, REPRESENTS, INDEPENDENT, a top-level LOCAL.
COMMENT
Its twin ../hhn_modcc.mod says the same in modcc's dialect.
ENDCOMMENT

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

INDEPENDENT { t FROM 0 TO 1 WITH 1 (ms) }

NEURON {
    SUFFIX hhn
    USEION na READ ena WRITE ina REPRESENTS CHEBI:29101
    USEION k READ ek WRITE ik
    NONSPECIFIC_CURRENT il
    RANGE gnabar, gkbar, gl, el, gna, gk
    GLOBAL minf, hinf, ninf, mtau, htau, ntau
    THREADSAFE
}

PARAMETER {
    gnabar = .1 (S/cm2) <0,1e9>
    gkbar = .03 (S/cm2) <0,1e9>
    gl = .0002 (S/cm2) <0,1e9>
    el = -60 (mV)
}

STATE { m h n }

ASSIGNED {
    v (mV)
    celsius (degC)
    ena (mV)
    ek (mV)
    gna (S/cm2)
    gk (S/cm2)
    ina (mA/cm2)
    ik (mA/cm2)
    il (mA/cm2)
    minf hinf ninf
    mtau (ms) htau (ms) ntau (ms)
}

LOCAL unused_scratch

BREAKPOINT {
    SOLVE states METHOD cnexp
    gna = gnabar*m*m*m*h
    ina = gna*(v - ena)
    gk = gkbar*n*n*n*n
    ik = gk*(v - ek)
    il = gl*(v - el)
}

INITIAL {
    rates(v)
    m = minf
    h = hinf
    n = ninf
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
    n' = (ninf - n)/ntau
}

PROCEDURE rates(v (mV)) {
    LOCAL a, b, s, q
    TABLE minf, mtau, hinf, htau, ninf, ntau DEPEND celsius FROM -100 TO 100 WITH 200
UNITSOFF
    q = 2.5^((celsius - 10)/10)
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
UNITSON
