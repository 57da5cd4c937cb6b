"""``SOLVE block METHOD ...``: the code modcc emits for each solver, as Python.

- ``cnexp`` (DERIVATIVE, each equation linear in its own state):
  ``x' = (x_inf - x)/tau`` becomes ``cnexp(x, x_inf, tau, dt)`` and any other
  ``x' = a x + b`` becomes ``cnexp_linear(x, a, b, dt)``, modcc's two forms.
- ``sparse`` (DERIVATIVE or KINETIC): one backward-Euler step. Linear in the
  states: the linear system ``(I - dt J) x' = x + dt b`` solved by Gaussian
  elimination written out as straight-line code (no arrays, so the numba
  backend vectorises it); otherwise modcc's Newton iteration (three
  iterations from the old values, each such a linear solve). A CONSERVE
  statement replaces the row of the last state it names.
- ``stochastic`` (DERIVATIVE with WHITE_NOISE): one Euler-Maruyama step,
  ``x += f dt + g sqrt(dt) W``.
- LINEAR blocks (``SOLVE name`` in INITIAL): the linear system solved the same way.
- ``STEADYSTATE sparse`` (a KINETIC block, in INITIAL): the steady state, ``J x = -b``
  with the CONSERVE row, solved the same way (modcc's).
"""
from . import symbolic as Y
from .model import assigned_names
from . import syntax as S

METHODS = {"DERIVATIVE": ("cnexp", "sparse", "stochastic", "euler"), "KINETIC": ("sparse", "steadystate"),
           "LINEAR": (None,), "NONLINEAR": (None,)}


def solve(gen, ctx, block, st, initial):
    allowed = METHODS[block.kind]
    method = st.method
    if method == "derivimplicit" and block.kind == "DERIVATIVE":
        # NEURON's implicit Euler with Newton's method: what modcc's sparse does
        gen.module.notes.append((st.line, "METHOD derivimplicit: solved as METHOD sparse "
                                          "(backward Euler, Newton's method where nonlinear)"))
        method = "sparse"
    if block.kind == "DERIVATIVE" and method is None:
        gen.fail(f"SOLVE {block.name}: a DERIVATIVE block needs a METHOD (cnexp, sparse or stochastic)",
                 st.line)
    if method not in allowed:
        gen.fail(f"SOLVE {block.name} METHOD {method}: a {block.kind} block is solved with "
                 f"{' or '.join(str(m) for m in allowed if m) or 'no METHOD'} here", st.line)
    if method == "euler":
        gen.fail("METHOD euler is not supported by modcc; use cnexp or sparse", st.line)
    if method == "steadystate" and not (initial and block.kind == "KINETIC"):
        gen.fail(f"SOLVE {block.name} STEADYSTATE sparse: supported for a KINETIC block in INITIAL", st.line)
    if initial and (block.kind == "DERIVATIVE" or block.kind == "KINETIC" and method != "steadystate"):
        gen.fail(f"SOLVE {block.name} in INITIAL: only LINEAR blocks, and KINETIC blocks with "
                 "STEADYSTATE sparse, can be solved there", st.line)
    if block.kind == "NONLINEAR":
        gen.fail("NONLINEAR blocks are not supported yet", block.line)
    ctx.comment(st.line)
    saved = set(ctx.locals)
    if block.kind == "DERIVATIVE":
        _derivative(gen, ctx, block, method)
    elif block.kind == "KINETIC":
        _kinetic(gen, ctx, block, steady=method == "steadystate")
    else:
        _linear(gen, ctx, block)
    ctx.locals = saved


def _states_of(gen, name, line):
    mech = gen.mech
    if name in mech.state_names or (name in mech.ion_vars and mech.ion_vars[name][1][-1:] in "iod"
                                     and name in next(i for i in mech.ions
                                                      if i.name == mech.ion_vars[name][0]).write):
        return
    gen.fail(f"{name}' : {name} is not a STATE (nor an ion concentration the mechanism writes)", line)


