: Python-unsafe names, and IF semantics the Python translation must keep (tests/test_nmodl.py)
NEURON {
    SUFFIX names
    NONSPECIFIC_CURRENT i
    RANGE gbar, q, r
    GLOBAL kz
}
PARAMETER { gbar = 0.0002 (S/cm2) kz = 0 }
STATE { x_0 b_0 m_then }
ASSIGNED { q r }
INITIAL {
    x_0 = 0.2
    b_0 = 0.8
    m_then = 0.5
}
BREAKPOINT {
    SOLVE scheme METHOD sparse
    LOCAL lambda, lambda_, m_then_, k, if_30
    lambda = 1
    lambda_ = 2
    k = 3
    if_30 = 0.25
    : the branch not taken divides by zero: modcc takes the other one only
    IF (kz > 0) { q = 1/kz } ELSE { q = 0.5 }
    IF (kz > 1) { q = 2^2000 }
    IF (v > 100) { m_then_ = 1/kz } ELSE { m_then_ = lambda + lambda_ + k + if_30 }
    : (-10 < v) < 0.5 in NMODL: true where v <= -10 (not Python's chained -10 < v < 0.5)
    IF (-10 < v < 0.5) { r = 1 } ELSE { r = 2 }
    i = gbar * (v + 65) * m_then_ * (x_0 + 2 * b_0) * q * r
}
KINETIC scheme {
    ~ x_0 <-> b_0 (0.5, 0.2)
}
