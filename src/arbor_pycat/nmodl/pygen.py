"""Python source of a :class:`~arbor_pycat.CustomMechanism` from an analysed NMODL file.

The output reads as if written by hand in the style of ``arbor_pycat.models``:
one module-level function per FUNCTION/PROCEDURE (its non-local inputs become
arguments, a PROCEDURE returns what it assigns), whole-array numpy code in the
methods (``IF``/``ELSE`` on per-instance values becomes ``np.where``, so the
python backend runs it as written and the numba backend compiles it to its
scalar form), and a comment with the NMODL line above each statement.
"""
import keyword
import re
import textwrap
from pathlib import Path

from . import symbolic as Y
from . import syntax as S
from .errors import NmodlError
from .model import BUILTINS, _children, _exprs, assigned_names
from . import solvers

_MATH = {"exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "fabs": "np.abs", "abs": "np.abs",
         "expm1": "np.expm1", "log10": "np.log10", "log1p": "np.log1p", "sin": "np.sin",
         "cos": "np.cos", "tan": "np.tan", "tanh": "np.tanh", "sinh": "np.sinh", "cosh": "np.cosh",
         "atan": "np.arctan", "asin": "np.arcsin", "acos": "np.arccos", "floor": "np.floor",
         "ceil": "np.ceil", "signum": "np.sign", "exprelr": "exprelr"}
_PREC = {"||": 1, "&&": 2, "<": 3, "<=": 3, ">": 3, ">=": 3, "==": 3, "!=": 3,
         "+": 4, "-": 4, "*": 5, "/": 5, "unary": 6, "^": 7, "atom": 8}
_PYOP = {"||": "|", "&&": "&", "^": "**"}
_MODULE_NAMES = {"np", "exprelr", "cnexp", "cnexp_linear", "CustomMechanism", "IonInfo",
                 "self", "pp", "events", "solve_linear"}
# names the generated code itself uses (loop variables, builtins it calls): no NMODL name may be one
_RESERVED = _MODULE_NAMES | {"j", "k", "d", "tss", "fired", "range", "len", "min", "max", "float"}


def py_number(value):
    text = repr(float(value))
    return text


