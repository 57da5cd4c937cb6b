: NET_RECEIVE with an INITIAL block (modcc runs it on every event) and an IF on the weight.
NEURON {
    POINT_PROCESS net_initial
    RANGE tau, e
    NONSPECIFIC_CURRENT i
}
PARAMETER {
    tau = 3 (ms)
    e = 0 (mV)
}
STATE { g }
INITIAL { g = 0 }
BREAKPOINT {
    SOLVE s METHOD cnexp
    i = g*(v - e)
}
DERIVATIVE s { g' = -g/tau }
NET_RECEIVE(weight) {
    INITIAL { g = 0.5*g }
    if (weight > 0.005) {
        g = g + weight
    } else {
        g = g + 2*weight
    }
}