def _expand(e, defs, states):
    """Substitute the LOCALs of the block that depend on the states (so linearity is judged right)."""
    for _ in range(50):
        hit = {n: defs[n] for n in Y.names(e) if n in defs and defs[n] is not None
               and Y.names(defs[n]) & states}
        if not hit:
            return e
        e = Y.substitute(e, hit)
    return e


def _local_defs(body, states, call_writes):
    defs = {}
    for st in body:
        if isinstance(st, S.Assign):
            defs[st.target] = st.value if st.target not in defs else None
        elif isinstance(st, (S.If, S.CallStmt)):
            for n in assigned_names([st], call_writes):
                defs[n] = None
    # a local assigned twice or inside IF that depends on a state cannot be substituted
    return defs


def _derivative(gen, ctx, block, method):
    equations = [st for st in block.body if isinstance(st, S.DerivAssign)]
    states = {st.target for st in equations}
    for st in equations:
        _states_of(gen, st.target, st.line)
    defs = _local_defs(block.body, states, gen.call_writes)
    if method == "sparse":
        for st in block.body:
            if not isinstance(st, S.DerivAssign):
                ctx.statement(st)
        _implicit(gen, ctx, [(st.target, _expand(st.value, defs, states), st.line) for st in equations])
        return
    if method == "stochastic":
        noise = [w for w in gen.mech.random]
        if not noise:
            gen.fail("METHOD stochastic needs a WHITE_NOISE block", block.line)
        ctx.emit("# the Wiener increments of this step: sqrt(dt) W")
        dt = ctx.read("dt")
        for w in noise:
            ctx.locals.add(gen.temp("d" + w))
            ctx.emit(f"{gen.temp('d' + w)} = np.sqrt({dt}) * pp.{w}")
    for st in block.body:
        if not isinstance(st, S.DerivAssign):
            ctx.statement(st)
            continue
        x = st.target
        rhs = _expand(st.value, defs, {x})
        ctx.comment(st.line)
        target = ctx.target(x, st.line)
        cur = ctx.read(x, st.line)
        dt = ctx.read("dt")
        if method == "stochastic":
            terms = Y.simplify(rhs)
            f = Y.simplify(Y.substitute(terms, {w: Y.ZERO for w in gen.mech.random}))
            out = f"{cur} + {ctx.expr(f, st.line, 5)} * {dt}"
            for w in gen.mech.random:
                coeff = Y.linear_coefficients(terms, w)
                if coeff is None:
                    gen.fail(f"{x}' must be linear in the white noise {w}", st.line)
                g = coeff[0]
                if not Y.is_num(g, 0.0):
                    out += f" + {ctx.expr(g, st.line, 5)} * {gen.temp('d' + w)}"
            ctx.emit(f"{target} = {out}")
            continue
        # cnexp
        # (read through a LOCAL, another state is its value before the step, as in modcc)
        coupled = sorted(Y.names(st.value) & (states - {x}))
        if method == "cnexp" and coupled:
            gen.fail(f"METHOD cnexp: {x}' depends on the STATE {', '.join(coupled)} of the same block; cnexp "
                     "solves each equation on its own (modcc refuses it: 'System not diagonal linear for "
                     "cnexp'); use METHOD sparse", st.line)
        if (isinstance(rhs, S.Bin) and rhs.op == "/" and isinstance(rhs.left, S.Bin) and rhs.left.op == "-"
                and rhs.left.right == S.Name(x) and x not in Y.names(rhs.left.left)
                and x not in Y.names(rhs.right)):
            ctx.emit(f"{target} = cnexp({cur}, {ctx.expr(rhs.left.left, st.line)}, "
                     f"{ctx.expr(rhs.right, st.line)}, {dt})")
            continue
        coeff = Y.linear_coefficients(rhs, x)
        if coeff is None:
            gen.fail(f"METHOD cnexp needs {x}' linear in {x} (modcc's rule); use METHOD sparse", st.line)
        a, b = coeff
        ctx.emit(f"{target} = cnexp_linear({cur}, {ctx.expr(a, st.line)}, {ctx.expr(b, st.line)}, {dt})")