class Context:
    """How names read and are written in one function or method being emitted.

    ``mode``: ``"vector"`` (a method on whole arrays), ``"function"``
    (a module-level helper: outer names are its arguments) or ``"event"``
    (NET_RECEIVE: one instance ``j`` at a time).
    """

    def __init__(self, gen, mode, locals_=(), args=(), index=None):
        self.gen = gen
        self.mode = mode
        self.locals = set(locals_) | set(args)
        self.args = list(args)
        self.index = index
        self.alias = {}            # NMODL name -> python name inside IF branches
        self.defined = set(args)   # locals holding a value
        self.bound = set()         # builtins bound to a python local (v, dt, celsius)
        self.uniform = set()       # locals holding one value for every instance
        self.lines = []
        self.depth = 1

    # -- names -----------------------------------------------------------------------
    def local_name(self, name):
        if name in self.gen.module_level:
            return self.gen.renamed(name, "local")
        return self.gen.python_name(name)

    def read(self, name, line=None):
        if name in self.alias:
            return self.alias[name]
        if name in self.locals:
            return self.local_name(name)
        gen = self.gen
        mech = gen.mech
        if name in gen.functions_by_name:
            gen.fail(f"{name!r} is a FUNCTION or PROCEDURE, used as a variable", line)
        cat = mech.category(name)
        if cat is None:
            if name == "t":
                gen.fail("the time variable t is not available to Arbor mechanisms", line)
            gen.fail(f"{name!r} is not declared (not a PARAMETER, STATE, ASSIGNED, CONSTANT, "
                     "LOCAL or ion variable)", line)
        if cat == "const":
            return gen.const_name(name)
        if self.mode == "function":
            gen.fail(f"internal: {name!r} should be an argument here", line)
        if cat == "builtin" and name in ("v", "dt", "celsius") and self.mode == "vector":
            self.bound.add(name)
            return name
        if cat == "current" and self.mode == "vector" and self.in_breakpoint:
            return self.local_name(name)
        field = mech.field(name)
        if self.mode == "event" and cat not in ("global", "random") and field not in ("dt",):
            return f"pp.{field}[{self.index}]"
        return f"pp.{field}"

    def target(self, name, line=None):
        """Python target of an assignment to ``name``."""
        if name in self.alias:
            return self.alias[name]
        if name in self.locals:
            return self.local_name(name)
        gen = self.gen
        cat = gen.mech.category(name)
        if cat == "current" and self.mode == "vector" and self.in_breakpoint:
            return self.local_name(name)
        if cat in ("param", "global", "const", "random") or cat is None:
            what = {"param": "a PARAMETER", "global": "a global PARAMETER", "const": "a CONSTANT",
                    "random": "a WHITE_NOISE variable", None: "not declared"}[cat]
            if cat is None:
                gen.fail(f"assignment to {name!r}, which is not declared", line)
            gen.fail(f"assignment to {name!r}, which is {what} (read-only here)", line)
        if cat == "builtin" and name != "v":
            gen.fail(f"assignment to {name!r}, which is the simulator's (read-only)", line)
        if self.mode == "function":
            gen.fail(f"internal: {name!r} should be a local here", line)
        field = gen.mech.field(name)
        if self.mode == "event":
            return f"pp.{field}[{self.index}]"
        return f"pp.{field}"

    in_breakpoint = False

    # -- output ----------------------------------------------------------------------
    def emit(self, text):
        self.lines.append("    " * self.depth + text)

    def comment(self, line):
        src = self.gen.source_line(line)
        if src:
            self.emit(f"# {self.gen.label}:{line}  {src}")

    # -- expressions -----------------------------------------------------------------
    def expr(self, e, line=None, prec=0):
        text, p = self._expr(e, line)
        return f"({text})" if p < prec else text

    def _expr(self, e, line):
        if isinstance(e, (S.Bin, S.Unary, S.Call)) and not (isinstance(e, S.Unary) and isinstance(e.operand, S.Num)):
            value = Y.evaluate(e) if e_is_constant(e) else None
            if value is not None and value == value and abs(value) != float("inf"):
                # a constant subexpression, folded as modcc does (2.3^((34-21)/10) -> 2.9528...)
                return self._expr(S.Num(value), line)
        if isinstance(e, S.Num):
            return py_number(e.value), _PREC["atom"] if e.value >= 0 else _PREC["unary"]
        if isinstance(e, S.Name):
            return self.read(e.id, line), _PREC["atom"]
        if isinstance(e, S.Unary):
            if e.op == "-":
                return "-" + self.expr(e.operand, line, _PREC["unary"]), _PREC["unary"]
            inner = self.expr(e.operand, line)
            if self.mode == "event":
                return f"not ({inner})", _PREC["||"]
            return f"np.logical_not({inner})", _PREC["atom"]
        if isinstance(e, S.Bin):
            p = _PREC[e.op]
            op = _PYOP.get(e.op, e.op)
            if e.op in ("&&", "||"):
                if self.mode == "event":
                    op = "and" if e.op == "&&" else "or"
                    return f"{self.expr(e.left, line, p)} {op} {self.expr(e.right, line, p + 1)}", p
                # comparisons bind weaker than & and | in Python: parenthesise operands
                return f"({self.expr(e.left, line)}) {op} ({self.expr(e.right, line)})", p
            # in an IF branch of a FUNCTION, the arguments may be Python numbers too
            scalar = self.is_uniform(e.left) and self.is_uniform(e.right) or \
                (self.mode == "function" and bool(self.alias))
            if e.op in ("/", "^") and scalar \
                    and not (e.op == "/" and isinstance(e.right, S.Num) and e.right.value != 0):
                # Python numbers (globals, CONSTANTs, dt): C's IEEE result, as modcc's
                # (1/0 is inf, 2^2000 inf), not Python's ZeroDivisionError or OverflowError,
                # also in the IF branch not taken (np.where computes both)
                ufunc = "np.divide" if e.op == "/" else "np.power"
                return f"{ufunc}({self.expr(e.left, line)}, {self.expr(e.right, line)})", _PREC["atom"]
            if e.op == "^":
                # right-associative; the base is parenthesised unless atomic
                return f"{self.expr(e.left, line, _PREC['atom'])} ** {self.expr(e.right, line, _PREC['unary'])}", p
            comparison = e.op in ("<", "<=", ">", ">=", "==", "!=")
            right_prec = p + 1 if comparison or e.op in ("-", "/") else p
            # a < b < c is (a < b) < c in NMODL, a chained comparison in Python: parenthesise
            left_prec = p + 1 if comparison else p
            return f"{self.expr(e.left, line, left_prec)} {op} {self.expr(e.right, line, right_prec)}", p
        if isinstance(e, S.Call):
            return self.call(e, line), _PREC["atom"]
        raise TypeError(e)

    def call(self, e, line):
        f, args = e.func, e.args
        gen = self.gen
        if f in gen.functions_by_name:
            proc = gen.functions_by_name[f]
            if proc.kind != "FUNCTION":
                gen.fail(f"PROCEDURE {f} has no value: call it as a statement", line)
            return self.user_call(proc, args, line)
        a = [self.expr(x, line) for x in args]
        if f in _MATH:
            if len(a) != 1:
                gen.fail(f"{f} takes one argument, not {len(a)}", line)
            return f"{_MATH[f]}({a[0]})"
        if f in ("min", "max"):
            if len(a) != 2:
                gen.fail(f"{f} takes two arguments", line)
            if self.mode == "event":
                return f"{f}({a[0]}, {a[1]})"
            return f"np.{'minimum' if f == 'min' else 'maximum'}({a[0]}, {a[1]})"
        if f == "pow":
            if len(a) != 2:
                gen.fail("pow takes two arguments", line)
            return f"{self.expr(args[0], line, _PREC['atom'])} ** {self.expr(args[1], line, _PREC['unary'])}"
        if f in ("step_right", "step_left", "step"):
            if len(a) != 1:
                gen.fail(f"{f} takes one argument", line)
            x = self.expr(args[0], line, _PREC["+"])
            # a comparison as 1.0/0.0 (modcc: (double)(x >= 0)); exact, and a scalar in compiled code
            if f == "step":
                return f"(0.5 * ({x} >= 0.0) + 0.5 * ({x} > 0.0))"
            return f"(1.0 * ({x} {'>=' if f == 'step_right' else '>'} 0.0))"
        gen.fail(f"unknown function {f!r}", line)

    def user_call(self, proc, args, line):
        gen = self.gen
        info = gen.fn_info[proc.name]
        if len(args) != len(proc.args):
            gen.fail(f"{proc.name} takes {len(proc.args)} arguments, not {len(args)}", line)
        a = [self.expr(x, line) for x in args]
        a += [self.read(n, line) for n in info.free]
        return f"{gen.py_function_name(proc.name)}({', '.join(a)})"

    # -- statements ------------------------------------------------------------------
    def statements(self, body):
        for st in body:
            self.statement(st)

    def statement(self, st):
        gen = self.gen
        if isinstance(st, S.Local):
            for n in st.names:
                self.locals.add(n)
            return
        if isinstance(st, S.Assign):
            self.comment(st.line)
            self.assign(st.target, self.expr(st.value, st.line), st.line,
                        uniform=self.is_uniform(st.value))
            return
        if isinstance(st, S.If):
            for inner in _walk(st.then + st.orelse):
                if isinstance(inner, S.Local):
                    gen.fail(f"LOCAL {', '.join(inner.names)} inside IF/ELSE: declare LOCALs at the top "
                             "of the block (modcc refuses them in a nested scope too)", inner.line)
            self.comment(st.line)
            if self.mode == "event":
                self.event_if(st)
            elif not self.alias and self.is_uniform(st.cond):
                self.uniform_if(st)
            else:
                self.where_if(st)
            return
        if isinstance(st, S.CallStmt):
            self.comment(st.line)
            self.call_statement(st)
            return
        if isinstance(st, S.Conductance):
            return
        if isinstance(st, S.Solve):
            gen.fail(f"SOLVE {st.block} is allowed only in BREAKPOINT and INITIAL", st.line)
        if isinstance(st, S.DerivAssign):
            gen.fail(f"{st.target}' = ... belongs in a DERIVATIVE block", st.line)
        if isinstance(st, (S.Reaction, S.Conserve)):
            gen.fail("reactions and CONSERVE belong in a KINETIC block", st.line)
        if isinstance(st, S.LinearEq):
            gen.fail("'~ ... = ...' equations belong in a LINEAR or NONLINEAR block", st.line)
        gen.fail(f"unsupported statement {type(st).__name__}", getattr(st, "line", None))

    def assign(self, name, value, line, uniform=False):
        target = self.target(name, line)
        self.emit(f"{target} = {value}")
        if name in self.locals or name in self.alias:
            self.defined.add(name)
        if uniform and name in self.locals and name not in self.alias:
            self.uniform.add(name)
        else:
            self.uniform.discard(name)
        if name == "v" and "v" in self.bound:
            self.emit("v = pp.v")

    def call_statement(self, st):
        gen = self.gen
        f = st.call.func
        if f not in gen.functions_by_name:
            gen.fail(f"{f}(...) as a statement: only a PROCEDURE or FUNCTION can be called so", st.line)
        proc = gen.functions_by_name[f]
        info = gen.fn_info[f]
        call = self.user_call(proc, st.call.args, st.line)
        if proc.kind == "FUNCTION" or not info.writes:
            self.emit(call)
            return
        targets = [self.target(n, st.line) for n in info.writes]
        if all(not t.startswith("pp.") for t in targets):
            self.emit(f"{', '.join(targets)}{',' if len(targets) == 1 else ''} = {call}")
        else:
            temps = [gen.temp_name(n) for n in info.writes]
            self.emit(f"{', '.join(temps)}{',' if len(temps) == 1 else ''} = {call}")
            for t, tmp in zip(targets, temps):
                if t != tmp:
                    self.emit(f"{t} = {tmp}")
        for n in info.writes:
            if n in self.locals:
                self.defined.add(n)
            self.uniform.discard(n)

    def event_if(self, st):
        self.emit(f"if {self.expr(st.cond, st.line)}:")
        self.depth += 1
        n = len(self.lines)
        self.statements(st.then)
        if len(self.lines) == n:
            self.emit("pass")
        self.depth -= 1
        if st.orelse:
            self.emit("else:")
            self.depth += 1
            n = len(self.lines)
            self.statements(st.orelse)
            if len(self.lines) == n:
                self.emit("pass")
            self.depth -= 1

    def is_uniform(self, e):
        """True when ``e`` has one value for every instance: numbers, CONSTANTs, global
        PARAMETERs, dt, and LOCALs holding such (conservative: False when unsure)."""
        gen = self.gen
        if not all(self._uniform_name(n) for n in Y.names(e)):
            return False
        for f in Y.calls(e):
            if f in gen.fn_info:
                if not all(self._uniform_name(n) for n in gen.fn_info[f].free):
                    return False
            elif f not in _MATH and f not in ("min", "max", "pow", "step_right", "step_left", "step"):
                return False
        return True

    def _uniform_name(self, name):
        if name in self.alias:
            return False
        if name in self.locals:
            return name in self.uniform
        return name == "dt" or self.gen.mech.category(name) in ("const", "global")

    def uniform_if(self, st):
        """IF/ELSE on a value every instance shares: a Python ``if``, so that only the branch
        taken is computed, as in modcc (the other may divide by zero)."""
        gen = self.gen
        assigned = []
        for n in assigned_names(st.then, gen.call_writes) + assigned_names(st.orelse, gen.call_writes):
            if n not in assigned:
                assigned.append(n)
        for n in assigned:
            if n in self.locals and n not in self.defined:
                self.emit(f"{self.local_name(n)} = 0.0")      # modcc's LOCALs start at 0
                self.defined.add(n)
                self.uniform.add(n)
        self.emit(f"if {self.expr(st.cond, st.line)}:")
        before = set(self.uniform)
        ends = []
        for branch in (st.then, st.orelse):
            if branch is st.orelse:
                if not branch:
                    ends.append(set(before))
                    break
                self.emit("else:")
            self.uniform = set(before)
            self.depth += 1
            n = len(self.lines)
            self.statements(branch)
            if len(self.lines) == n:
                self.emit("pass")
            self.depth -= 1
            ends.append(self.uniform)
        self.uniform = ends[0] & ends[1]

    def where_if(self, st, cond_text=None):
        """IF/ELSE on per-instance values: both branches computed, merged with np.where."""
        gen = self.gen
        cond = gen.temp(f"if_{st.line}", unique=True) if cond_text is None else cond_text
        if cond_text is None:
            self.emit(f"{cond} = {self.expr(st.cond, st.line)}")
        assigned = []
        for n in assigned_names(st.then, gen.call_writes) + assigned_names(st.orelse, gen.call_writes):
            if n not in assigned:
                assigned.append(n)
        before = {n: self.current(n, st.line) for n in assigned}
        results = {}
        for branch, suffix in ((st.then, "then"), (st.orelse, "else")):
            saved_alias = dict(self.alias)
            saved_defined = set(self.defined)
            branch_assigned = set(assigned_names(branch, gen.call_writes))
            for n in assigned:
                if n in branch_assigned:
                    base = self.alias.get(n) or (self.local_name(n) if n in self.locals else gen.mech.field(n))
                    alias = gen.temp(f"{base}_{suffix}".replace("pp.", ""))
                    if not assigned_before_use(branch, n, gen.call_writes, gen.call_reads):
                        # the branch reads it, or may leave it (an IF inside): start from its value
                        self.emit(f"{alias} = {before[n]}")
                    self.alias[n] = alias
            self.statements(branch)
            results[suffix] = {n: (self.alias[n] if n in branch_assigned else before[n]) for n in assigned}
            self.alias = saved_alias
            self.defined = saved_defined
        for n in assigned:
            self.assign(n, f"np.where({cond}, {results['then'][n]}, {results['else'][n]})", st.line)

    def current(self, name, line):
        """The value ``name`` holds now (0.0 for a local that holds none yet, as in modcc)."""
        if name in self.alias:
            return self.alias[name]
        if name in self.locals and name not in self.defined:
            return "0.0"
        return self.read(name, line)


