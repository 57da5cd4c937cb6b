"""Symbolic algebra on NMODL expressions: simplification, derivatives, substitution.

Used for what modcc derives symbolically: the coefficients ``a``, ``b`` of a
``cnexp`` equation ``x' = a x + b``, the conductance ``dI/dv`` of the current
expressions, and the Jacobians of kinetic schemes and LINEAR/NONLINEAR systems.
"""
import math

from . import syntax as S

ZERO = S.Num(0.0, "0")
ONE = S.Num(1.0, "1")


def num(value):
    value = float(value)
    return S.Num(value, repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value))


def is_num(e, value=None):
    return isinstance(e, S.Num) and (value is None or e.value == value)


def names(e):
    """Every name the expression reads."""
    out = set()
    _names(e, out)
    return out


def _names(e, out):
    if isinstance(e, S.Name):
        out.add(e.id)
    elif isinstance(e, S.Unary):
        _names(e.operand, out)
    elif isinstance(e, S.Bin):
        _names(e.left, out)
        _names(e.right, out)
    elif isinstance(e, S.Call):
        for a in e.args:
            _names(a, out)


def calls(e):
    out = set()

    def walk(x):
        if isinstance(x, S.Unary):
            walk(x.operand)
        elif isinstance(x, S.Bin):
            walk(x.left)
            walk(x.right)
        elif isinstance(x, S.Call):
            out.add(x.func)
            for a in x.args:
                walk(a)
    walk(e)
    return out


def substitute(e, mapping):
    """``e`` with names replaced by the expressions of ``mapping``."""
    if isinstance(e, S.Name):
        return mapping.get(e.id, e)
    if isinstance(e, S.Unary):
        return S.Unary(e.op, substitute(e.operand, mapping))
    if isinstance(e, S.Bin):
        return S.Bin(e.op, substitute(e.left, mapping), substitute(e.right, mapping))
    if isinstance(e, S.Call):
        return S.Call(e.func, tuple(substitute(a, mapping) for a in e.args))
    return e


def neg(e):
    if is_num(e):
        return num(-e.value)
    if isinstance(e, S.Unary) and e.op == "-":
        return e.operand
    return S.Unary("-", e)


def add(a, b):
    if is_num(a, 0.0):
        return b
    if is_num(b, 0.0):
        return a
    if is_num(a) and is_num(b):
        return num(a.value + b.value)
    if isinstance(b, S.Unary) and b.op == "-":
        return sub(a, b.operand)
    return S.Bin("+", a, b)


def sub(a, b):
    if is_num(b, 0.0):
        return a
    if is_num(a, 0.0):
        return neg(b)
    if is_num(a) and is_num(b):
        return num(a.value - b.value)
    if isinstance(b, S.Unary) and b.op == "-":
        return add(a, b.operand)
    return S.Bin("-", a, b)


def mul(a, b):
    if is_num(a, 0.0) or is_num(b, 0.0):
        return ZERO
    if is_num(a, 1.0):
        return b
    if is_num(b, 1.0):
        return a
    if is_num(a, -1.0):
        return neg(b)
    if is_num(b, -1.0):
        return neg(a)
    if is_num(a) and is_num(b):
        return num(a.value * b.value)
    if isinstance(a, S.Unary) and a.op == "-":
        return neg(mul(a.operand, b))
    if is_num(a) and a.value < 0:
        return neg(mul(num(-a.value), b))
    if isinstance(b, S.Unary) and b.op == "-":
        return neg(mul(a, b.operand))
    return S.Bin("*", a, b)


def div(a, b):
    if is_num(a, 0.0):
        return ZERO
    if is_num(b, 1.0):
        return a
    if is_num(a) and is_num(b) and b.value != 0.0:
        return num(a.value / b.value)
    if isinstance(a, S.Unary) and a.op == "-":
        return neg(div(a.operand, b))
    if is_num(a) and a.value < 0:
        return neg(div(num(-a.value), b))
    return S.Bin("/", a, b)