def _implicit(gen, ctx, equations, conserve=None):
    """Backward Euler for x' = f(x): linear f as one linear solve, otherwise Newton's method.

    Linear: ``(I - dt J) x_new = x_old + dt f(0)``. Nonlinear: modcc's Newton
    iteration on ``F(x) = x - (x_old + dt f(x))`` from ``x = x_old``, three
    iterations with no convergence test (as modcc unrolls it).
    """
    names = [x for x, _, _ in equations]
    dt = S.Name("dt")
    # linear in every state jointly: no coefficient may hold a state (-k a b is linear in a
    # alone and in b alone, but bilinear: one linear solve would double its rate)
    states = set(names)
    linear = all((c := Y.linear_coefficients(f, y)) is not None and not (Y.names(c[0]) & states)
                 for _, f, _ in equations for y in names)
    if not linear:
        _newton(gen, ctx, equations, conserve)
        return
    rows, rhs = [], []
    for x, f, line in equations:
        row = []
        for y in names:
            a = Y.linear_coefficients(f, y)[0]
            row.append(Y.simplify(Y.sub(Y.ONE if y == x else Y.ZERO, Y.mul(a, dt))))
        b = Y.simplify(Y.substitute(f, {y: Y.ZERO for y in names}))
        rhs.append(Y.simplify(Y.add(S.Name(x), Y.mul(b, dt))))
        rows.append(row)
    if conserve is not None:
        coeffs, total, line = conserve
        k = max(names.index(n) for n in coeffs)
        rows[k] = [coeffs.get(n, Y.ZERO) for n in names]
        rhs[k] = total
    ctx.emit(f"# the linear system for {', '.join(names)}: one row per state")
    solution = _eliminate(gen, ctx, names, rows, rhs)
    for x, value in zip(names, solution):
        ctx.emit(f"{ctx.target(x)} = {ctx.local_name(value)}")


NEWTON_ITERATIONS = 3     # modcc's: no tolerance, a fixed number of iterations


def _newton(gen, ctx, equations, conserve):
    names = [x for x, _, _ in equations]
    iterate = {x: S.Name(gen.temp(f"{x}_new")) for x in names}
    dt = S.Name("dt")
    F = []
    for x, f, line in equations:
        # F_x = x_new - (x_old + dt f(x_new))
        F.append(Y.sub(iterate[x], Y.add(S.Name(x), Y.mul(Y.substitute(f, iterate), dt))))
    if conserve is not None:
        coeffs, total, line = conserve
        k = max(names.index(n) for n in coeffs)
        F[k] = Y.sub(Y.substitute(sum_terms(coeffs), iterate), total)
    jac = []
    for Fi in F:
        row = []
        for y in names:
            try:
                row.append(Y.simplify(Y.diff(Fi, iterate[y].id)))
            except Y.NotDifferentiable as exc:
                gen.fail(f"METHOD sparse: cannot differentiate the system in {y} ({exc})", equations[0][2])
        jac.append(row)
    ctx.emit(f"# Newton's method for {', '.join(names)} (backward Euler, nonlinear), "
             f"{NEWTON_ITERATIONS} iterations as modcc")
    for x in names:
        ctx.locals.add(iterate[x].id)
        ctx.defined.add(iterate[x].id)
        ctx.emit(f"{ctx.local_name(iterate[x].id)} = {ctx.read(x)}")
    for k in range(NEWTON_ITERATIONS):
        ctx.emit(f"# iteration {k + 1}: solve J delta = F, then x_new -= delta")
        delta = _eliminate(gen, ctx, names, jac, [Y.simplify(f) for f in F])
        for x, d in zip(names, delta):
            t = ctx.local_name(iterate[x].id)
            ctx.emit(f"{t} = {t} - {ctx.local_name(d)}")
    for x in names:
        ctx.emit(f"{ctx.target(x)} = {ctx.local_name(iterate[x].id)}")


def sum_terms(coeffs):
    out = Y.ZERO
    for n, c in coeffs.items():
        out = Y.add(out, Y.mul(c, S.Name(n)))
    return out