def e_is_constant(e):
    """True when every leaf of ``e`` is a number and it uses only + - * / ^ (modcc folds these)."""
    if isinstance(e, S.Num):
        return True
    if isinstance(e, S.Unary):
        return e.op == "-" and e_is_constant(e.operand)
    if isinstance(e, S.Bin):
        return e.op in "+-*/^" and e_is_constant(e.left) and e_is_constant(e.right)
    return False


def assigned_before_use(body, name, call_writes, call_reads):
    """True when the first statement of ``body`` that reads or writes ``name`` assigns it
    outright, at the top level (not inside an IF) and without reading it."""
    for st in body:
        if isinstance(st, S.Local):
            continue
        reads = branch_reads([st], name, call_reads)
        if not reads and name not in assigned_names([st], call_writes):
            continue
        if reads:
            return False
        if isinstance(st, S.Assign):
            return st.target == name
        return isinstance(st, S.CallStmt)      # a PROCEDURE's output (it does not read it)
    return False


def branch_reads(body, name, call_reads):
    """True when the statements read ``name`` (``call_reads``: FUNCTION/PROCEDURE -> what it reads,
    FUNCTIONs called inside expressions included)."""
    for st in body:
        for e in _exprs(st):
            if name in Y.names(e):
                return True
            if any(name in call_reads.get(f, ()) for f in Y.calls(e)):
                return True
        if isinstance(st, S.CallStmt) and name in call_reads.get(st.call.func, ()):
            return True
        for child in _children(st):
            if branch_reads(child, name, call_reads):
                return True
    return False