def simplify(e):
    """Fold constants and drop 0 and 1 terms (no reordering, so rounding stays modcc's)."""
    if isinstance(e, S.Unary):
        x = simplify(e.operand)
        return neg(x) if e.op == "-" else S.Unary(e.op, x)
    if isinstance(e, S.Bin):
        a, b = simplify(e.left), simplify(e.right)
        return {"+": add, "-": sub, "*": mul, "/": div}.get(e.op, lambda l, r: S.Bin(e.op, l, r))(a, b)
    if isinstance(e, S.Call):
        return S.Call(e.func, tuple(simplify(x) for x in e.args))
    return e


class NotDifferentiable(Exception):
    pass


def diff(e, x):
    """d e / d x, symbolically (other names are constants)."""
    if isinstance(e, S.Num):
        return ZERO
    if isinstance(e, S.Name):
        return ONE if e.id == x else ZERO
    if x not in names(e):
        return ZERO
    if isinstance(e, S.Unary):
        if e.op == "-":
            return neg(diff(e.operand, x))
        raise NotDifferentiable(e.op)
    if isinstance(e, S.Bin):
        a, b = e.left, e.right
        if e.op == "+":
            return add(diff(a, x), diff(b, x))
        if e.op == "-":
            return sub(diff(a, x), diff(b, x))
        if e.op == "*":
            return add(mul(diff(a, x), b), mul(a, diff(b, x)))
        if e.op == "/":
            da, db = diff(a, x), diff(b, x)
            if is_num(db, 0.0):
                return div(da, b)
            return div(sub(mul(da, b), mul(a, db)), mul(b, b))
        if e.op == "^":
            if x in names(b):
                # d(a^b) = a^b (b' log a + b a'/a)
                return mul(e, add(mul(diff(b, x), S.Call("log", (a,))), div(mul(b, diff(a, x)), a)))
            return mul(mul(b, S.Bin("^", a, sub(b, ONE))), diff(a, x))
        raise NotDifferentiable(e.op)
    if isinstance(e, S.Call):
        if len(e.args) != 1:
            raise NotDifferentiable(e.func)
        u = e.args[0]
        du = diff(u, x)
        f = e.func
        if f == "exp":
            return mul(e, du)
        if f == "log":
            return div(du, u)
        if f == "sqrt":
            return div(du, mul(num(2), e))
        if f == "sin":
            return mul(S.Call("cos", (u,)), du)
        if f == "cos":
            return neg(mul(S.Call("sin", (u,)), du))
        raise NotDifferentiable(f)
    raise NotDifferentiable(type(e).__name__)


def linear_coefficients(e, x):
    """``(a, b)`` with ``e = a*x + b`` and neither depending on ``x``; None if ``e`` is not linear in x."""
    try:
        a = simplify(diff(e, x))
    except NotDifferentiable:
        return None
    if x in names(a):
        return None
    b = simplify(substitute(e, {x: ZERO}))
    return a, b


def evaluate(e, env=None):
    """The value of a constant expression (names from ``env``), or None."""
    env = env or {}
    if isinstance(e, S.Num):
        return e.value
    if isinstance(e, S.Name):
        return env.get(e.id)
    if isinstance(e, S.Unary):
        v = evaluate(e.operand, env)
        return None if v is None else (-v if e.op == "-" else float(not v))
    if isinstance(e, S.Bin):
        a, b = evaluate(e.left, env), evaluate(e.right, env)
        if a is None or b is None:
            return None
        try:
            return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                    "/": lambda: a / b, "^": lambda: a ** b}[e.op]()
        except (KeyError, ZeroDivisionError, OverflowError):
            return None
    if isinstance(e, S.Call) and len(e.args) == 1 and e.func in ("exp", "log", "sqrt"):
        v = evaluate(e.args[0], env)
        return None if v is None else getattr(math, e.func)(v)
    return None