def _emit_solution(gen, ctx, names, rows, rhs, states):
    ctx.emit(f"# the linear system for {', '.join(names)}: one row per state")
    solution = _eliminate(gen, ctx, names, rows, rhs)
    for x, value in zip(names, solution):
        ctx.emit(f"{ctx.target(x)} = {ctx.local_name(value)}")


def _eliminate(gen, ctx, names, rows, rhs):
    """Straight-line Gaussian elimination of ``rows x = rhs`` (no pivoting, as modcc).

    Returns the names of the locals holding the solution, in the order of ``names``.
    """
    n = len(names)
    entry = {}

    def tmp(base):
        name = gen.temp(base)      # never one of the file's names (a STATE b_0, a LOCAL x_1)
        ctx.locals.add(name)
        ctx.defined.add(name)
        return name
    for i in range(n):
        for j in range(n):
            e = rows[i][j]
            if Y.is_num(e, 0.0):
                entry[i, j] = None
            elif Y.is_num(e):
                entry[i, j] = e
            else:
                t = tmp(f"a_{i}_{j}")
                ctx.emit(f"{t} = {ctx.expr(e)}")
                entry[i, j] = S.Name(t)
    r = []
    for i in range(n):
        t = tmp(f"b_{i}")
        ctx.emit(f"{t} = {ctx.expr(rhs[i])}")
        r.append(S.Name(t))
    if n > 1:
        ctx.emit("# forward elimination")
    for k in range(n):
        pivot = entry[k, k]
        if pivot is None:
            gen.fail(f"the linear system for {', '.join(names)} has a zero pivot for {names[k]}: "
                     "reorder the states", None)
        for i in range(k + 1, n):
            if entry[i, k] is None:
                continue
            f = tmp(f"f_{i}_{k}")
            ctx.emit(f"{f} = {ctx.expr(Y.div(entry[i, k], pivot))}")
            for j in range(k + 1, n):
                if entry[k, j] is None:
                    continue
                prod = Y.mul(S.Name(f), entry[k, j])
                name = f"a_{i}_{j}"
                new = Y.sub(entry[i, j], prod) if entry[i, j] is not None else Y.neg(prod)
                t = tmp(name)
                ctx.emit(f"{t} = {ctx.expr(new)}")
                entry[i, j] = S.Name(t)
            new = Y.sub(r[i], Y.mul(S.Name(f), r[k]))
            t = tmp(f"b_{i}")
            ctx.emit(f"{t} = {ctx.expr(new)}")
            r[i] = S.Name(t)
            entry[i, k] = None
    if n > 1:
        ctx.emit("# back substitution")
    sol = [None] * n
    for i in reversed(range(n)):
        acc = r[i]
        for j in range(i + 1, n):
            if entry[i, j] is not None:
                acc = Y.sub(acc, Y.mul(entry[i, j], sol[j]))
        t = tmp(f"x_{i}")
        ctx.emit(f"{t} = {ctx.expr(Y.div(acc, entry[i, i]))}")
        sol[i] = S.Name(t)
    return [x.id for x in sol]