class FunctionInfo:
    def __init__(self, proc):
        self.proc = proc
        self.free = []      # outer names read (arguments after the declared ones)
        self.writes = []    # outer names assigned (PROCEDURE: returned)


class Generator:
    def __init__(self, mech, text):
        self.mech = mech
        self.module = mech.module
        self.src = text.splitlines()
        self.label = Path(self.module.filename).name
        self.functions_by_name = dict(self.module.functions)
        self.module_level = set(self.functions_by_name) | set(mech.constants)
        self.fn_info = {}
        self.class_name = class_name(mech.name)
        # every word of the file (a superset of its names) and what the output has taken so far:
        # generated names avoid them all, so they never collide with the user's
        self._taken = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text)) | _RESERVED | {self.class_name}
        self._names = {}
        self.temp_count = 0
        self._analyse_functions()

    # -- helpers ---------------------------------------------------------------------
    def fail(self, message, line=None):
        raise NmodlError(message, self.module.filename, line)

    def source_line(self, line):
        if line is None or not (1 <= line <= len(self.src)):
            return ""
        text = self.src[line - 1].split(":", 1)[0].strip()
        return text

    def python_name(self, name):
        """The Python name of the NMODL name ``name`` (renamed where it is a keyword or reserved)."""
        if keyword.iskeyword(name) or name in _RESERVED or name == self.class_name:
            return self.renamed(name, "name")
        return name

    def renamed(self, name, role):
        """A Python name for ``name`` in ``role`` that no NMODL name of the file takes."""
        key = (role, name)
        if key not in self._names:
            self._names[key] = self._untaken(name + "_")
        return self._names[key]

    def temp(self, base, unique=False):
        """A generated local's name: ``base``, or ``base_``... where the file or the output has it.

        The same ``base`` gives the same name (a temporary reassigned in
        order), unless ``unique``.
        """
        key = ("temp", base)
        if unique or key not in self._names:
            self._names[key] = self._untaken(base)
        return self._names[key]

    def _untaken(self, name):
        while name in self._taken or keyword.iskeyword(name):
            name += "_"
        self._taken.add(name)
        return name

    def conductance_name(self, current):
        """The local tracking dI/dv of ``current`` inside IF/ELSE."""
        return self.temp(f"d{current}_dv")

    def const_name(self, name):
        return self.python_name(name)

    def py_function_name(self, name):
        return self.python_name(name)

    def temp_name(self, name):
        return self.temp(name)

    # -- FUNCTION / PROCEDURE inputs and outputs ------------------------------------
    def _analyse_functions(self):
        """Each FUNCTION's and PROCEDURE's outer inputs (``free``) and outputs (``writes``).

        An outer name is an input when it may be read before the function
        assigns it on every path (calls included), or when it is an output
        not assigned on every path (its value then passes through).
        """
        mech = self.mech
        infos = {name: FunctionInfo(p) for name, p in self.functions_by_name.items()}
        locals_of = {}
        for name, proc in self.functions_by_name.items():
            local = set(proc.args) | ({name} if proc.kind == "FUNCTION" else set())
            for st in _walk(proc.body):
                if isinstance(st, S.Local):
                    local.update(st.names)
            locals_of[name] = local

        def outer(fname, n):
            return (n not in locals_of[fname] and mech.category(n) != "const"
                    and n not in self.functions_by_name)

        def flow(fname, body, assigned, needs, writes):
            for st in body:
                if isinstance(st, S.Local):
                    continue
                for e in _exprs(st):
                    for n in sorted(Y.names(e)):
                        if outer(fname, n) and n not in assigned and n not in needs:
                            needs.append(n)
                    for callee in sorted(Y.calls(e)):
                        for n in infos[callee].free if callee in infos else ():
                            if n not in assigned and n not in needs:
                                needs.append(n)
                if isinstance(st, S.CallStmt) and st.call.func in infos:
                    callee = infos[st.call.func]
                    for n in callee.free:
                        if n not in assigned and n not in needs:
                            needs.append(n)
                    for n in callee.writes:
                        assigned.add(n)
                        if n not in writes:
                            writes.append(n)
                if isinstance(st, S.Assign):
                    if outer(fname, st.target):
                        assigned.add(st.target)
                        if st.target not in writes:
                            writes.append(st.target)
                if isinstance(st, S.If):
                    a1, a2 = set(assigned), set(assigned)
                    flow(fname, st.then, a1, needs, writes)
                    flow(fname, st.orelse, a2, needs, writes)
                    assigned |= a1 & a2
            return assigned

        self._refuse_recursion()
        changed = True
        while changed:              # to a fixed point over the calls
            changed = False
            for name, info in infos.items():
                needs, writes = [], []
                assigned = flow(name, info.proc.body, set(), needs, writes)
                needs += [n for n in writes if n not in assigned and n not in needs]
                if (needs, writes) != (info.free, info.writes):
                    info.free, info.writes = needs, writes
                    changed = True
        for name, info in infos.items():
            proc = info.proc
            for n in info.free + info.writes:
                cat = mech.category(n)
                if cat is None:
                    if n == "t":
                        self.fail("the time variable t is not available to Arbor mechanisms", proc.line)
                    self.fail(f"{proc.kind} {name} uses {n!r}, which is not declared", proc.line)
            if proc.kind == "FUNCTION" and info.writes:
                self.fail(f"FUNCTION {name} assigns {', '.join(info.writes)}: only a PROCEDURE may "
                          "assign outer variables", proc.line)
            for n in info.writes:
                if n in mech.currents:
                    self.fail(f"PROCEDURE {name} assigns the current {n}: assign currents in BREAKPOINT",
                              proc.line)
        self.fn_info = infos
        self.call_writes = {name: list(info.writes) for name, info in infos.items()}
        self.call_reads = {name: list(info.free) for name, info in infos.items()}

    def _refuse_recursion(self):
        """A FUNCTION or PROCEDURE that calls itself, directly or through others, is refused
        (modcc refuses it: 'recursive functions not allowed')."""
        callees = {}
        for name, proc in self.functions_by_name.items():
            calls = set()
            _scan(proc.body, set(), [], [], calls)
            callees[name] = sorted(c for c in calls if c in self.functions_by_name)

        done = set()

        def visit(name, path):
            if name in done:
                return
            for callee in callees[name]:
                if callee in path:
                    cycle = path[path.index(callee):] + [callee]
                    proc = self.functions_by_name[callee]
                    self.fail(f"{proc.kind} {callee} is recursive ({' -> '.join(cycle)}): Arbor cannot "
                              "run recursive functions (modcc refuses them too)", proc.line)
                visit(callee, path + [callee])
            done.add(name)
        for name in self.functions_by_name:
            visit(name, [name])

    # -- module ---------------------------------------------------------------------
    def generate(self, header=None):
        functions = [self.function_source(p) for p in self.functions_by_name.values()]
        cls = self.class_source()       # first: solvers add notes
        mech = self.mech
        out = []
        doc = f'"""{mech.name}: generated by arbor_pycat.nmodl from {self.label}.'
        out.append(doc)
        out.append("")
        out.append("An ordinary arbor_pycat mechanism: edit it (or a copy) freely. Comments give")
        out.append(f"the NMODL lines ({self.label}:LINE) each statement comes from.")
        seen_notes = set()
        for line, note in sorted(self.module.notes):
            if note in seen_notes:
                continue
            seen_notes.add(note)
            text = f"Note ({self.label}:{line}): {note}." if line else f"Note: {note}."
            out.extend(textwrap.wrap(text, 79, subsequent_indent="    "))
        out.append('"""')
        if header:
            out[0:0] = header
        body = []
        if mech.constants:
            body.append("")
            for name, value in mech.constants.items():
                body.append(f"{self.const_name(name)} = {py_number(value)}")
        for f in functions:
            body += ["", ""] + f
        body += ["", ""] + cls
        code = "\n".join(body)
        uses = sorted(h for h in ("cnexp", "cnexp_linear", "exprelr") if re.search(rf"\b{h}\(", code))
        out.append("import numpy as np")
        out.append("")
        out.append(", ".join(["from arbor_pycat import CustomMechanism", "IonInfo"] + uses))
        return "\n".join(out) + "\n" + code.rstrip("\n") + "\n"

    def function_source(self, proc):
        info = self.fn_info[proc.name]
        args = list(proc.args) + [n for n in info.free if n not in proc.args]
        ctx = Context(self, "function", locals_=args + info.writes, args=args)
        if proc.kind == "FUNCTION":
            ctx.locals.add(proc.name)
        pyargs = [ctx.local_name(a) for a in args]
        lines = [f"def {self.py_function_name(proc.name)}({', '.join(pyargs)}):"]
        doc = f'"""{proc.kind} {proc.name} ({self.label}:{proc.line})'
        extra = [n for n in info.free if n not in proc.args]
        if extra:
            doc += "; also reads " + ", ".join(extra)
        if proc.kind == "PROCEDURE" and info.writes:
            doc += "; returns " + ", ".join(info.writes)
        doc = textwrap.wrap(doc.strip() + '."""', 95)
        lines.append("    " + doc[0])
        lines += ["    " + d for d in doc[1:]]
        ctx.statements(proc.body)
        lines.extend(ctx.lines)
        if proc.kind == "FUNCTION":
            result = ctx.local_name(proc.name)
            if proc.name not in ctx.defined:
                lines.append(f"    {result} = 0.0")
            lines.append(f"    return {result}")
        elif info.writes:
            lines.append(f"    return {', '.join(ctx.local_name(n) for n in info.writes)}"
                         + ("," if len(info.writes) == 1 else ""))
        elif len(lines) == 2:
            lines.append("    return None")
        return lines

    # -- the class --------------------------------------------------------------------
    def class_source(self):
        mech = self.mech
        lines = [f"class {self.class_name}(CustomMechanism):"]
        kind_text = {"density": "density mechanism", "point": "point process", "junction": "gap junction",
                     "voltage": "voltage process", "reversal_potential": "reversal-potential mechanism"}
        lines.append(f'    """{mech.name} ({kind_text[mech.kind]}), from {self.label}."""')
        lines.append(f"    name = {mech.name!r}")
        lines.append(f"    kind = {mech.kind!r}")

        def decls(attr, entries):
            if not entries:
                return
            items = [f"({e.name!r}, {e.units!r}, {py_number(e.default)})" for e in entries]
            head = f"    {attr} = ["
            text = head + ", ".join(items) + "]"
            if len(text) <= 100:
                lines.append(text)
                return
            lines.append(head)
            for item in items:
                lines.append(f"        {item},")
            lines.append("    ]")
        decls("parameters", mech.parameters)
        decls("globals", mech.globals)
        decls("state_vars", mech.states)
        if mech.ions:
            lines.append("    ions = [")
            for ion in mech.ions:
                flags = sorted(ion.flags().items(), key=lambda kv: not kv[1])   # True ones first
                parts = [f"{ion.name!r}"] + [f"{k}={v!r}" for k, v in flags]
                head = "        IonInfo("
                current = head + parts[0]
                for part in parts[1:]:
                    if len(current) + len(part) + 2 > 100:
                        lines.append(current + ",")
                        current = " " * len(head) + part
                    else:
                        current += ", " + part
                lines.append(current + "),")
            lines.append("    ]")
        if mech.random:
            lines.append(f"    random = {mech.random!r}")
        methods = []
        for method in (self.init_method, self.currents_method, self.advance_method,
                       self.write_ions_method, self.events_method, self.post_event_method):
            m = method()
            if m:
                methods.append(m)
        for m in methods:
            lines.append("")
            lines.extend(m)
        return lines

    def method(self, name, ctx, args="self, pp", doc=None):
        head = [f"    def {name}({args}):"]
        if doc:
            head.append(f'        """{doc}"""')
        binds = []
        for b in ("v", "dt", "celsius"):
            if b in ctx.bound:
                binds.append(f"        {b} = pp.{BUILTINS[b]}")
        body = [("    " + l) for l in ctx.lines]
        if not body and not binds:
            return None
        return head + binds + body

    def init_method(self):
        p = self.module.initial
        if p is None:
            return None
        ctx = Context(self, "vector")
        ctx.depth = 1
        for st in p.body:
            if isinstance(st, S.Solve):
                self.solve(ctx, st, initial=True)
            else:
                ctx.statement(st)
        return self.method("init_mechanism", ctx, doc=f"INITIAL ({self.label}:{p.line}).")

    def currents_method(self):
        p = self.module.breakpoint
        mech = self.mech
        if p is None:
            return None
        ctx = Context(self, "vector")
        ctx.in_breakpoint = True
        body = [st for st in p.body if not isinstance(st, S.Solve)]
        hints = {}
        for st in _walk(body):
            if isinstance(st, S.Conductance):
                if st.ion is None:
                    nonspec = [c for c, ion in mech.currents.items() if ion is None]
                    if len(nonspec) != 1:
                        self.fail("CONDUCTANCE without USEION needs exactly one NONSPECIFIC_CURRENT",
                                  st.line)
                    hints[nonspec[0]] = st.name
                else:
                    cur = [c for c, ion in mech.currents.items() if ion == st.ion]
                    if not cur:
                        self.fail(f"CONDUCTANCE {st.name} USEION {st.ion}: the mechanism writes no "
                                  f"{st.ion} current", st.line)
                    hints[cur[0]] = st.name
        written = [c for c in mech.currents if c in assigned_names(body, self.call_writes)]
        for c in mech.currents:
            if c not in written and mech.kind in ("density", "point", "junction"):
                self.fail(f"the current {c} is declared but never assigned in BREAKPOINT", p.line)
        read_currents = [c for c in written if any(c in Y.names(e) for st in _walk(body) for e in _exprs(st))]
        for c in read_currents:
            ctx.emit(f"{ctx.local_name(c)} = 0.0")
            ctx.defined.add(c)
        body, derivatives = conductance_statements(body, written, hints, self.call_writes, self.module.filename,
                                                   self.conductance_name)
        for c in written:
            ctx.locals.add(c)
            ctx.locals.add(self.conductance_name(c))
        for c in read_currents:
            ctx.defined.add(c)
        ctx.statements(body)
        for c in written:
            ctx.locals.discard(c)
        if written:
            nonspec = [c for c in written if mech.currents[c] is None]
            if nonspec:
                terms = " + ".join(("-" if c in mech.electrode else "") + ctx.local_name(c)
                                   for c in nonspec)
                ctx.emit(f"pp.i = {terms}")
            for c in written:
                if mech.currents[c] is not None:
                    ctx.emit(f"pp.{c} = {ctx.local_name(c)}")
            g = None
            for c in written:
                d = S.Name(hints[c]) if c in hints else derivatives.get(c, Y.ZERO)
                term = ctx.expr(d)
                if term == "0.0":
                    continue
                if c in mech.electrode:
                    term = f"-{ctx.expr(d, None, _PREC['unary'])}"
                g = term if g is None else f"{g} + {term}"
            ctx.emit(f"pp.conductance = {g or '0.0'}")
        return self.method("compute_currents", ctx, doc=f"BREAKPOINT ({self.label}:{p.line}): currents"
                           + (" and their conductance dI/dv" if written else "") + ".")

    def solve(self, ctx, st, initial=False):
        block = self.module.blocks.get(st.block)
        if block is None:
            proc = self.functions_by_name.get(st.block)
            if proc is not None and proc.kind == "PROCEDURE" and st.method is None:
                ctx.comment(st.line)
                ctx.call_statement(S.CallStmt(S.Call(st.block, ()), st.line))
                return
            self.fail(f"SOLVE {st.block}: no DERIVATIVE, KINETIC or LINEAR block of that name", st.line)
        solvers.solve(self, ctx, block, st, initial)

    def advance_method(self):
        p = self.module.breakpoint
        if p is None:
            return None
        solves = [st for st in p.body if isinstance(st, S.Solve)]
        for st in _walk(p.body):
            if isinstance(st, S.Solve) and st not in solves:
                self.fail("SOLVE inside IF is not supported", st.line)
        if not solves:
            return None
        ctx = Context(self, "vector")
        for st in solves:
            self.solve(ctx, st)
        return self.method("advance_state", ctx, doc=f"SOLVE ({self.label}:{solves[0].line}).")

    def write_ions_method(self):
        mech = self.mech
        if not mech.shadowed:
            return None
        ctx = Context(self, "vector")
        for name, ion in mech.shadowed.items():
            ctx.emit(f"# STATE {name} is this mechanism's {ion} concentration (USEION {ion} WRITE {name})")
            ctx.emit(f"pp.ion_{name} = pp.{name}")
        return self.method("write_ions", ctx)

    def events_method(self):
        p = self.module.net_receive
        if p is None:
            return None
        if self.mech.kind != "point":
            self.fail("NET_RECEIVE in a mechanism that is not a POINT_PROCESS", p.line)
        if len(p.args) > 1:
            self.fail(f"NET_RECEIVE({', '.join(p.args)}): Arbor passes one argument, the weight", p.line)
        weight = p.args[0] if p.args else "weight"
        ctx = Context(self, "event", locals_=[weight], args=[weight], index="j")
        ctx.depth = 2
        ctx.statements(p.body)
        w = ctx.local_name(weight)
        lines = ["    def apply_events(self, pp, events):",
                 f'        """NET_RECEIVE({weight}) ({self.label}:{p.line}), once per event."""',
                 "        for k in range(len(events)):",
                 "            j = events.mech_index[k]",
                 f"            {w} = events.weight[k]"]
        body = [("    " + l) for l in ctx.lines] or ["            pass"]
        return lines + body

    def post_event_method(self):
        p = self.module.post_event
        if p is None:
            return None
        if self.mech.kind != "point":
            self.fail("POST_EVENT in a mechanism that is not a POINT_PROCESS", p.line)
        time = p.args[0] if p.args else "time"
        ctx = Context(self, "vector", locals_=[time], args=[time])
        ctx.depth = 2
        ctx.where_if(S.If(None, p.body, [], p.line), cond_text="fired")
        t = ctx.local_name(time)
        lines = ["    def post_event(self, pp):",
                 f'        """POST_EVENT({time}) ({self.label}:{p.line}), once per detector of the cell '
                 'that fired."""']
        binds = [f"        {b} = pp.{BUILTINS[b]}" for b in ("v", "dt", "celsius") if b in ctx.bound]
        return lines + binds + [
            "        tss = pp.time_since_spike",
            "        for d in range(tss.shape[1]):",
            f"            {t} = tss[:, d]",
            f"            fired = {t} >= 0.0",
        ] + [("    " + l) for l in ctx.lines]


