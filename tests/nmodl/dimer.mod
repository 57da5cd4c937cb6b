: A second-order KINETIC scheme (2 M <-> D) with a voltage-dependent step: Newton's method.
NEURON {
    SUFFIX dimer
    USEION k READ ek WRITE ik
    RANGE gbar
}
PARAMETER {
    gbar = 0.002 (S/cm2)
    kf = 0.3
    kb = 0.05
}
STATE { M D O }
INITIAL {
    M = 1
    D = 0
    O = 0
}
BREAKPOINT {
    SOLVE scheme METHOD sparse
    ik = gbar*O*(v - ek)
}
KINETIC scheme {
    ~ 2 M <-> D (kf, kb)
    ~ D <-> O (0.2*exp(v/25), 0.1)
}