def _kinetic(gen, ctx, block, steady=False):
    order = []
    rates = {}
    conserve = None
    for st in block.body:
        if isinstance(st, S.Reaction):
            ctx.comment(st.line)
            for side in (st.lhs or [], st.rhs or []):
                for stoich, name in side:
                    _states_of(gen, name, st.line)
                    if name not in order:
                        order.append(name)
                        rates[name] = Y.ZERO
            if st.kind == "<<":
                (_, name), = st.lhs
                rates[name] = Y.add(rates[name], st.forward)
                continue
            forward = st.forward
            for stoich, name in st.lhs:
                forward = Y.mul(forward, _power(S.Name(name), stoich))
            flux = forward
            if st.backward is not None:
                backward = st.backward
                for stoich, name in st.rhs:
                    backward = Y.mul(backward, _power(S.Name(name), stoich))
                flux = Y.sub(forward, backward)
            for stoich, name in st.lhs:
                rates[name] = Y.sub(rates[name], Y.mul(Y.num(stoich), flux))
            for stoich, name in st.rhs:
                rates[name] = Y.add(rates[name], Y.mul(Y.num(stoich), flux))
        elif isinstance(st, S.Conserve):
            ctx.comment(st.line)
            coeffs = {}
            for name in Y.names(st.lhs):
                c = Y.linear_coefficients(st.lhs, name)
                if c is None:
                    gen.fail("CONSERVE must be a linear sum of states", st.line)
                coeffs[name] = c[0]
            conserve = (coeffs, Y.simplify(Y.sub(st.rhs, Y.substitute(st.lhs, {n: Y.ZERO for n in coeffs}))),
                        st.line)
        elif isinstance(st, S.DerivAssign):
            gen.fail("x' = ... in a KINETIC block is not supported; use a DERIVATIVE block", st.line)
        else:
            ctx.statement(st)
    states = [s.name for s in gen.mech.states if s.name in order]
    states += [n for n in order if n not in states]
    if conserve is not None:
        for n in conserve[0]:
            if n not in states:
                gen.fail(f"CONSERVE names {n}, which takes part in no reaction", conserve[2])
    if steady:
        _steady_state(gen, ctx, block, states, rates, conserve)
        return
    _implicit(gen, ctx, [(x, Y.simplify(rates[x]), block.line) for x in states], conserve)


def _steady_state(gen, ctx, block, states, rates, conserve):
    """``SOLVE block STEADYSTATE sparse``: the states where every rate is 0, ``J x = -b``,
    the CONSERVE equation replacing the row of the last state it names (as modcc)."""
    if conserve is None:
        gen.fail(f"SOLVE {block.name} STEADYSTATE sparse needs a CONSERVE statement (without one the "
                 "steady state is not unique)", block.line)
    rows, rhs = [], []
    names = set(states)
    for x in states:
        f = Y.simplify(rates[x])
        row = []
        for y in states:
            c = Y.linear_coefficients(f, y)
            if c is None or Y.names(c[0]) & names:
                gen.fail(f"SOLVE {block.name} STEADYSTATE sparse: the scheme is not linear in {y} "
                         "(only first-order reactions have a steady state solved this way)", block.line)
            row.append(Y.simplify(c[0]))
        rows.append(row)
        rhs.append(Y.simplify(Y.neg(Y.substitute(f, {y: Y.ZERO for y in states}))))
    coeffs, total, _ = conserve
    k = max(states.index(n) for n in coeffs)
    rows[k] = [coeffs.get(n, Y.ZERO) for n in states]
    rhs[k] = total
    ctx.emit(f"# the steady state: every rate 0, the CONSERVE row replacing {states[k]}'s")
    _emit_solution(gen, ctx, states, rows, rhs, names)


def _power(x, n):
    out = x
    for _ in range(n - 1):
        out = Y.mul(out, x)
    return out


def _linear(gen, ctx, block):
    eqs = []
    for st in block.body:
        if isinstance(st, S.LinearEq):
            eqs.append(st)
        else:
            ctx.statement(st)
    unknowns = [s.name for s in gen.mech.states if s.name in gen.mech.state_names
                and any(s.name in Y.names(e.lhs) | Y.names(e.rhs) for e in eqs)]
    if len(unknowns) != len(eqs):
        gen.fail(f"LINEAR {block.name}: {len(eqs)} equations for {len(unknowns)} states "
                 f"({', '.join(unknowns)})", block.line)
    rows, rhs = [], []
    for e in eqs:
        ctx.comment(e.line)
        diff = Y.sub(e.lhs, e.rhs)
        row = []
        for x in unknowns:
            c = Y.linear_coefficients(diff, x)
            if c is None:
                gen.fail(f"LINEAR: the equation is not linear in {x}", e.line)
            row.append(c[0])
        rows.append(row)
        rhs.append(Y.simplify(Y.neg(Y.substitute(diff, {x: Y.ZERO for x in unknowns}))))
    _emit_solution(gen, ctx, unknowns, rows, rhs, set(unknowns))
