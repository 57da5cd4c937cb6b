: PROCEDURE with outputs, FUNCTION calling FUNCTION with a global, IF/ELSE in a FUNCTION,
: a CONDUCTANCE hint, max and fabs.
NEURON {
    SUFFIX procs
    USEION na READ ena WRITE ina
    NONSPECIFIC_CURRENT il
    RANGE gbar, gl, minf, mtau
    GLOBAL vhalf
}
PARAMETER {
    gbar = 0.05 (S/cm2)
    gl = 0.0002 (S/cm2)
    vhalf = -40 (mV)
    celsius
}
ASSIGNED { minf mtau gna }
STATE { m x y }
INITIAL {
    rates(v, celsius)
    m = minf
    x = 0.8
    y = 0.2
}
BREAKPOINT {
    SOLVE states METHOD cnexp
    gna = gbar*m*m*m
    ina = gna*(v - ena)
    CONDUCTANCE gna USEION na
    il = gl*(v + 65)*(1 + 0.01*(v + 50))
}
DERIVATIVE states {
    LOCAL tx, dm
    rates(v, celsius)
    tx = max(mtau, 0.5)
    dm = fabs(m - 0.5)
    m' = (minf - m)/mtau
    x' = -x/tx
    y' = (dm - y)/2
}
PROCEDURE rates(v (mV), tc) {
    LOCAL q
    q = 3^((tc - 6.3)/10)
    minf = boltz(v)
    mtau = 0.2 + 1/(q*(exp((v + 40)/20) + exp(-(v + 40)/20)))
}
FUNCTION boltz(v) {
    boltz = 1/(1 + exp(-(v - vhalf)/shift(v)))
}
FUNCTION shift(v) {
    if (v < vhalf) {
        shift = 6
    } else {
        shift = 8
    }
}
