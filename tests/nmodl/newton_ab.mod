: Constructs the catalogues' .mod files do not cover, checked against modcc's output.
: A nonlinear DERIVATIVE system solved with METHOD sparse (modcc: Newton's method).
NEURON {
    SUFFIX newton_ab
    NONSPECIFIC_CURRENT i
    RANGE k, g
}
PARAMETER {
    k = 0.05 (/ms)
    g = 0.0001 (S/cm2)
}
STATE { a b }
INITIAL {
    a = 1
    b = 0.5
}
BREAKPOINT {
    SOLVE states METHOD sparse
    i = g*a*(v + 70)
}
DERIVATIVE states {
    a' = -k*a*b + 0.01*(1 - a)*exp(v/30)
    b' = k*a - 0.1*b*b
}
