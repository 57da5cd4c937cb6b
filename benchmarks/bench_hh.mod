: Hodgkin-Huxley channels, written like Arbor's default "hh": the NMODL twin of
: arbor_pycat.models.HH, compiled with modcc for the "kernels" benchmark.
NEURON {
    SUFFIX bench_hh
    USEION na READ ena WRITE ina
    USEION k READ ek WRITE ik
    NONSPECIFIC_CURRENT il
    RANGE gnabar, gkbar, gl, el, q10
}

UNITS {
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gnabar = 0.12 (S/cm2)
    gkbar = 0.036 (S/cm2)
    gl = 0.0003 (S/cm2)
    el = -54.3 (mV)
    celsius (degC)
}

STATE { m h n }

ASSIGNED { q10 }

BREAKPOINT {
    SOLVE states METHOD cnexp
    LOCAL gk, gna, n2
    n2 = n*n
    gk = gkbar*n2*n2
    gna = gnabar*m*m*m*h
    ina = gna*(v - ena)
    ik = gk*(v - ek)
    il = gl*(v - el)
}

INITIAL {
    LOCAL a, b
    q10 = 3^(0.1*celsius - 0.63)
    a = m_alpha(v)
    b = m_beta(v)
    m = a/(a + b)
    a = h_alpha(v)
    b = h_beta(v)
    h = a/(a + b)
    a = n_alpha(v)
    b = n_beta(v)
    n = a/(a + b)
}

DERIVATIVE states {
    LOCAL a, b
    a = m_alpha(v)
    b = m_beta(v)
    m' = (a - m*(a + b))*q10
    a = h_alpha(v)
    b = h_beta(v)
    h' = (a - h*(a + b))*q10
    a = n_alpha(v)
    b = n_beta(v)
    n' = (a - n*(a + b))*q10
}

FUNCTION m_alpha(v) { m_alpha = exprelr(-0.1*v - 4.0) }
FUNCTION m_beta(v) { m_beta = 4.0*exp(-(v + 65.0)/18.0) }
FUNCTION h_alpha(v) { h_alpha = 0.07*exp(-0.05*v - 3.25) }
FUNCTION h_beta(v) { h_beta = 1.0/(exp(-0.1*v - 3.5) + 1.0) }
FUNCTION n_alpha(v) { n_alpha = 0.1*exprelr(-0.1*v - 5.5) }
FUNCTION n_beta(v) { n_beta = 0.125*exp(-0.0125*v - 0.8125) }