def _walk(body):
    for st in body:
        yield st
        for child in _children(st):
            yield from _walk(child)


def _scan(body, local, reads, writes, calls):
    for st in body:
        if isinstance(st, S.Local):
            local.update(st.names)
            continue
        for e in _exprs(st):
            for n in sorted(Y.names(e)):
                if n not in reads:
                    reads.append(n)
            calls.update(Y.calls(e))
        if isinstance(st, S.Assign) and st.target not in writes:
            writes.append(st.target)
        if isinstance(st, S.CallStmt):
            calls.add(st.call.func)
        for child in _children(st):
            _scan(child, local, reads, writes, calls)


def conductance_statements(body, currents, hints, call_writes, filename, conductance_name):
    """BREAKPOINT's statements with the conductance tracked, and ``{current: dI/dv}`` at the end.

    modcc differentiates each current expression symbolically in ``v`` (other
    names, LOCALs included, are constants). At the top level the derivative
    stays an expression (used at the end); inside IF/ELSE it is tracked in a
    variable ``conductance_name(current)`` (``d<current>_dv``) so that
    np.where merges it like the current.
    """
    deriv = {c: Y.ZERO for c in currents}

    def dv(e):
        d = Y.diff(e, "v")
        for c in currents:
            if c in Y.names(e):
                d = Y.add(d, Y.mul(Y.diff(e, c), deriv[c]))
        return Y.simplify(d)

    def rewrite(stmts, inside):
        out = []
        for st in stmts:
            if isinstance(st, S.Assign) and st.target in currents and st.target not in hints:
                try:
                    d = dv(st.value)
                except Y.NotDifferentiable as exc:
                    raise NmodlError(f"cannot differentiate the current {st.target} in v ({exc}); "
                                     "give a CONDUCTANCE hint", filename, st.line)
                out.append(st)
                if inside:
                    out.append(S.Assign(conductance_name(st.target), d, st.line))
                    deriv[st.target] = S.Name(conductance_name(st.target))
                else:
                    deriv[st.target] = d
            elif isinstance(st, S.If):
                inner = [c for c in currents if c in assigned_names([st], call_writes) and c not in hints]
                for c in inner:
                    if not (isinstance(deriv[c], S.Name) and deriv[c].id == conductance_name(c)):
                        out.append(S.Assign(conductance_name(c), deriv[c], st.line))
                        deriv[c] = S.Name(conductance_name(c))
                out.append(S.If(st.cond, rewrite(st.then, True), rewrite(st.orelse, True), st.line))
            else:
                out.append(st)
        return out

    result = rewrite(body, False)
    return result, deriv


def class_name(name):
    parts = re.split(r"_+", name)
    text = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not text or not text[0].isalpha():
        text = "M" + text
    return text
