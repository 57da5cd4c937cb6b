: A bilinear binding A + B <-> AB: linear in A alone and in B alone, not jointly
: (solved once as a linear system, its binding rate came out doubled): Newton's method.
NEURON { SUFFIX bind }
STATE { A B AB }
INITIAL {
  A = 0.6
  B = 0.4
  AB = 0
}
BREAKPOINT {
  SOLVE scheme METHOD sparse
}
KINETIC scheme {
  ~ A + B <-> AB (0.5, 0.02)
}
