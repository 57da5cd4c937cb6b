: A current assigned in IF/ELSE. modcc's conductance is the derivative of the
: first branch for every instance; arbor_pycat takes each instance's own branch.
NEURON {
    SUFFIX ifcurrent
    NONSPECIFIC_CURRENT il
    RANGE gl
}
PARAMETER { gl = 0.0002 (S/cm2) }
BREAKPOINT {
    if (v > -50) {
        il = gl*(v + 65)*(1 + 0.01*(v + 50))
    } else {
        il = gl*(v + 65)
    }
}
