"""Lower element-wise numpy code to a per-instance scalar kernel.

The python backend runs a method on numpy arrays with one value per
instance. When every operation of the method is element-wise, instance
``k`` of every result depends on instance ``k`` of the inputs only, and the
whole method can run as ONE scalar computation per instance, inside the
entry's loop: no temporary arrays, and LLVM vectorises it. This module proves
that a method is element-wise and writes that scalar kernel, by abstract
interpretation of its code:

* every name, field and temporary is an *object*: a per-instance array (as
  numpy has it), a per-instance scalar (``pp.v[k]`` inside a loop over
  instances), or a uniform value (``pp.dt``, constants). An object is one
  variable of the kernel; names that alias it (``m = pp.m``) read and write
  that variable, so in-place updates through aliases, ``x[:] = ...``,
  ``out=`` and masked assignments reach the field exactly as numpy's views
  do;
* numpy's element-wise vocabulary becomes scalar code with numpy's rules
  (``np.where``/``np.select`` select, ``np.maximum`` propagates NaN,
  ``np.isclose`` has numpy's tolerances and infinities, ...);
* the user's helper functions, methods of the class (``self.rate(v)``,
  ``@staticmethod``, ``@classmethod``), lambdas and class constants are
  inlined with their own globals and default arguments; loops over tuples are
  unrolled; ``for k in range(pp.width)`` loops become the per-instance body;
* every name of the kernel is generated (``__pc_...``): user names can never
  collide with the library's.

Whatever it cannot prove element-wise it refuses with :class:`CannotCompile`
naming the file and line; the method then takes the array form. Code that
the python backend would reject (``if`` on an array of more than one value,
``math.exp`` of an array) is refused too, with the reason.
"""
from __future__ import annotations

import ast
import builtins
import copy
import dataclasses
import inspect
import math
import sys
import textwrap
import types
from dataclasses import dataclass, field

import numpy as np

from ...abi import contract
from ..base import CannotCompile
from . import hoist, messages
from .messages import raise_message
from .naming import PREFIX
from ...helpers import cnexp, cnexp_linear, exprelr
from ...spec.fields import Index, Write
from ...spec.field_names import function_namespace, local_names
from ...spec.inspection import function_tree

# A scalar kernel's status: the raise's group (in Python's order, see
# Lowering.set_status) from bit RAISE_GROUP_SHIFT up, the entry's instance part
# below it, the message code in the low 8 bits (abi.contract.STATUS_CODE_BITS).
RAISE_GROUP_SHIFT = 40
MAX_RAISE_GROUPS = 1 << 20
# exp's arguments without overflow or flush to zero (mathlib's exp uses them too)
EXP_LOW, EXP_HIGH = -708.0, 709.782712893384
_MAX_INLINE_DEPTH = 32
_MAX_UNROLL = 64


# --- values --------------------------------------------------------------------
@dataclass
class Obj:
    """An array or scalar the method computes with; ``var`` holds its current value."""
    var: str
    inst: bool                 # one value per instance
    array: bool                # a numpy array (mutable in place); False for Python/numpy scalars
    boolean: bool = False
    field: str | None = None   # the pp field this object is
    readonly: bool = False
    alias_of: str | None = None  # name that made it ambiguous (branches bound it differently)
    py: bool | None = False    # a Python bool, int or float (not numpy's): True + True is 2; None: either, by the path taken


@dataclass
class Expr:
    """A computed value that no name holds (yet)."""
    node: ast.expr
    inst: bool
    array: bool
    boolean: bool = False
    py: bool | None = False    # a Python bool, int or float (not numpy's): True + True is 2; None: either, by the path taken


@dataclass
class Tup:
    items: list
    mutable: bool = False      # a list (its items can be rebound), not a tuple


class OneShot(Tup):
    """What zip(), enumerate() and a generator give: to loop over or unpack, not
    to index (Python raises for that)."""


@dataclass
class Func:
    """Something callable that is inlined: a Python function (or lambda)."""
    function: object
    bound: list = field(default_factory=list)   # leading arguments already bound (self / cls)
    where: str = ""


@dataclass
class Const:
    """A uniform Python value known at compile time (module constants, class attributes)."""
    value: object


@dataclass
class Ref:
    """A non-numeric object: a module, the class, the instance, a numpy/math function."""
    value: object


@dataclass
class Dict:
    """A dict with constant keys (a literal in the code, or a module's or class's dict of
    numbers); ``frozen`` for module and class dicts (read when build() runs)."""
    items: dict
    frozen: bool = False


class SelfRef:
    def __init__(self, cls):
        self.cls = cls


class SuperRef:
    """``super()`` in a method or helper of ``owner`` (its ``__class__`` cell), for an
    instance of ``cls``: attributes from the classes after ``owner`` in ``cls.__mro__``."""
    def __init__(self, cls, owner):
        self.cls, self.owner = cls, owner


# --- helpers ---------------------------------------------------------------------
def _name(var):
    return ast.Name(var, ast.Load())


def _store(var):
    return ast.Name(var, ast.Store())


def _call(fn, *args):
    return ast.Call(_name(fn), list(args), [])


def _const_node(value):
    if isinstance(value, (bool, np.bool_)):
        return ast.Constant(bool(value))
    if isinstance(value, (int, np.integer)):
        return ast.Constant(int(value))
    value = float(value)
    if math.isnan(value):
        return _call(PREFIX + "nan")
    if math.isinf(value):
        node = _call(PREFIX + "inf")
        return ast.UnaryOp(ast.USub(), node) if value < 0 else node
    return ast.Constant(value)


def _is_number(value):
    return isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)) \
        and not isinstance(value, np.ndarray)


# Functions of numpy and math with a scalar lowering: name -> (arity range, emitter name or callable).
_UFUNC_BINARY = {
    "add": ast.Add, "subtract": ast.Sub, "multiply": ast.Mult, "divide": ast.Div,
    "true_divide": ast.Div, "floor_divide": ast.FloorDiv,
    "remainder": ast.Mod, "mod": ast.Mod,      # the sign of the divisor, as Python's % (not fmod)
}
_RUNTIME_UNARY = {   # numpy/math name -> runtime function of the generated module
    "exp": "fast_exp", "expm1": "fast_expm1", "log": "fast_log", "tanh": "fast_tanh",
    "log1p": "fast_log1p",
}
_NUMBA_UNARY = {     # numpy/math functions numba implements on scalars with numpy's values
    "sqrt", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh",
    "arccosh", "arctanh", "log2", "log10", "exp2", "floor", "ceil", "trunc", "rint",
    "isnan", "isinf", "isfinite", "cbrt", "deg2rad", "rad2deg", "degrees", "radians", "signbit",
    "reciprocal",        # of an integer an integer, as numpy's: np.reciprocal(2) is 0
}
_MATH_ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh",
                 "acosh": "arccosh", "atanh": "arctanh", "fabs": "fabs", "pow": "power"}
_BOOLEAN_RESULTS = {"isnan", "isinf", "isfinite", "signbit"}


class Lowering:
    """Lower one method of a mechanism into a scalar kernel (see module docstring)."""

    def __init__(self, spec, method, plan, kernel_name):
        self.spec, self.method, self.plan = spec, method, plan
        self.kernel_name = kernel_name
        self.counter = 0
        self.body: list[ast.stmt] = []
        self.fields: dict[str, Obj] = {}        # field -> its object now
        self.field_params: dict[str, str] = {}  # field -> kernel parameter
        self.written: set[str] = set()
        self.uniform_reads: dict[tuple, str] = {}   # (field, index) -> parameter
        self.namespace: dict[str, object] = {}      # globals of the generated module
        self.global_ids: dict[int, str] = {}
        self.stack: list[object] = []               # functions being inlined (recursion check)
        self.where_file = ""
        self.instance_loop = None                   # name of the loop index inside `for k in range(pp.width)`
        self.mask_context = None                    # the mask of the masked assignment being evaluated
        self.branch_depth = 0                       # inside an if's branches
        self.code_for = None                        # message key -> status code (see generate._Messages)
        self.raises = False                         # some path sets the status (a raise)
        self.records = False                        # a computed raise message: takes the raise record
        self.formats_index = False                  # ... that formats the loop index: takes it
        self.raise_groups = 0                       # raises so far, in Python's order (see set_status)
        self.loop_group = 0                         # the group of the loop over instances being lowered
        self.short_circuit = 0                      # inside an 'and'/'or' operand after the first

    # -- naming and errors --------------------------------------------------------
    def fresh(self, hint="t"):
        self.counter += 1
        hint = "".join(c if c.isalnum() else "_" for c in str(hint))[:24]
        return f"{PREFIX}{self.counter}_{hint}"

    def fail(self, node, text):
        line = getattr(node, "lineno", None)
        where = f"{self.where_file}:{line}" if line and self.where_file else ""
        code = getattr(self.method.function, "__code__", None)
        own_file = code is not None and code.co_filename == self.where_file
        raise CannotCompile(f"{text}{f' ({where})' if where else ''}", method=self.method.name,
                            lineno=line if own_file else None)

    def emit(self, statement):
        self.body.append(statement)

    def assign(self, var, node):
        self.emit(ast.Assign([_store(var)], node))

    def add_global(self, value, hint):
        key = id(value)
        if key not in self.global_ids:
            name = self.fresh("g_" + hint)
            self.global_ids[key] = name
            self.namespace[name] = value
        return self.global_ids[key]

    def runtime(self, name):
        """The generated module's name of a runtime helper (see generate._runtime_globals)."""
        return PREFIX + name

    # -- entry point ----------------------------------------------------------------
    def lower(self):
        method = self.method
        function = method.function
        tree = OpenErrstate(function_namespace(function), method.access.tree).visit(copy.deepcopy(method.access.tree))
        self._locate(function)
        if tree.decorator_list:
            self.fail(tree, f"{method.name} is decorated: the compiler cannot see what the decorator does")
        args = tree.args
        if args.vararg or args.kwarg or args.kwonlyargs:
            self.fail(tree, f"{method.name} takes *args, **kwargs or keyword-only arguments")
        names = [a.arg for a in args.posonlyargs + args.args]
        if len(names) < 2:
            self.fail(tree, f"{method.name} must take (self, pp)")
        env = {names[0]: Ref(SelfRef(self.spec.cls)), names[1]: Ref("pp")}
        defaults = function.__defaults__ or ()
        for name, value in zip(names[len(names) - len(defaults):], defaults):
            if name in names[2:]:
                env[name] = self.classify_default(value, name, tree)   # Arbor never passes them
        self.block(tree.body, env, top=True)
        outputs = sorted(self.written)
        returns = ast.Tuple([_name(self.fields[name].var) for name in outputs], ast.Load())
        if self.raises:    # (status, outputs...): the entry reports the largest status
            self.body.insert(0, ast.Assign([_store(PREFIX + "status")], ast.Constant(0)))
            returns.elts.insert(0, _name(PREFIX + "status"))
        self.emit(ast.Return(returns))
        params = sorted(self.field_params)
        uniform = sorted(self.uniform_reads.items(), key=lambda item: item[1])
        arguments = [self.field_params[name] for name in params] + [p for _, p in uniform]
        arguments += [PREFIX + "rec"] * self.records + [PREFIX + "k"] * self.formats_index
        function_def = ast.FunctionDef(
            name=self.kernel_name,
            args=ast.arguments(posonlyargs=[], args=[ast.arg(a) for a in arguments], vararg=None,
                               kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
            body=self.body, decorator_list=[], returns=None, type_params=[])
        ast.fix_missing_locations(function_def)
        function_def = _Arithmetic().visit(function_def)
        function_def = _BoundedExp().visit(function_def)
        ast.fix_missing_locations(function_def)
        # init_mechanism runs once: a prelude would only add code to compile
        prelude = None if method.name == "init_mechanism" else \
            hoist.split(function_def, {name: self.field_params[name] for name in params})
        if prelude is not None and not prelude.kernel_reads_field:
            params = [name for name in params if name != prelude.field]
        return LoweredKernel(self.kernel_name, ast.unparse(function_def), params, outputs,
                             [(f, i, p) for (f, i), p in uniform], dict(self.namespace), self.raises,
                             prelude, self.records, self.formats_index)

    def _locate(self, function):
        """Messages name ``function``'s file (the trees' line numbers are the file's)."""
        code = getattr(function, "__code__", None)
        self.where_file = code.co_filename if code else ""

    # -- fields ----------------------------------------------------------------------
    def field_obj(self, name, node):
        plan = self.plan.get(name)
        if plan is None:
            self.fail(node, f"pp.{name} is not a field here")
        if name in self.fields:
            return self.fields[name]
        if plan.index is Index.DETECTORS:
            self.fail(node, f"pp.{name} is not element-wise")
        if plan.role == "ppack":
            self.fail(node, "pp.raw is available with the python backend only")
        if plan.index is Index.INSTANCE and plan.table is None and plan.array is not None:
            self.fail(node, f"pp.{name} is one of Arbor's index arrays, not an element-wise value")
        param = PREFIX + "f_" + name
        self.field_params[name] = param
        uniform = not plan.per_instance
        obj = Obj(param, inst=not uniform, array=not uniform, field=name,
                  readonly=plan.write is None, py=uniform)     # the python backend: float(...), int
        self.fields[name] = obj
        return obj

    # -- statements ----------------------------------------------------------------
    def block(self, statements, env, top=False):
        for index, statement in enumerate(statements):
            last = index == len(statements) - 1
            if isinstance(statement, ast.Return):
                if not (top and last):
                    self.fail(statement, "a return before the end of the method")
                if statement.value is not None:
                    self.fail(statement, "the method returns a value (Arbor ignores it)")
                continue
            if self.statement(statement, env):
                break           # after a raise: dead code

    def statement(self, node, env):
        if isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant):
                return   # a docstring or a bare constant
            if isinstance(node.value, ast.Call):
                value = self.call(node.value, env, statement=True)
                return
            self.fail(node, "an expression statement with no effect the compiler understands")
        if isinstance(node, ast.Pass):
            return
        if isinstance(node, ast.Assign):
            mask = self.store_mask(node.targets[0], env) if len(node.targets) == 1 else None
            self.mask_context = mask
            try:
                if isinstance(node.value, ast.GeneratorExp) \
                        and all(isinstance(t, (ast.Tuple, ast.List)) for t in node.targets):
                    value = Tup(self.comprehension_items(node.value, env))   # a, b = (... for ...)
                else:
                    value = self.expr(node.value, env)
            finally:
                self.mask_context = None
            if len(node.targets) > 1 and not isinstance(value, (Obj, Tup, Const)):
                value = self.materialise(value, "chain")
            for target in node.targets:
                self.bind(target, value, env, node)
            return
        if isinstance(node, ast.AnnAssign):
            if node.value is None:
                return
            self.bind(node.target, self.expr(node.value, env), env, node)
            return
        if isinstance(node, ast.AugAssign):
            self.augassign(node, env)
            return
        if isinstance(node, ast.If):
            self.if_statement(node, env)
            return
        if isinstance(node, ast.For):
            self.for_statement(node, env)
            return
        if isinstance(node, ast.Raise):
            self.raise_statement(node, env)
            return True
        if isinstance(node, ast.Assert):
            self.assert_statement(node, env)
            return
        if isinstance(node, ast.Delete):
            for target in node.targets:
                if not (isinstance(target, ast.Name) and target.id in env
                        and env[target.id] not in (_DELETED, _MAYBE_UNBOUND, _LOOP_INDEX)):
                    self.fail(node, "del of something other than a local name bound here")
                env[target.id] = _DELETED
            return
        self.fail(node, f"{type(node).__name__} statements are not element-wise code")

    def assert_statement(self, node, env):
        """``assert test, "text"`` as ``if not test: raise AssertionError("text")``; with
        ``np.all(c)`` or ``c.all()`` as the test, checked instance by instance. Skipped
        when Python runs with -O, as Python then skips it."""
        if sys.flags.optimize:
            return
        exc = ast.Call(ast.Name("AssertionError", ast.Load()), [node.msg] if node.msg is not None else [], [])
        raise_node = ast.fix_missing_locations(ast.copy_location(ast.Raise(exc=exc, cause=None), node))
        every = self._all_argument(node.test)
        if every is not None:
            cond = self.expr(every, env)
            saved, self.body = self.body, []
            self.raise_statement(raise_node, env)
            self.body, body = saved, self.body
            self.emit(ast.If(ast.UnaryOp(ast.Not(), self.bool_node(cond, node.test)), body, []))
            return
        test = ast.copy_location(ast.UnaryOp(ast.Not(), node.test), node.test)
        self.if_statement(ast.fix_missing_locations(ast.copy_location(ast.If(test, [raise_node], []), node)), env)

    def _all_argument(self, test):
        """The argument of ``np.all(x)`` / ``x.all()``, else None."""
        if not (isinstance(test, ast.Call) and not test.keywords and isinstance(test.func, ast.Attribute)
                and test.func.attr == "all"):
            return None
        if len(test.args) == 1 and isinstance(test.func.value, ast.Name) and test.func.value.id != "self":
            owner = self.lookup(test.func.value.id, {}, test)
            return test.args[0] if isinstance(owner, Ref) and owner.value is np else None
        return test.func.value if not test.args else None

    def raise_statement(self, node, env):
        """``raise E("text")``: the kernel sets a status code; the shim then raises
        E's name and text (with the file and line) from sim.run(), as the python backend
        raises E. Code after it still runs for this instance (the run fails anyway)."""
        if node.exc is None or node.cause is not None or self.code_for is None:
            self.fail(node, "a bare raise or raise ... from ...")
        exc = node.exc
        func, args = (exc.func, exc.args) if isinstance(exc, ast.Call) else (exc, [])
        if isinstance(exc, ast.Call) and exc.keywords:
            self.fail(node, "raise with keyword arguments")
        cls = self.expr(func, env)
        if not (isinstance(cls, Ref) and isinstance(cls.value, type) and issubclass(cls.value, BaseException)):
            self.fail(node, "raise of something that is not an exception class")
        place = f"{self.where_file}:{node.lineno}"
        try:
            values = [self.expr(a, env, probe=True) for a in args]
        except CannotCompile:       # an f-string, say
            values = None
        if values is None or not all(isinstance(v, Const) for v in values):
            self.computed_raise(node, cls.value, args, place, env)
            return
        message = raise_message(cls.value, [v.value for v in values], place)
        if message is None:
            self.fail(node, "raise of an exception that cannot be made with these arguments")
        self.raises = True
        self.emit(self.set_status(self.code_for("raise:" + message)))

    def computed_raise(self, node, cls, args, place, env):
        """``raise E(f"v = {v:.1f}")``: the numbers the message formats go to the raise
        record (in the entry's second call for the instance that failed, see
        entry_scalar), and the formatter makes the text in Python (messages.py)."""
        def is_builtin(name):
            return self.lookup(name, env, node) == Ref(getattr(builtins, name))
        try:
            splitter = messages.split(cls, args, is_builtin)
        except messages.NotAMessage as why:
            self.fail(node, f"raise with a message the compiled code cannot make ({why})")
        fixed, recorded, python = {}, [], []
        saved, self.body = self.body, []
        for j, leaf in enumerate(splitter.leaves):
            if isinstance(leaf, ast.Name) and self.lookup(leaf.id, env, leaf) is _LOOP_INDEX:
                self.formats_index = True
                recorded.append(_name(PREFIX + "k"))
                python.append(True)
                continue
            value = self.expr(leaf, env)
            if isinstance(value, Const):
                if not isinstance(value.value, (str, int, float, bool, type(None))):
                    self.fail(leaf, f"a message formats {type(value.value).__name__} {value.value!r}")
                fixed[j] = value.value
                continue
            if not isinstance(value, (Expr, Obj)):
                self.fail(leaf, "a message formats something that is not a number")
            if value.array:
                self.fail(leaf, "a message formats a whole per-instance array (the python backend "
                                "prints every instance's value): format one instance's, x[i] in a "
                                "loop over instances")
            if value.py is None and splitter.uses_repr:
                self.fail(leaf, "repr() of a number that is Python's on one path and numpy's on "
                                "another (they print differently)")
            node_of = value.node if isinstance(value, Expr) else _name(value.var)
            recorded.append(node_of)
            python.append(bool(value.py))
        if len(recorded) > contract.RAISE_VALUES:
            self.fail(node, f"a message formats more than {contract.RAISE_VALUES} numbers")
        computing, self.body = self.body, saved
        template = messages.Template(cls, splitter.source, place, tuple(sorted(fixed.items())),
                                     tuple(python))
        record = _name(PREFIX + "rec")
        self.raises = self.records = True
        guard = ast.If(ast.Compare(record, [ast.NotEq()], [ast.Constant(0)]),
                       computing + messages.record_statements(record, recorded), [])
        self.emit(self.set_status(self.code_for(template), [guard]))

    def next_raise_group(self):
        self.raise_groups += 1
        return self.raise_groups

    def set_status(self, code, then=()):
        """``if status == 0: status = <code, in Python's order>`` and ``then``.

        Python stops at the first raise; the kernel runs on, so the first one of an
        instance is kept (status 0 before it). Among instances, the entry keeps the
        largest status: the group of the raise, in Python's order, above the code.
        A raise outside the loop over instances is a group of its own (Python checks
        every instance there before the next statement); all raises of a loop over
        instances are one group, where the entry keeps the first instance's."""
        group = self.loop_group if self.instance_loop is not None else self.next_raise_group()
        if group >= MAX_RAISE_GROUPS:
            raise CannotCompile("too many raise statements")
        value = ((MAX_RAISE_GROUPS - group) << RAISE_GROUP_SHIFT) | code
        status = PREFIX + "status"
        return ast.If(ast.Compare(_name(status), [ast.Eq()], [ast.Constant(0)]),
                      [ast.Assign([_store(status)], ast.Constant(value)), *then], [])

    def bind(self, target, value, env, node):
        """Python's assignment ``target = value``."""
        if isinstance(target, ast.Name):
            env[target.id] = self.hold(value, target.id)
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            items = self.unpack(value, len(target.elts), target)
            starred = [i for i, t in enumerate(target.elts) if isinstance(t, ast.Starred)]
            if starred:
                self.fail(target, "starred assignment targets")
            for element, item in zip(target.elts, items):
                self.bind(element, item, env, node)
            return
        if isinstance(target, ast.Attribute):
            owner = target.value
            if isinstance(owner, ast.Name) and isinstance(env.get(owner.id), Ref) and env[owner.id].value == "pp":
                self.write_field(target.attr, value, target)
                return
            self.fail(target, "assigns an attribute (only pp.<field> can be assigned)")
        if isinstance(target, ast.Subscript):
            self.subscript_store(target, value, env)
            return
        self.fail(target, f"cannot assign to {type(target).__name__}")

    def hold(self, value, hint):
        """What a name bound to ``value`` refers to (objects are shared, not copied)."""
        if isinstance(value, (Obj, Tup, Func, Const, Ref, Dict)):
            return value
        if isinstance(value, Expr):
            return self.materialise(value, hint)
        raise AssertionError(value)

    def materialise(self, value, hint):
        if isinstance(value, Expr):
            var = self.fresh(hint)
            self.assign(var, value.node)
            return Obj(var, value.inst, value.array, value.boolean, py=value.py)
        return value

    def unpack(self, value, count, node):
        if isinstance(value, Tup):
            items = value.items
        elif isinstance(value, Const) and isinstance(value.value, (tuple, list)):
            items = [Const(v) for v in value.value]
        else:
            self.fail(node, "unpacks a value that is not a tuple the compiler can see")
        if len(items) != count:
            self.fail(node, f"unpacks {len(items)} values into {count} names")
        return items

    def write_field(self, name, value, node):
        """``pp.<name> = value`` with the python backend's meaning."""
        plan = self.plan.get(name)
        if plan is None:
            self.fail(node, f"pp.{name} is not a field here")
        if plan.write is None:
            self.fail(node, f"pp.{name} is read-only here")
        current = self.field_obj(name, node)
        if isinstance(value, (Tup, Func, Ref)) or (isinstance(value, Const) and not _is_number(value.value)):
            self.fail(node, f"assigns pp.{name} something that is not a number or an array of numbers")
        expr = self.value_node(value, node)
        self.written.add(name)
        if plan.write == "buffer" and isinstance(value, Obj) and value.array and value.inst \
                and value.field is None and not value.boolean:
            # A fresh array is bound to a current without a copy: later
            # in-place updates of that array change the current too.
            self.fields[name] = Obj(value.var, True, True, False, name, False)
            return
        if isinstance(value, (Obj, Expr)) and value.boolean:
            expr = _float_of_bool(expr)
        self.assign(current.var, expr)

    def value_node(self, value, node):
        if isinstance(value, Obj):
            return _name(value.var)
        if isinstance(value, Expr):
            return value.node
        if isinstance(value, Const):
            if not _is_number(value.value):
                self.fail(node, f"uses {value.value!r} where a number is needed")
            return _const_node(value.value)
        self.fail(node, "uses a function, module or tuple where a number is needed")

    def info(self, value):
        """(per instance, array, boolean) of a numeric value."""
        if isinstance(value, (Obj, Expr)):
            return value.inst, value.array, value.boolean
        if isinstance(value, Const):
            return False, False, isinstance(value.value, (bool, np.bool_))
        return False, False, False

    @staticmethod
    def is_py(value):
        """Whether the python backend has ``value`` as a Python bool, int or float (a
        literal, ``float(...)``, ``math.*``, ``pp.dt``, a comparison of such), not as
        numpy's (``pp.v``, ``pp.v[k]``, ``pp.t[0]``): their arithmetic on booleans differs."""
        if isinstance(value, Const):
            return type(value.value) in (bool, int, float)
        return isinstance(value, (Obj, Expr)) and value.py is True

    def py_of(self, values):
        """The ``py`` of a value that is one of ``values`` at run time (a merge, ``x if c
        else y``, ``a or b``, ``max(a, b)``): True or False where all agree, else None
        (a Python bool on one path and numpy's on another)."""
        flags = {None if isinstance(v, (Obj, Expr)) and v.py is None else self.is_py(v) for v in values}
        return flags.pop() if len(flags) == 1 else None

    def mutate(self, obj, node, new_value_node, how):
        """Update ``obj`` in place (numpy's ``x[...] = ``, ``x += ``, ``out=``)."""
        if not isinstance(obj, Obj) or not obj.array:
            self.fail(node, f"{how} on a value that is not an array")
        if obj.readonly:
            self.fail(node, f"{how} writes pp.{obj.field}, which is read-only here")
        if obj.alias_of:
            self.fail(node, f"{how} through '{obj.alias_of}', which names different arrays "
                            "depending on a branch")
        if obj.field is not None:
            plan = self.plan[obj.field]
            direct = getattr(node, "_pc_direct", False)
            if not direct and plan.write not in (Write.INPLACE, Write.BUFFER):
                self.fail(node, f"{how} writes pp.{obj.field} through another name: assign "
                                f"pp.{obj.field} directly (its writes are scattered back to Arbor)")
            if not direct and plan.write is Write.BUFFER and not self._written_directly(obj.field):
                self.fail(node, f"{how} writes pp.{obj.field} through another name: assign "
                                f"pp.{obj.field} directly")
            self.written.add(obj.field)
        self.assign(obj.var, new_value_node)

    def _written_directly(self, name):
        return name in self.method.access.writes

    def store_mask(self, target, env):
        """The mask of ``x[mask] = ...`` (None for other targets)."""
        if isinstance(target, ast.Subscript) and self.index_kind(target.slice, env) == "mask":
            return self.expr(target.slice, env)
        return None

    def augassign(self, node, env):
        target = node.target
        if isinstance(target, ast.Subscript) and self.store_mask(target, env) is not None:
            value = None     # evaluated under the mask below
        else:
            value = self.expr(node.value, env)
        if isinstance(target, ast.Name):
            current = self.lookup(target.id, env, target)
            if isinstance(current, Obj) and current.array:
                new = self.binop(node.op, current, value, node)
                if current.boolean and not self.info(new)[2]:
                    self.fail(node, f"'{target.id} {_op_text(node.op)}=' puts numbers into a boolean "
                                    "array (numpy raises: it cannot cast them in place)")
                self.mutate(current, node, self.value_node(new, node), f"'{target.id} {_op_text(node.op)}='")
                return
            new = self.binop(node.op, current, value, node)
            env[target.id] = self.materialise(new, target.id) if isinstance(new, Expr) else new
            return
        if isinstance(target, ast.Attribute):
            obj = self.expr(target, env)
            if isinstance(obj, Obj) and obj.field is not None and obj.array:
                target._pc_direct = True
                node._pc_direct = True
                new = self.binop(node.op, obj, value, node)
                plan = self.plan[obj.field]
                if plan.write is None:
                    self.fail(node, f"pp.{obj.field} is read-only here")
                self.write_field(obj.field, new, node)
                return
            if isinstance(obj, Obj) and obj.field is not None:
                self.fail(node, f"pp.{obj.field} is read-only here")
            self.fail(node, "augmented assignment to an attribute")
        if isinstance(target, ast.Subscript):
            self.mask_context = self.store_mask(target, env)
            try:
                current = self.expr(target, env)
                value = self.expr(node.value, env)
            finally:
                self.mask_context = None
            new = self.binop(node.op, current, value, node)
            container = self.expr(target.value, env)
            if isinstance(container, Dict) and isinstance(current, Obj) and current.array:
                # d["m"] *= 2 with an array in d: Python updates that array in place
                self.mutate(current, node, self.value_node(new, node), f"'{_op_text(node.op)}=' on a dict item")
                return
            if isinstance(container, Tup):
                self.sequence_item_update(container, target, current, new, env, node)
                return
            self.subscript_store(target, new, env, node)
            return
        self.fail(node, "augmented assignment target")

    def sequence_item_update(self, container, target, current, new, env, node):
        """``items[i] += x`` on a list or tuple: Python updates an array item in place
        (and then rebinds the slot, which a tuple refuses with TypeError); a number
        item of a list is rebound to the new value."""
        index = self.expr(target.slice, env)
        if not (isinstance(index, Const) and isinstance(index.value, int)
                and -len(container.items) <= index.value < len(container.items)):
            self.fail(node, "an augmented assignment to an item of a list at an index that is not a "
                            "constant in range")
        if not container.mutable:
            self.fail(node, f"'{_op_text(node.op)}=' on a tuple item (Python raises TypeError: a tuple's "
                            "items cannot be assigned)")
        if isinstance(current, Obj) and current.array:
            self.mutate(current, node, self.value_node(new, node), f"'{_op_text(node.op)}=' on a list item")
            return
        if self.branch_depth:
            self.fail(node, "rebinds an item of a list inside an if")
        container.items[index.value] = self.hold(new, "item") if isinstance(new, Expr) else new

    def lookup(self, name, env, node):
        if name in env:
            value = env[name]
            if value is _LOOP_LOCAL:
                self.fail(node, f"uses '{name}' after the loop over instances, where it holds the "
                                "last instance's value (not element-wise)")
            return value
        return self.global_value(name, node)

    def subscript_store(self, target, value, env, node=None):
        node = node or target
        obj = self.expr(target.value, env)
        if isinstance(obj, Dict):
            key = self.expr(target.slice, env)
            if obj.frozen:
                self.fail(node, "assigns into a module's or class's dict (it is read when build() runs)")
            if self.branch_depth:
                self.fail(node, "assigns into a dict inside an if")
            if not isinstance(key, Const):
                self.fail(node, "a dict key that is not a constant")
            obj.items[key.value] = self.hold(value, "item") if isinstance(value, Expr) else value
            return
        if isinstance(target.value, ast.Attribute) or self._is_named_field(target.value, env):
            node._pc_direct = True      # pp.x[...] = or getattr(pp, name)[...] =: written directly
        index = target.slice
        kind = self.index_kind(index, env)
        if kind == "all":
            new = self.broadcast(obj, value, node)
            self.mutate(obj, node, new, "x[:] =")
            return
        if kind == "instance":
            if not isinstance(obj, Obj) or not obj.inst:
                self.fail(node, "indexes a value that is not per instance with the loop index")
            self.mutate_element(obj, value, node)
            return
        if kind == "mask":
            mask = self.expr(index, env)
            if not isinstance(obj, Obj) or not obj.inst:
                self.fail(node, "a masked assignment to a value that is not per instance")
            self.mutate(obj, node, self.select_node(mask, value, obj, node), "x[mask] =")
            return
        self.fail(node, "an assignment to part of an array (only x[:] = ..., x[mask] = ... "
                        "and x[k] in a loop over instances are element-wise)")

    def mutate_element(self, obj, value, node):
        if obj.readonly:
            self.fail(node, f"writes pp.{obj.field}, which is read-only here")
        if obj.field is not None:
            plan = self.plan[obj.field]
            if not getattr(node, "_pc_direct", False) and plan.write is not Write.INPLACE:
                self.fail(node, f"writes pp.{obj.field} through another name: write pp.{obj.field}[k] directly")
            self.written.add(obj.field)
        self.assign(obj.var, self.stored(obj, value, node))

    def broadcast(self, obj, value, node):
        inst, array, boolean = self.info(value)
        if isinstance(obj, Obj) and not obj.inst and inst:
            self.fail(node, "assigns per-instance values into a uniform array")
        return self.stored(obj, value, node)

    def stored(self, obj, value, node):
        """``value`` as the array ``obj`` holds it, with numpy's casts: a boolean into a
        number array is 1.0 or 0.0, a number into a boolean array ``!= 0``."""
        expr = self.value_node(value, node)
        if not isinstance(obj, Obj):
            return expr
        boolean = self.info(value)[2]
        if boolean and not obj.boolean:
            return _float_of_bool(expr)
        if obj.boolean and not boolean:
            return _bool_of_number(expr)
        return expr

    def select_node(self, mask, value, otherwise, node):
        cond = self.value_node(mask, node)
        a = self.stored(otherwise, value, node)
        b = self.value_node(otherwise, node)
        return self.select(cond, a, b)

    def select(self, cond, a, b):
        """``a if cond else b`` with both sides computed first (a branch-free select)."""
        va, vb = self.fresh("a"), self.fresh("b")
        self.assign(va, a)
        self.assign(vb, b)
        return ast.IfExp(cond, _name(va), _name(vb))

    def index_kind(self, index, env):
        if isinstance(index, ast.Slice) and index.lower is None and index.upper is None and index.step is None:
            return "all"
        if isinstance(index, ast.Constant) and index.value is Ellipsis:
            return "all"
        if isinstance(index, ast.Name) and self.instance_loop is not None and index.id == self.instance_loop \
                and env.get(index.id) is _LOOP_INDEX:
            return "instance"
        if isinstance(index, ast.Constant) or (isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub)
                                               and isinstance(index.operand, ast.Constant)):
            return "constant"
        if isinstance(index, ast.Tuple):
            return "other"
        try:
            value = self.expr(index, env, probe=True)
        except CannotCompile:
            return "other"
        if isinstance(value, (Obj, Expr)) and value.boolean and value.inst:
            return "mask"
        return "other"

    # -- control flow ---------------------------------------------------------------
    def if_statement(self, node, env):
        any_of = self._any_test(node)
        if any_of is not None:
            # ``if np.any(c): raise ...``: raised if c holds for some instance, so per instance.
            cond = self.expr(any_of, env)
            saved, self.body = self.body, []
            self.raise_statement(node.body[0], env)
            self.body, body = saved, self.body
            self.emit(ast.If(self.bool_node(cond, node.test), body, []))
            return
        cond = self.expr(node.test, env)
        inst, array, boolean = self.info(cond)
        if inst and array:
            self.fail(node.test, "'if' on per-instance values: numpy raises 'the truth value of an "
                                 "array with more than one element is ambiguous'; use np.where")
        if isinstance(cond, Const):   # decided at compile time
            self.block_inline(node.body if cond.value else node.orelse, env)
            return
        test = self.truth(cond, node.test)
        saved = self.body
        envs, bodies = [], []
        self.branch_depth += 1
        for branch in (node.body, node.orelse):
            self.body = []
            branch_env = dict(env)
            fields_before = dict(self.fields)
            self.block_inline(branch, branch_env)
            envs.append((branch_env, dict(self.fields)))
            self.fields = fields_before
            bodies.append(self.body)
        self.branch_depth -= 1
        self.body = saved
        # Names (and current fields) bound to different objects in the two branches
        # get one merged variable.
        merged_env = {}
        names = set(envs[0][0]) | set(envs[1][0])
        tails = ([], [])
        for name in sorted(names):
            a, b = envs[0][0].get(name, _UNBOUND), envs[1][0].get(name, _UNBOUND)
            if a is b:
                merged_env[name] = a
                continue
            if a in (_UNBOUND, _DELETED) or b in (_UNBOUND, _DELETED):
                merged_env[name] = _MAYBE_UNBOUND
                continue
            merged_env[name] = self.merge(a, b, name, tails, node, before=env)
        fields = {}
        for name in set(envs[0][1]) | set(envs[1][1]):
            a, b = envs[0][1].get(name), envs[1][1].get(name)
            if a is b:
                fields[name] = a
            elif a is None or b is None:
                fields[name] = a or b
            else:
                fields[name] = self.merge(a, b, "pp_" + name, tails, node, field=name)
        self.fields = fields
        env.clear()
        env.update(merged_env)
        self.emit(ast.If(test, bodies[0] + tails[0] or [ast.Pass()], bodies[1] + tails[1] or []))

    def _any_test(self, node):
        """The argument of ``if np.any(x): raise ...`` / ``if x.any(): raise ...``, else None."""
        if node.orelse or len(node.body) != 1 or not isinstance(node.body[0], ast.Raise):
            return None
        test = node.test
        if not (isinstance(test, ast.Call) and not test.keywords and isinstance(test.func, ast.Attribute)
                and test.func.attr == "any"):
            return None
        if len(test.args) == 1 and isinstance(test.func.value, ast.Name):
            owner = self.lookup(test.func.value.id, {}, test) if test.func.value.id not in ("self",) else None
            if isinstance(owner, Ref) and owner.value is np:
                return test.args[0]
            return None
        if not test.args:
            return test.func.value
        return None

    def merge(self, a, b, name, tails, node, field=None, before=None):
        if isinstance(a, Const) and _is_number(a.value):
            a = Expr(_const_node(a.value), False, False, isinstance(a.value, (bool, np.bool_)), py=self.is_py(a))
        if isinstance(b, Const) and _is_number(b.value):
            b = Expr(_const_node(b.value), False, False, isinstance(b.value, (bool, np.bool_)), py=self.is_py(b))
        if not isinstance(a, (Obj, Expr)) or not isinstance(b, (Obj, Expr)):
            return _Ambiguous(name)
        var = self.fresh(name)
        tails[0].append(ast.Assign([_store(var)], self.value_node(a, node)))
        tails[1].append(ast.Assign([_store(var)], self.value_node(b, node)))
        ia, aa, ba = self.info(a)
        ib, ab, bb = self.info(b)
        obj = Obj(var, ia or ib, aa and ab, ba and bb, field=field, py=self.py_of([a, b]))
        before = before or {}
        shared = [x for x in (a, b) if isinstance(x, Obj) and x.array
                  and (x.field is not None or any(x is v for v in before.values()))]
        if field is None and shared:
            # In-place updates through the name must not guess which array it meant.
            obj.alias_of = name
        return obj

    def truth(self, cond, node):
        if isinstance(cond, (Obj, Expr)):
            return self.value_node(cond, node)
        if isinstance(cond, Const):
            return ast.Constant(bool(cond.value))
        self.fail(node, "a condition that is not a number")

    def block_inline(self, statements, env):
        for statement in statements:
            if isinstance(statement, ast.Return):
                self.fail(statement, "a return inside a branch of the method")
            if self.statement(statement, env):
                break           # after a raise: dead code

    def for_statement(self, node, env):
        if node.orelse:
            self.fail(node, "for ... else")
        iterable = node.iter
        if self._is_instance_range(iterable, env):
            self.instance_for(node, env)
            return
        items = self.iteration_items(iterable, env, node)
        for item in items:
            self.bind(node.target, item, env, node)
            for statement in node.body:
                if isinstance(statement, (ast.Break, ast.Continue)):
                    self.fail(statement, "break/continue in a loop")
                if isinstance(statement, ast.Return):
                    self.fail(statement, "a return inside a loop")
                if self.statement(statement, env):
                    break

    def iteration_items(self, iterable, env, node):
        """The values a loop (or a comprehension) over ``iterable`` binds, in order:
        a constant range, a tuple or list (of fields, numbers, functions...), a
        dict's keys, a generator expression or a list comprehension."""
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) \
                and iterable.func.id == "range" and self.lookup("range", env, iterable) == Ref(range):
            bounds = [self.expr(a, env) for a in iterable.args]
            if not all(isinstance(b, Const) and isinstance(b.value, int) for b in bounds) or iterable.keywords:
                self.fail(node, "a loop over a range that is not a constant (only constant ranges and "
                                "range(pp.width) are element-wise)")
            items = [Const(i) for i in range(*[b.value for b in bounds])]
        elif isinstance(iterable, (ast.GeneratorExp, ast.ListComp)):
            items = self.comprehension_items(iterable, env)
        else:
            items = self.sequence_items(self.expr(iterable, env), node)
        if len(items) > _MAX_UNROLL:
            self.fail(node, f"a loop of more than {_MAX_UNROLL} iterations")
        return items

    def sequence_items(self, value, node):
        """The items of a tuple or list the compiler sees (a dict: its keys)."""
        if isinstance(value, Tup):
            return list(value.items)
        if isinstance(value, Const) and isinstance(value.value, (tuple, list)):
            return [Const(v) for v in value.value]
        if isinstance(value, Dict):
            return [Const(k) for k in value.items]
        self.fail(node, "a loop over something that is not a tuple, a list, a dict or a range")

    def comprehension_items(self, node, env):
        """The elements of a list comprehension or generator expression over
        constant iterables, unrolled (each in a scope of its own, as Python's)."""
        if isinstance(node, (ast.SetComp, ast.DictComp)):
            self.fail(node, "a set or dict comprehension")
        results = []

        def generate(generators, scope):
            if not generators:
                value = self.expr(node.elt, scope)
                results.append(self.hold(value, "item") if isinstance(value, Expr) else value)
                return
            first = generators[0]
            if first.is_async:
                self.fail(node, "an async comprehension")
            for item in self.iteration_items(first.iter, scope, node):
                inner = dict(scope)
                self.bind(first.target, item, inner, node)
                keep = True
                for condition in first.ifs:
                    test = self.expr(condition, inner)
                    if not isinstance(test, Const):
                        self.fail(condition, "a condition in a comprehension that is not a constant "
                                             "(use np.where for per-instance choices)")
                    keep = keep and bool(test.value)
                if keep:
                    generate(generators[1:], inner)
        generate(node.generators, env)
        return results

    def expr_ListComp(self, node, env):
        return Tup(self.comprehension_items(node, env), mutable=True)

    def expr_GeneratorExp(self, node, env):
        self.fail(node, "a generator expression other than unpacked (a, b = (... for ...)), looped "
                        "over, passed as *args or to tuple(), list() or sum()")

    def _is_named_field(self, node, env):
        """``node`` is a call of the builtin getattr on pp (:meth:`named_access` has
        already checked the rest, when the subscript's owner was evaluated)."""
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and bool(node.args) \
            and self.lookup(node.func.id, env, node) == Ref(getattr) \
            and isinstance(node.args[0], ast.Name) and env.get(node.args[0].id) == Ref("pp")

    def _is_instance_range(self, iterable, env):
        if not (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name)
                and iterable.func.id == "range" and not iterable.keywords):
            return False
        args = iterable.args
        if len(args) == 2 and isinstance(args[0], ast.Constant) and args[0].value == 0:
            args = args[1:]
        if len(args) != 1:
            return False
        return self._is_width(args[0], env)

    def _is_width(self, node, env):
        if isinstance(node, ast.Attribute) and node.attr == "width" and isinstance(node.value, ast.Name) \
                and isinstance(env.get(node.value.id), Ref) and env[node.value.id].value == "pp":
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len" \
                and len(node.args) == 1 and not node.keywords:
            try:
                value = self.expr(node.args[0], env, probe=True)
            except CannotCompile:
                return False
            return isinstance(value, Obj) and value.inst and value.array
        return False

    def instance_for(self, node, env):
        if self.instance_loop is not None:
            self.fail(node, "a loop over instances inside another")
        if not isinstance(node.target, ast.Name):
            self.fail(node, "the loop over instances must bind one name")
        index = node.target.id
        before = dict(env)
        self.loop_group = self.next_raise_group()   # its raises: the first instance's first
        self.instance_loop = index
        env[index] = _LOOP_INDEX
        for statement in node.body:
            if isinstance(statement, (ast.Break, ast.Continue, ast.Return)):
                self.fail(statement, f"{type(statement).__name__.lower()} in the loop over instances")
            if self.statement(statement, env):
                break
        self.instance_loop = None
        for name in list(env):
            if name not in before:
                env[name] = _LOOP_LOCAL
            elif env[name] is not before[name]:
                self.fail(node, f"the loop over instances rebinds '{name}', defined before it "
                                "(a value carried from one instance to the next is not element-wise)")

    # -- expressions -----------------------------------------------------------------
    def expr(self, node, env, probe=False):
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            self.fail(node, f"{type(node).__name__} expressions are not element-wise code")
        if probe:
            saved = len(self.body), self.counter
            try:
                return method(node, env)
            finally:
                del self.body[saved[0]:]
        return method(node, env)

    def expr_Constant(self, node, env):
        if isinstance(node.value, (bool, int, float)) or node.value is None or isinstance(node.value, str):
            return Const(node.value)
        self.fail(node, f"the constant {node.value!r}")

    def expr_Name(self, node, env):
        value = self.lookup(node.id, env, node)
        if value is _LOOP_INDEX:
            self.fail(node, f"uses the instance index '{node.id}' other than as x[{node.id}]")
        if value is _MAYBE_UNBOUND:
            self.fail(node, f"'{node.id}' is assigned in one branch of an if only")
        if value is _DELETED:
            self.fail(node, f"uses '{node.id}' after 'del {node.id}' (Python raises NameError)")
        if isinstance(value, _Ambiguous):
            self.fail(node, f"'{node.id}' is bound to different kinds of values in the branches of an if")
        return value

    def global_value(self, name, node):
        namespace = self.current_namespace()
        if name in namespace:
            value = namespace[name]
        elif hasattr(builtins, name):
            value = getattr(builtins, name)
        else:
            self.fail(node, f"the name {name!r} is not defined")
        return self.classify(value, name, node)

    def classify(self, value, name, node):
        if _is_number(value):
            return Const(value)
        if isinstance(value, (tuple, list)) and all(_is_number(v) for v in value):
            return Const(tuple(value))
        if isinstance(value, tuple):      # of functions, strings, tuples...: each item as itself
            return Tup([self.classify(v, name, node) for v in value])
        if isinstance(value, str) or value is None:
            return Const(value)
        if isinstance(value, dict) and all(isinstance(k, (str, int)) for k in value):
            return Dict({k: self.classify(v, name, node) for k, v in value.items()}, frozen=True)
        if isinstance(value, types.FunctionType):
            if getattr(value, "__module__", "") and value.__module__.startswith(("numpy", "math")):
                return Ref(value)
            if value in (exprelr, cnexp, cnexp_linear):
                return Ref(value)
            return Func(value, where=name)
        if isinstance(value, (staticmethod, classmethod)):
            return self.classify(value.__func__, name, node)
        return Ref(value)

    def current_namespace(self):
        return self._namespace_stack[-1]

    def expr_Attribute(self, node, env):
        owner = self.expr(node.value, env)
        attr = node.attr
        if isinstance(owner, Ref):
            target = owner.value
            if target == "pp":
                return self.field_obj(attr, node)
            if isinstance(target, SelfRef):
                return self.class_attribute(target.cls, attr, node)
            if isinstance(target, SuperRef):
                return self.class_attribute(target.cls, attr, node, after=target.owner)
            if isinstance(target, types.ModuleType):
                if not hasattr(target, attr):
                    self.fail(node, f"module {target.__name__} has no attribute {attr!r}")
                return self.classify(getattr(target, attr), attr, node)
            if isinstance(target, type):        # Base.rate(self, v): not bound to an instance
                return self.class_attribute(target, attr, node, instance=False)
        if isinstance(owner, Obj) and owner.field is not None and attr in ("shape", "size", "ndim"):
            self.fail(node, f"uses .{attr} (not element-wise)")
        if isinstance(owner, (Obj, Expr)) and attr in ("real",):
            return owner
        self.fail(node, f"the attribute .{attr} of a value")

    def class_attribute(self, cls, attr, node, instance=True, after=None):
        """``self.<attr>`` (``instance``), ``Cls.<attr>`` (not), or ``super().<attr>``
        (the classes after ``after`` in the MRO)."""
        try:
            raw = class_attribute(cls, attr, instance=instance and after is None, after=after)
        except AttributeError as why:
            self.fail(node, str(why))
        if isinstance(raw, staticmethod):
            return Func(raw.__func__, where=f"{cls.__qualname__}.{attr}")
        if isinstance(raw, classmethod):
            return Func(raw.__func__, bound=[Ref(SelfRef(cls))], where=f"{cls.__qualname__}.{attr}")
        if isinstance(raw, types.FunctionType):
            bound = [Ref(SelfRef(cls))] if instance else []
            return Func(raw, bound=bound, where=f"{cls.__qualname__}.{attr}")
        if isinstance(raw, property):
            self.fail(node, f"self.{attr} is a property")
        return self.classify(raw, attr, node)

    def expr_Tuple(self, node, env):
        items = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                items += self.unpack_all(self.expr(element.value, env), element)
            else:
                value = self.expr(element, env)
                items.append(self.hold(value, "item") if isinstance(value, Expr) else value)
        return Tup(items)

    def expr_List(self, node, env):
        return Tup(self.expr_Tuple(node, env).items, mutable=True)

    def expr_Dict(self, node, env):
        items = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                self.fail(node, "** in a dict literal")
            k = self.expr(key, env)
            if not isinstance(k, Const) or not isinstance(k.value, (str, int, float, bool)):
                self.fail(key, "a dict key that is not a constant")
            v = self.expr(value, env)
            items[k.value] = self.hold(v, "item") if isinstance(v, Expr) else v
        return Dict(items)

    def dict_item(self, obj, index, node):
        if not isinstance(index, Const) or index.value not in obj.items:
            self.fail(node, f"a dict key the compiler cannot find ({getattr(index, 'value', '?')!r})")
        return obj.items[index.value]

    def dict_method(self, obj, name, args, kwargs, node):
        if name in ("items", "keys", "values") and not args and not kwargs:
            if name == "items":
                return Tup([Tup([Const(k), v]) for k, v in obj.items.items()])
            return Tup([Const(k) for k in obj.items] if name == "keys" else list(obj.items.values()))
        if name == "get" and not kwargs and len(args) in (1, 2):
            if isinstance(args[0], Const) and args[0].value in obj.items:
                return obj.items[args[0].value]
            return args[1] if len(args) == 2 else Const(None)
        self.fail(node, f"the dict method .{name}()")

    def unpack_all(self, value, node):
        if isinstance(value, Tup):
            return list(value.items)
        if isinstance(value, Const) and isinstance(value.value, tuple):
            return [Const(v) for v in value.value]
        self.fail(node, "unpacks with * a value that is not a tuple the compiler can see")

    def expr_BinOp(self, node, env):
        left = self.expr(node.left, env)
        right = self.expr(node.right, env)
        return self.binop(node.op, left, right, node)

    def binop(self, op, left, right, node, float_power=False, ufunc=False):
        """``left op right`` as Python computes it, or as numpy's ufunc does where ``ufunc``
        (np.divide(1.0, 0.0) is inf and np.add(True, True) True, even of Python numbers)."""
        if isinstance(left, Const) and isinstance(right, Const) and _is_number(left.value) \
                and _is_number(right.value):
            try:
                if ufunc:
                    return Const(_apply_ufunc(op, left.value, right.value, float_power))
                return Const(_apply(op, left.value, right.value))
            except (ArithmeticError, ValueError, TypeError):
                pass
        if isinstance(op, ast.MatMult):
            self.fail(node, "matrix products are not element-wise")
        li, la, lb = self.info(left)
        ri, ra, rb = self.info(right)
        a, b = self.value_node(left, node), self.value_node(right, node)
        py = self.is_py(left) and self.is_py(right) and not ufunc
        if (lb or rb) and not ufunc and isinstance(op, _ARITHMETIC) and \
                any(self.py_of([x]) is None for x, bool_ in ((left, lb), (right, rb)) if bool_):
            self.fail(node, _MIXED_BOOL)
        if py and isinstance(op, (ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)):
            a, b = self.zero_division_check(op, left, right, a, b, node)
        if py and (lb or rb) and isinstance(op, (ast.Add, ast.Mult, ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)):
            # Python's bools are the integers 1 and 0 here: True + True is 2
            a, b = (_int_of_bool(a) if lb else a), (_int_of_bool(b) if rb else b)
            return Expr(ast.BinOp(a, op, b), li or ri, False, False, py=True)
        if lb and rb and isinstance(op, (ast.Add, ast.Mult, ast.Sub)):
            # numpy: bool + bool is 'or', bool * bool 'and' (a bool), bool - bool raises;
            # Python's True + True is 2: which one applies depends on what made them
            if not (li or la or ri or ra or ufunc):
                self.fail(node, "arithmetic on two booleans that are not per instance (Python's "
                                "True + True is 2, numpy's is True): convert them with float()")
            if isinstance(op, ast.Sub):
                self.fail(node, "'-' between booleans (numpy raises: use ^ or np.logical_xor)")
            op = ast.BitOr() if isinstance(op, ast.Add) else ast.BitAnd()
        boolean = lb and rb and isinstance(op, (ast.BitAnd, ast.BitOr, ast.BitXor))
        if isinstance(op, (ast.BitAnd, ast.BitOr, ast.BitXor)) and (lb != rb):
            self.fail(node, "a bitwise operation between a boolean and a number")
        if isinstance(op, ast.Pow) and li and la and not (ri or ra) and not float_power and not lb:
            # numpy's array ** scalar takes np.sqrt for an exponent of 0.5 (at run time
            # too), which differs from pow at -0.0 and -inf; np.float_power does not
            root = ast.Call(ast.Attribute(_name(PREFIX + "np"), "sqrt", ast.Load()), [a], [])
            if isinstance(right, Const) and _plain_number(right):
                if float(right.value) == 0.5:
                    return Expr(root, True, True)
            elif not isinstance(right, Const):
                test = ast.Compare(b, [ast.Eq()], [ast.Constant(0.5)])
                return Expr(ast.IfExp(test, root, ast.BinOp(a, op, b)), True, True)
        return Expr(ast.BinOp(a, op, b), li or ri, la or ra, boolean, py=py and not (la or ra))

    def zero_division_check(self, op, left, right, a, b, node):
        """Python raises ZeroDivisionError for ``x / 0``, ``x // 0``, ``x % 0`` and
        ``0.0 ** -1`` of Python numbers (numpy's give inf or nan): the kernel sets the
        status that fails the run with it, as the python backend's run fails.
        Returns the operands' nodes (names, each evaluated once)."""
        if isinstance(op, ast.Pow):
            if isinstance(left, Const) and left.value != 0 or isinstance(right, Const) and right.value >= 0:
                return a, b
        elif isinstance(right, Const) and right.value != 0:
            return a, b
        if self.code_for is None or self.short_circuit:
            self.fail(node, "a division of Python numbers that may be by zero (Python raises "
                            "ZeroDivisionError) in the second operand of 'and'/'or'")
        if isinstance(left, Expr):
            left = self.materialise(left, "dividend")
            a = _name(left.var)
        if isinstance(right, Expr):
            right = self.materialise(right, "divisor")
            b = _name(right.var)
        if isinstance(op, ast.Pow):
            test = ast.BoolOp(ast.And(), [ast.Compare(a, [ast.Eq()], [ast.Constant(0)]),
                                          ast.Compare(b, [ast.Lt()], [ast.Constant(0)])])
            text = "0.0 cannot be raised to a negative power"
        else:
            test = ast.Compare(b, [ast.Eq()], [ast.Constant(0)])
            text = "division by zero" if isinstance(op, ast.Div) else "division or modulo by zero"
        where = f"{self.where_file}:{getattr(node, 'lineno', '?')}"
        code = self.code_for("raise:" + raise_message(ZeroDivisionError, [text], where))
        self.raises = True
        self.emit(ast.If(test, [self.set_status(code)], []))
        return a, b

    def expr_UnaryOp(self, node, env):
        operand = self.expr(node.operand, env)
        if isinstance(operand, Const) and _is_number(operand.value):
            try:
                return Const(_apply_unary(node.op, operand.value))
            except (ArithmeticError, TypeError):
                pass
        inst, array, boolean = self.info(operand)
        value = self.value_node(operand, node)
        py = self.is_py(operand)
        if boolean and self.py_of([operand]) is None and isinstance(node.op, (ast.Invert, ast.USub)):
            self.fail(node, _MIXED_BOOL)
        if boolean and py and not isinstance(node.op, ast.Not):
            # a Python bool is the integer 1 or 0: ~True is -2, -True is -1
            number = _int_of_bool(value)
            if isinstance(node.op, ast.Invert):
                number = ast.BinOp(ast.UnaryOp(ast.USub(), number), ast.Sub(), ast.Constant(1))
            elif isinstance(node.op, ast.USub):
                number = ast.UnaryOp(ast.USub(), number)
            return Expr(number, inst, False, False, py=True)
        if isinstance(node.op, ast.Invert):
            if boolean:
                return Expr(ast.UnaryOp(ast.Not(), value), inst, array, True)
            self.fail(node, "~ on a value that is not boolean")
        if isinstance(node.op, ast.Not):
            if inst and array:
                self.fail(node, "'not' on per-instance values (numpy raises: the truth value of an "
                                "array is ambiguous); use ~ or np.logical_not")
            return Expr(ast.UnaryOp(ast.Not(), value), inst, array, True, py=True)   # Python's bool
        if boolean:
            self.fail(node, f"unary '{'-' if isinstance(node.op, ast.USub) else '+'}' of a boolean (numpy "
                            "raises for boolean arrays, Python gives an integer): use ~ or float(...)")
        return Expr(ast.UnaryOp(node.op, value), inst, array, False, py=py)

    def expr_BoolOp(self, node, env):
        values = [self.expr(node.values[0], env)]
        self.short_circuit += 1         # Python evaluates the others only if needed
        try:
            values += [self.expr(v, env) for v in node.values[1:]]
        finally:
            self.short_circuit -= 1
        for v in values:
            inst, array, _ = self.info(v)
            if inst and array:
                self.fail(node, "'and'/'or' on per-instance values (numpy raises: the truth value "
                                "of an array is ambiguous); use & and | or np.logical_and")
        if not all(self.info(v)[2] for v in values):
            self.fail(node, "'and'/'or' of values that are not booleans (Python returns one of the operands)")
        nodes = [self.value_node(v, node) for v in values]
        inst = any(self.info(v)[0] for v in values)
        return Expr(ast.BoolOp(node.op, nodes), inst, False, True, py=self.py_of(values))

    def expr_Compare(self, node, env):
        operands = [self.expr(node.left, env)] + [self.expr(c, env) for c in node.comparators]
        for op in node.ops:
            if isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
                self.fail(node, f"the comparison {type(op).__name__}")
        if all(isinstance(o, Const) and _is_number(o.value) for o in operands):
            result = all(_compare(op, a.value, b.value) for op, a, b in
                         zip(node.ops, operands, operands[1:]))
            return Const(result)
        inst = any(self.info(o)[0] for o in operands)
        array = any(self.info(o)[1] for o in operands)
        if len(node.ops) > 1 and inst and array:
            self.fail(node, "a chained comparison of arrays (numpy raises: the truth value of an array "
                            "is ambiguous)")
        nodes = [self.value_node(o, node) for o in operands]
        return Expr(ast.Compare(nodes[0], list(node.ops), nodes[1:]), inst, array, True,
                    py=not array and all(self.is_py(o) for o in operands))

    def expr_IfExp(self, node, env):
        cond = self.expr(node.test, env)
        inst, array, _ = self.info(cond)
        if inst and array:
            self.fail(node, "'x if c else y' on per-instance values (numpy raises: the truth value of "
                            "an array is ambiguous); use np.where")
        if isinstance(cond, Const):
            return self.expr(node.body if cond.value else node.orelse, env)
        # Python evaluates one side only: keep the branch (each side may be costly).
        test = self.truth(cond, node)
        saved = self.body
        sides = []
        for branch in (node.body, node.orelse):
            self.body = []
            value = self.expr(branch, env)
            if not isinstance(value, (Obj, Expr, Const)):
                self.fail(branch, "a conditional expression that is not a number")
            sides.append((self.body, value))
            self.body = saved
        var = self.fresh("ifexp")
        (body_a, a), (body_b, b) = sides
        self.emit(ast.If(test, body_a + [ast.Assign([_store(var)], self.value_node(a, node))],
                         body_b + [ast.Assign([_store(var)], self.value_node(b, node))]))
        ia, aa, ba = self.info(a)
        ib, ab, bb = self.info(b)
        obj = Obj(var, ia or ib or inst, aa and ab, ba and bb, py=self.py_of([a, b]))
        if any(isinstance(x, Obj) and x.array for x in (a, b)):
            # Python's result is one of the arrays itself: an in-place update through
            # it must not guess which (as for a name bound in two branches)
            obj.alias_of = "x if c else y"
        return obj

    def expr_Subscript(self, node, env):
        obj = self.expr(node.value, env)
        if isinstance(obj, OneShot):
            self.fail(node, "indexes what zip(), enumerate() or a generator gives (Python raises: "
                            "it is not subscriptable)")
        kind = self.index_kind(node.slice, env)
        if kind == "all":
            return obj
        if kind == "instance":
            if not isinstance(obj, Obj) or not obj.inst:
                self.fail(node, "indexes a value that is not per instance with the loop index")
            return Expr(_name(obj.var), True, False, obj.boolean)
        if kind == "mask":
            if not isinstance(obj, (Obj, Expr)) or not self.info(obj)[0]:
                self.fail(node, "masks a value that is not per instance")
            mask = self.expr(node.slice, env)
            if not _same_value(mask, self.mask_context):
                self.fail(node, "x[mask] outside 'y[mask] = ...' with the same mask (its length depends "
                                "on the mask)")
            return obj
        if kind == "constant" and isinstance(obj, Obj) and obj.field is not None:
            return self.uniform_read(obj, node, env)
        if isinstance(obj, Dict):
            return self.dict_item(obj, self.expr(node.slice, env), node)
        if isinstance(obj, Tup) or (isinstance(obj, Const) and isinstance(obj.value, tuple)):
            index = self.expr(node.slice, env)
            items = obj.items if isinstance(obj, Tup) else [Const(v) for v in obj.value]
            if isinstance(index, Const) and isinstance(index.value, int) and -len(items) <= index.value < len(items):
                return items[index.value]
        self.fail(node, "indexes an array (not element-wise)")

    def uniform_read(self, obj, node, env):
        """``pp.x[0]``: one instance's value, read once before the loop."""
        name = obj.field
        index = self.expr(node.slice, env)
        if not isinstance(index, Const) or not isinstance(index.value, int):
            self.fail(node, "indexes an array (not element-wise)")
        f = self.plan[name]
        if not (f.index is Index.NODE or (f.index is Index.INSTANCE and f.table in ("parameters", "state_vars"))):
            self.fail(node, f"pp.{name}[{index.value}] (only parameters, states and per-CV values can be read "
                            "at one instance)")
        if name in self.method.access.writes or name in self.written:
            self.fail(node, f"reads pp.{name}[{index.value}] in a method that writes pp.{name} "
                            "(the order of instances would matter)")
        key = (name, index.value)
        if key not in self.uniform_reads:
            self.uniform_reads[key] = f"{PREFIX}u_{name}_{index.value if index.value >= 0 else 'm' + str(-index.value)}"
        return Expr(_name(self.uniform_reads[key]), False, False)

    def expr_Lambda(self, node, env):
        self.fail(node, "a lambda inside the method (define it at module level)")

    # -- calls -------------------------------------------------------------------------
    def expr_Call(self, node, env):
        return self.call(node, env)

    def call(self, node, env, statement=False):
        if isinstance(node.func, ast.Attribute):
            owner = self.expr(node.func.value, env)
            if isinstance(owner, Dict):
                args = [self.expr(a, env) for a in node.args]
                kwargs = {k.arg: self.expr(k.value, env) for k in node.keywords if k.arg is not None}
                return self.dict_method(owner, node.func.attr, args, kwargs, node)
            if isinstance(owner, (Obj, Expr)):      # a method of an array: x.copy(), x.clip(lo, hi)
                args = [self.expr(a, env) for a in node.args]
                kwargs = {k.arg: self.expr(k.value, env) for k in node.keywords if k.arg is not None}
                if len(kwargs) != len(node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
                    self.fail(node, "* or ** arguments to an array method")
                return self.array_method(owner, node.func.attr, args, kwargs, node)
        callee = self.expr(node.func, env)
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                if isinstance(a.value, ast.GeneratorExp):
                    args += self.comprehension_items(a.value, env)
                else:
                    args += self.unpack_all(self.expr(a.value, env), a)
            elif isinstance(a, ast.GeneratorExp) and len(node.args) == 1 and not node.keywords \
                    and callee in (Ref(tuple), Ref(list), Ref(sum)):
                args.append(OneShot(self.comprehension_items(a, env)))
            else:
                args.append(self.expr(a, env))
        kwargs = {}
        for k in node.keywords:
            if k.arg is None:
                self.fail(node, "** arguments")
            kwargs[k.arg] = self.expr(k.value, env)
        if isinstance(callee, Func):
            return self.inline(callee, args, kwargs, node)
        if isinstance(callee, Ref):
            return self.call_known(callee.value, args, kwargs, node, env)
        self.fail(node, "calls something the compiler does not know")

    def array_method(self, owner, name, args, kwargs, node):
        if name == "copy" and not args and not kwargs:
            return self.fresh_copy(owner, node)
        if name in ("clip",):
            return self.np_function("clip", [owner] + args, kwargs, node)
        self.fail(node, f"the array method .{name}()")

    def fresh_copy(self, value, node):
        inst, array, boolean = self.info(value)
        var = self.fresh("copy")
        self.assign(var, self.value_node(value, node))
        return Obj(var, inst, True if inst else array, boolean)

    def call_known(self, target, args, kwargs, node, env):
        if target is super:
            return self.zero_argument_super(args, kwargs, node, env)
        if target is getattr or target is setattr:
            return self.named_access(target, args, kwargs, node)
        if target is zip and args and not kwargs:
            columns = [self.sequence_items(a, node) for a in args]
            return OneShot([Tup(list(row)) for row in zip(*columns)])
        if target is enumerate and len(args) in (1, 2) and set(kwargs) <= {"start"}:
            start = kwargs.get("start", args[1] if len(args) == 2 else Const(0))
            if not (isinstance(start, Const) and isinstance(start.value, int)):
                self.fail(node, "enumerate() with a start that is not a constant integer")
            return OneShot([Tup([Const(start.value + k), item])
                        for k, item in enumerate(self.sequence_items(args[0], node))])
        if target in (tuple, list) and len(args) == 1 and not kwargs and isinstance(args[0], Tup):
            return Tup(list(args[0].items), mutable=target is list)
        if target is sum and len(args) in (1, 2) and not kwargs and isinstance(args[0], Tup):
            total = args[1] if len(args) == 2 else Const(0)     # Python's sum: start + x1 + x2 ...
            for item in args[0].items:
                total = self.binop(ast.Add(), total, item, node)
            return total
        if target is exprelr:
            self.no_kwargs(kwargs, node, "exprelr")
            return self.runtime_call("exprelr", args, node, 1)
        if target in (cnexp, cnexp_linear):      # plain arithmetic: inlined like a helper
            return self.inline(Func(target, where=target.__name__), args, kwargs, node)
        if isinstance(target, np.ufunc) or (callable(target) and getattr(target, "__module__", "")
                                            and str(getattr(target, "__module__", "")).startswith("numpy")):
            name = getattr(target, "__name__", "")
            if getattr(np, name, None) is target:
                return self.np_function(name, args, kwargs, node)
            self.fail(node, f"numpy function {name!r}")
        if isinstance(target, types.BuiltinFunctionType) and getattr(target, "__module__", "") == "math" \
                or (getattr(target, "__self__", None) is math):
            return self.math_function(target.__name__, args, kwargs, node)
        if target is abs:
            self.no_kwargs(kwargs, node, "abs")
            result = self.unary_expr(ast.Name("abs", ast.Load()), args, node)
            result.py = len(args) == 1 and self.is_py(args[0]) and not self.info(args[0])[2]
            return result
        if target in (min, max):
            return self.builtin_minmax(target, args, kwargs, node)
        if target in (float, int, bool):
            if len(args) != 1 or kwargs:
                self.fail(node, f"{target.__name__}() with more than one argument")
            inst, array, boolean = self.info(args[0])
            if inst and array:
                self.fail(node, f"{target.__name__}() of an array (numpy raises: " + (
                    "the truth value of an array of more than one value is ambiguous)" if target is bool
                    else "only 0-dimensional arrays convert to Python scalars)"))
            value = self.value_node(args[0], node)
            if boolean and target is not bool:      # numba has no float(bool) / int(bool)
                value = _float_of_bool(value) if target is float else _int_of_bool(value)
                return Expr(value, inst, False, False, py=True)
            return Expr(ast.Call(ast.Name(target.__name__, ast.Load()), [value], []), inst, False, target is bool,
                        py=True)
        if target is pow:
            if len(args) != 2 or kwargs:
                self.fail(node, "pow() with a modulus")
            return self.binop(ast.Pow(), args[0], args[1], node)
        if target is len:
            if len(args) == 1 and isinstance(args[0], Obj) and args[0].inst and args[0].array:
                return self.width_value(node)
            self.fail(node, "len() of something that is not a per-instance array")
        if target is range:
            self.fail(node, "range() outside a for statement")
        if hasattr(target, "py_func") and hasattr(target, "targetoptions"):   # a numba dispatcher
            # Inlined from its Python source like any helper: the python backend calls it
            # with whole arrays, so only what is provably element-wise may be called per
            # instance (``v / np.max(v)`` or ``if v > 0`` would differ); else the array form,
            # which calls it with arrays as the python backend does.
            return self.inline(Func(target.py_func, where=getattr(target, "__name__", "njit")), args, kwargs, node)
        label = getattr(target, "__name__", type(target).__name__)
        self.fail(node, f"calls {label}, which the compiler cannot see into")

    def zero_argument_super(self, args, kwargs, node, env):
        """``super()`` in a method of the class or of a base class: Python's zero-argument
        form, whose class is the ``__class__`` cell of the function it is written in."""
        function = self.stack[-1] if self.stack else self.method.function
        function = getattr(function, "__func__", function)
        code = getattr(function, "__code__", None)
        if args or kwargs or code is None or "__class__" not in code.co_freevars:
            self.fail(node, "super() other than the zero-argument form in a method")
        owner = function.__closure__[code.co_freevars.index("__class__")].cell_contents
        instance = next((v for v in env.values() if isinstance(v, Ref) and isinstance(v.value, SelfRef)), None)
        if instance is None:
            self.fail(node, "super() in a function without self")
        cls = instance.value.cls
        if not (isinstance(owner, type) and owner in cls.__mro__):
            self.fail(node, "super() of a class that is not one of the mechanism's")
        return Ref(SuperRef(cls, owner))

    def named_access(self, target, args, kwargs, node):
        """``getattr(pp, "m")`` is ``pp.m``; ``setattr(pp, "m", value)`` is ``pp.m = value``."""
        count = 2 if target is getattr else 3
        if kwargs or len(args) != count or args[0] != Ref("pp"):
            self.fail(node, f"{target.__name__}() other than {target.__name__}(pp, name"
                            f"{', value' if target is setattr else ''})")
        name = args[1]
        if not (isinstance(name, Const) and isinstance(name.value, str)):
            self.fail(node, f"{target.__name__}(pp, name) with a name that is not a constant string")
        if target is getattr:
            return self.field_obj(name.value, node)
        self.write_field(name.value, args[2], node)
        return Const(None)

    def no_kwargs(self, kwargs, node, name):
        if kwargs:
            self.fail(node, f"keyword arguments to {name}()")

    def width_value(self, node):
        self.field_obj("width", node)
        return Expr(_name(self.fields["width"].var), False, False)

    def runtime_call(self, name, args, node, arity):
        if len(args) != arity:
            self.fail(node, f"{name}() takes {arity} arguments")
        values = [self.value_node(a, node) for a in args]
        scalar = {"fast_exp": "s_exp", "fast_expm1": "s_expm1", "fast_log": "s_log", "fast_pow": "s_pow",
                  "fast_tanh": "s_tanh", "fast_log1p": "s_log1p", "exprelr": "s_exprelr"}.get(name)
        if scalar is not None:      # the float implementation itself: args as floats
            name = scalar
            values = [ast.Call(ast.Name("float", ast.Load()), [v], []) for v in values]
        inst = any(self.info(a)[0] for a in args)
        array = any(self.info(a)[1] for a in args)
        return Expr(ast.Call(_name(self.runtime(name)), values, []), inst, array)

    def unary_expr(self, func_node, args, node, boolean=False):
        if len(args) != 1:
            self.fail(node, "a function of one argument called with more")
        inst, array, _ = self.info(args[0])
        return Expr(ast.Call(func_node, [self.value_node(args[0], node)], []), inst, array, boolean)

    def builtin_minmax(self, target, args, kwargs, node):
        if kwargs or len(args) < 2:
            self.fail(node, f"{target.__name__}() of one iterable or with key=")
        for a in args:
            inst, array, _ = self.info(a)
            if inst and array:
                self.fail(node, f"Python's {target.__name__}() of arrays (numpy raises: the truth value of "
                                f"an array is ambiguous); use np.{'maximum' if target is max else 'minimum'}")
        # Python: the first of the largest (smallest), comparing with > (<).
        booleans = [self.info(a)[2] for a in args]
        if any(booleans) and not all(booleans) and not all(self.is_py(a) for a, b in zip(args, booleans) if b):
            self.fail(node, f"{target.__name__}() of a numpy boolean and a number (the result is a "
                            "boolean or a number depending on the values): convert with float()")
        values = [self.materialise(a, "mm") if isinstance(a, Expr) else a for a in args]
        result = values[0]
        for other in values[1:]:
            a, b = self.value_node(result, node), self.value_node(other, node)
            op = ast.Gt() if target is max else ast.Lt()
            var = self.fresh(target.__name__)
            self.assign(var, ast.IfExp(ast.Compare(b, [op], [a]), b, a))
            result = Obj(var, any(self.info(v)[0] for v in (result, other)), False,
                         all(booleans), py=self.py_of([result, other]))
        return result

    def math_function(self, name, args, kwargs, node):
        result = self._math_value(name, args, kwargs, node)
        if isinstance(result, Expr):
            result.py = True        # math's functions return Python floats and bools
        return result

    def _math_value(self, name, args, kwargs, node):
        self.no_kwargs(kwargs, node, "math." + name)
        for a in args:
            inst, array, _ = self.info(a)
            if inst and array:
                self.fail(node, f"math.{name}() of an array (numpy raises: only 0-dimensional arrays "
                                f"convert to Python scalars); use np.{_MATH_ALIASES.get(name, name)}")
        if name in _RUNTIME_UNARY:
            return self.runtime_call("fast_" + name, args, node, 1)
        if name == "pow":
            return self.runtime_call("fast_pow", args, node, 2)
        if name in ("fabs",):
            return self.unary_expr(ast.Name("abs", ast.Load()), args, node)
        numpy_name = _MATH_ALIASES.get(name, name)
        if numpy_name in _NUMBA_UNARY:
            return self.unary_expr(ast.Attribute(_name(PREFIX + "np"), numpy_name, ast.Load()), args, node,
                                   numpy_name in _BOOLEAN_RESULTS)
        if name in ("e", "pi", "inf", "nan", "tau"):
            return Const(getattr(math, name))
        if name in ("atan2", "hypot", "copysign", "fmod"):
            values = [self.value_node(a, node) for a in args]
            inst = any(self.info(a)[0] for a in args)
            return Expr(ast.Call(ast.Attribute(_name(PREFIX + "math"), name, ast.Load()), values, []), inst, False)
        self.fail(node, f"math.{name}")

    # numpy ------------------------------------------------------------------------------
    def np_function(self, name, args, kwargs, node):
        out = kwargs.pop("out", None)
        if isinstance(out, Tup) and len(out.items) == 1:
            out = out.items[0]
        for key in ("where", "casting", "order", "subok", "signature"):
            if key in kwargs:
                self.fail(node, f"np.{name}(..., {key}=)")
        dtype = kwargs.pop("dtype", None)
        if dtype is not None and not (isinstance(dtype, (Ref, Const)) and getattr(dtype, "value", None)
                                      in (float, np.float64, "float64", "f8")):
            self.fail(node, f"np.{name}(..., dtype=) other than float64")
        result = self._np_value(name, args, kwargs, node)
        # numpy's functions return numpy's numbers, even of Python numbers: np.float64(1.0) / 0
        # is inf, np.abs(True) + np.abs(True) True
        if isinstance(result, Const) and type(result.value) in (bool, int, float):
            result = Const(np.asarray(result.value)[()])
        elif isinstance(result, Expr) and result.py is not False:
            result = dataclasses.replace(result, py=False)
        elif isinstance(result, Obj) and not result.array and result.py is not False:
            result = self.materialise(Expr(_name(result.var), result.inst, False, result.boolean), "np")
        if out is not None:
            if not isinstance(out, Obj):
                self.fail(node, "out= that is not an array")
            self.mutate(out, node, self.broadcast(out, result, node), f"np.{name}(..., out=)")
            return out
        return result

    def _np_value(self, name, args, kwargs, node):
        def no_kwargs():
            if kwargs:
                self.fail(node, f"np.{name}() with keyword arguments {sorted(kwargs)}")

        def arity(n):
            if len(args) != n:
                self.fail(node, f"np.{name}() with {len(args)} arguments")

        if name in _RUNTIME_UNARY:
            no_kwargs(); arity(1)
            return self.runtime_call("fast_" + name, args, node, 1)
        if name in ("power", "float_power", "pow"):
            no_kwargs(); arity(2)
            return self.binop(ast.Pow(), args[0], args[1], node,   # small integer powers: products
                              float_power=name == "float_power", ufunc=True)
        if name in _UFUNC_BINARY:
            no_kwargs(); arity(2)
            return self.binop(_UFUNC_BINARY[name](), args[0], args[1], node, ufunc=True)
        if name in ("negative", "positive"):
            no_kwargs(); arity(1)
            inst, array, boolean = self.info(args[0])
            if boolean:
                self.fail(node, f"np.{name}() of a boolean (numpy raises)")
            op = ast.USub() if name == "negative" else ast.UAdd()
            return Expr(ast.UnaryOp(op, self.value_node(args[0], node)), inst, array)
        if name == "square":
            no_kwargs(); arity(1)
            return self.binop(ast.Mult(), args[0], args[0], node, ufunc=True)
        if name in ("abs", "absolute", "fabs"):
            no_kwargs(); arity(1)
            inst, array, boolean = self.info(args[0])
            if boolean and name != "fabs":      # numpy's |True| is True (Python's abs() gives 1)
                return Expr(self.value_node(args[0], node), inst, array, True)
            return self.unary_expr(ast.Name("abs", ast.Load()), args, node)
        if name in ("maximum", "minimum") and len(args) == 2 and any(_plain_number(a) for a in args):
            no_kwargs()
            # numpy: NaN if either is NaN, the second on ties (the sign of a zero);
            # against a constant that is not NaN that is one select (mathlib.above)
            x, c = (args[0], args[1]) if _plain_number(args[1]) else (args[1], args[0])
            tie_to_c = c is args[1] and c.value == 0     # elsewhere a tie is the same number
            helper = ("above" if name == "maximum" else "below") + ("_or_at" if tie_to_c else "")
            return self.runtime_call(helper, [x, c], node, 2)
        if name in ("maximum", "minimum", "fmax", "fmin") and len(args) == 2 \
                and all(self.info(a)[2] for a in args):
            no_kwargs()      # of booleans, numpy's result is a boolean: 'or' / 'and'
            op = ast.BitOr() if name in ("maximum", "fmax") else ast.BitAnd()
            return self.binop(op, args[0], args[1], node, ufunc=True)
        if name in ("sign", "maximum", "minimum", "fmax", "fmin", "heaviside"):
            no_kwargs(); arity(1 if name == "sign" else 2)
            return self.runtime_call("np_" + name, args, node, len(args))
        if name in ("logical_and", "logical_or", "logical_xor"):
            no_kwargs(); arity(2)
            a, b = [self.bool_node(x, node) for x in args]
            op = {"logical_and": ast.BitAnd(), "logical_or": ast.BitOr(), "logical_xor": ast.BitXor()}[name]
            inst = any(self.info(x)[0] for x in args)
            return Expr(ast.BinOp(a, op, b), inst, any(self.info(x)[1] for x in args), True)
        if name == "logical_not":
            no_kwargs(); arity(1)
            inst, array, _ = self.info(args[0])
            return Expr(ast.UnaryOp(ast.Not(), self.bool_node(args[0], node)), inst, array, True)
        if name in ("greater", "less", "greater_equal", "less_equal", "equal", "not_equal"):
            no_kwargs(); arity(2)
            op = {"greater": ast.Gt, "less": ast.Lt, "greater_equal": ast.GtE, "less_equal": ast.LtE,
                  "equal": ast.Eq, "not_equal": ast.NotEq}[name]()
            inst = any(self.info(x)[0] for x in args)
            return Expr(ast.Compare(self.value_node(args[0], node), [op], [self.value_node(args[1], node)]),
                        inst, any(self.info(x)[1] for x in args), True)
        if name in _NUMBA_UNARY:
            no_kwargs(); arity(1)
            return self.unary_expr(ast.Attribute(_name(PREFIX + "np"), name, ast.Load()), args, node,
                                   name in _BOOLEAN_RESULTS)
        if name in ("arctan2", "hypot", "copysign", "fmod"):
            no_kwargs(); arity(2)
            fn = {"arctan2": "atan2"}.get(name, name)
            inst = any(self.info(x)[0] for x in args)
            return Expr(ast.Call(ast.Attribute(_name(PREFIX + "math"), fn, ast.Load()),
                                 [self.value_node(a, node) for a in args], []), inst,
                        any(self.info(x)[1] for x in args))
        if name == "where":
            no_kwargs()
            if len(args) != 3:
                self.fail(node, "np.where() with one argument (indices are not element-wise)")
            cond, a, b = args
            inst = any(self.info(x)[0] for x in args)
            boolean = self.info(a)[2] and self.info(b)[2]
            return Expr(self.select(self.bool_node(cond, node), self.value_node(a, node),
                                    self.value_node(b, node)), inst, True if inst else False, boolean)
        if name == "select":
            default = kwargs.pop("default", args[2] if len(args) > 2 else Const(0))
            no_kwargs()
            if len(args) < 2:
                self.fail(node, "np.select() needs condlist and choicelist")
            conds, choices = self.unpack_all(args[0], node), self.unpack_all(args[1], node)
            if len(conds) != len(choices):
                self.fail(node, "np.select() with lists of different lengths")
            result = default
            inst = self.info(default)[0]
            for c, v in reversed(list(zip(conds, choices))):
                inst = inst or self.info(c)[0] or self.info(v)[0]
                var = self.fresh("select")
                self.assign(var, self.select(self.bool_node(c, node), self.value_node(v, node),
                                             self.value_node(result, node)))
                result = Obj(var, inst, False)
            return Expr(_name(result.var), inst, inst) if isinstance(result, Obj) else result
        if name == "isclose":
            rtol = kwargs.pop("rtol", Const(1e-05))
            atol = kwargs.pop("atol", Const(1e-08))
            equal_nan = kwargs.pop("equal_nan", Const(False))
            no_kwargs()
            if len(args) > 2:
                rtol = args[2]
            if len(args) > 3:
                atol = args[3]
            if len(args) > 4:
                equal_nan = args[4]
            if len(args) < 2:
                self.fail(node, "np.isclose() needs two values")
            if not isinstance(equal_nan, Const):
                self.fail(node, "np.isclose(equal_nan=) that is not a constant")
            fn = "np_isclose_nan" if equal_nan.value else "np_isclose"
            inst = self.info(args[0])[0] or self.info(args[1])[0]
            array = self.info(args[0])[1] or self.info(args[1])[1]
            values = [self.value_node(v, node) for v in (args[0], args[1], rtol, atol)]
            return Expr(ast.Call(_name(self.runtime(fn)), values, []), inst, array, True)
        if name == "clip":
            lo = kwargs.pop("a_min", kwargs.pop("min", args[1] if len(args) > 1 else Const(None)))
            hi = kwargs.pop("a_max", kwargs.pop("max", args[2] if len(args) > 2 else Const(None)))
            no_kwargs()
            x = args[0]
            inst = any(self.info(v)[0] for v in (x, lo, hi))
            array = any(self.info(v)[1] for v in (x, lo, hi))
            value = self.value_node(x, node)
            if not (isinstance(lo, Const) and lo.value is None):
                # numpy: x where x is NaN, else (x if x > lo else lo); ties give lo
                helper = ("np_clip_lo" if not _plain_number(lo) else
                          "above_or_at" if lo.value == 0 else "above")
                value = ast.Call(_name(self.runtime(helper)), [value, self.value_node(lo, node)], [])
            if not (isinstance(hi, Const) and hi.value is None):
                helper = ("np_clip_hi" if not _plain_number(hi) else
                          "below_or_at" if hi.value == 0 else "below")
                value = ast.Call(_name(self.runtime(helper)), [value, self.value_node(hi, node)], [])
            return Expr(value, inst, array)
        if name in ("ones_like", "zeros_like", "empty_like", "full_like"):
            arity(2 if name == "full_like" else 1)
            no_kwargs()
            like = args[0]
            inst, array, boolean = self.info(like)
            fill = {"ones_like": Const(1.0), "zeros_like": Const(0.0), "empty_like": Const(0.0)}.get(name)
            fill = args[1] if fill is None else fill
            fill_node = self.value_node(fill, node)
            if boolean and name != "full_like":
                fill_node = ast.Constant(name == "ones_like")
            elif boolean:       # numpy casts the fill to the array's dtype: bool(fill)
                if not self.info(fill)[2]:
                    fill_node = _bool_of_number(fill_node)
            else:
                fill_node = ast.Call(ast.Name("float", ast.Load()), [fill_node], [])
            var = self.fresh(name)
            self.assign(var, fill_node)
            return Obj(var, inst, True if inst else array, boolean)
        if name in ("ones", "zeros", "empty", "full"):
            arity(2 if name == "full" else 1)
            no_kwargs()
            if not self._is_width_value(args[0], node):
                self.fail(node, f"np.{name}() of a shape other than pp.width")
            fill = {"ones": Const(1.0), "zeros": Const(0.0), "empty": Const(0.0)}.get(name) or args[1]
            if isinstance(fill, Const) and isinstance(fill.value, (bool, int, np.integer, np.bool_)):
                # numpy makes an integer (or boolean) array: what is stored into it is
                # truncated, which the scalar form's float64 values would not be
                self.fail(node, f"np.full() with the {type(fill.value).__name__} {fill.value!r} makes an "
                                "integer array in numpy (write a float, e.g. 2.0)")
            var = self.fresh(name)
            self.assign(var, ast.Call(ast.Name("float", ast.Load()), [self.value_node(fill, node)], []))
            return Obj(var, True, True)
        if name in ("copy", "array"):
            no_kwargs(); arity(1)
            return self.fresh_copy(args[0], node)
        if name in ("asarray", "asanyarray"):
            no_kwargs(); arity(1)
            return args[0]
        if name in ("float64", "double"):
            no_kwargs(); arity(1)
            x = args[0]
            if isinstance(x, Const):
                if not _is_number(x.value):
                    self.fail(node, f"np.{name}() of {x.value!r}")
                return Const(float(x.value))
            inst, array, boolean = self.info(x)
            if isinstance(x, Obj) and array and not boolean:
                return x        # numpy returns a float64 array itself, not a copy
            value = self.value_node(x, node)
            return Expr(_float_of_bool(value) if boolean else ast.Call(ast.Name("float", ast.Load()), [value], []),
                        inst, array)
        self.fail(node, f"np.{name} (not in the element-wise vocabulary the compiler lowers)")

    def _is_width_value(self, value, node):
        return isinstance(value, Expr) and isinstance(value.node, ast.Name) \
            and "width" in self.fields and value.node.id == self.fields["width"].var \
            or (isinstance(value, Obj) and value.field == "width")

    def bool_node(self, value, node):
        inst, array, boolean = self.info(value)
        expr = self.value_node(value, node)
        if boolean:
            return expr
        return ast.Compare(expr, [ast.NotEq()], [ast.Constant(0)])

    # -- inlining ------------------------------------------------------------------------
    def inline(self, func, args, kwargs, node):
        function = func.function
        if hasattr(function, "__wrapped__"):
            self.fail(node, f"{func.where or function.__name__}() is wrapped by a decorator: the compiler "
                            "cannot see what the decorator does")
        if function in self.stack:
            self.fail(node, f"{function.__name__}() is recursive")
        if len(self.stack) >= _MAX_INLINE_DEPTH:
            self.fail(node, "helpers call each other too deeply")
        tree = _function_tree(function)
        if tree is None:
            self.fail(node, f"{function.__name__}(): its source code is not available")
        # The object called is this function itself (a decorator that returned another
        # function would have given us that one): its decorators in the source do not matter.
        code = function.__code__
        if [a.arg for a in tree.args.posonlyargs + tree.args.args + tree.args.kwonlyargs] != \
                list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]):
            self.fail(node, f"{function.__name__}(): its source code does not match the loaded function "
                            "(was the file edited after it was imported?)")
        if isinstance(tree, ast.AsyncFunctionDef) or code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE):
            self.fail(node, f"{function.__name__}() is a generator or async")
        signature_args = tree.args
        if signature_args.vararg or signature_args.kwarg:
            self.fail(node, f"{function.__name__}() takes *args or **kwargs")
        params = [a.arg for a in signature_args.posonlyargs + signature_args.args]
        kwonly = [a.arg for a in signature_args.kwonlyargs]
        values = list(func.bound) + list(args)
        if len(values) > len(params):
            self.fail(node, f"{function.__name__}() takes {len(params)} arguments, {len(values)} given")
        local = {}
        for name, value in zip(params, values):
            local[name] = value
        defaults = function.__defaults__ or ()
        first_default = len(params) - len(defaults)
        for i, name in enumerate(params):
            if name in local:
                if name in kwargs:
                    self.fail(node, f"{function.__name__}() got two values for {name!r}")
                continue
            if name in kwargs:
                local[name] = kwargs.pop(name)
            elif i >= first_default:
                local[name] = self.classify_default(defaults[i - first_default], name, node)
            else:
                self.fail(node, f"{function.__name__}() is missing the argument {name!r}")
        for name in kwonly:
            if name in kwargs:
                local[name] = kwargs.pop(name)
            elif function.__kwdefaults__ and name in function.__kwdefaults__:
                local[name] = self.classify_default(function.__kwdefaults__[name], name, node)
            else:
                self.fail(node, f"{function.__name__}() is missing the argument {name!r}")
        if kwargs:
            self.fail(node, f"{function.__name__}() got unexpected arguments {sorted(kwargs)}")
        for name, value in list(local.items()):
            if isinstance(value, Expr):
                local[name] = self.materialise(value, name)
        self.stack.append(function)
        self._namespace_stack.append(function_namespace(function))
        saved_location = self.where_file
        self._locate(function)
        try:
            if isinstance(tree, ast.Lambda):
                return self.expr(tree.body, local)
            return self.inline_body(tree.body, local, function)
        finally:
            self.stack.pop()
            self._namespace_stack.pop()
            self.where_file = saved_location

    def classify_default(self, value, name, node):
        value = self.classify(value, name, node)
        if isinstance(value, Ref) and isinstance(value.value, np.ndarray):
            self.fail(node, f"the default argument {name!r} is an array")
        return value

    def inline_body(self, statements, env, function):
        """Run a helper's statements; its return value (returns only at the end, or
        at the ends of both branches of an if)."""
        statements = _structure_returns(list(statements))
        if statements is None:
            self.fail(None, f"{function.__name__}() returns from inside a loop or before its end")
        result = self.returning_block(statements, env, function)
        return Const(None) if result is None else result

    def returning_block(self, statements, env, function):
        for index, statement in enumerate(statements):
            last = index == len(statements) - 1
            if isinstance(statement, ast.Return):
                return Const(None) if statement.value is None else self.expr(statement.value, env)
            if last and isinstance(statement, ast.If) and _ends_with_return(statement):
                return self.returning_if(statement, env, function)
            if self.statement(statement, env):
                return Const(0.0)     # raised: the value is never used
        return None

    def returning_if(self, node, env, function):
        cond = self.expr(node.test, env)
        inst, array, _ = self.info(cond)
        if inst and array:
            self.fail(node.test, "'if' on per-instance values: numpy raises 'the truth value of an "
                                 "array with more than one element is ambiguous'; use np.where")
        if isinstance(cond, Const):
            return self.returning_block(node.body if cond.value else node.orelse, env, function)
        test = self.truth(cond, node.test)
        saved = self.body
        results, bodies = [], []
        self.branch_depth += 1
        for branch in (node.body, node.orelse):
            self.body = []
            branch_env = dict(env)
            fields_before = dict(self.fields)
            value = self.returning_block(branch, branch_env, function)
            if self.fields != fields_before:
                self.fail(node, f"{function.__name__}() writes pp fields in a branch")
            results.append(value)
            bodies.append(self.body)
        self.branch_depth -= 1
        self.body = saved
        a, b = results
        if isinstance(a, Tup) and isinstance(b, Tup) and len(a.items) == len(b.items):
            merged = []
            tails = ([], [])
            for x, y in zip(a.items, b.items):
                merged.append(self.merge(x, y, "ret", tails, node))
            self.emit(ast.If(test, bodies[0] + tails[0], bodies[1] + tails[1]))
            return Tup(merged)
        if not isinstance(a, (Obj, Expr, Const)) or not isinstance(b, (Obj, Expr, Const)):
            self.fail(node, f"{function.__name__}() returns values of different kinds in its branches")
        tails = ([], [])
        merged = self.merge(a, b, "ret", tails, node)
        merged.alias_of = None
        merged.array = False
        self.emit(ast.If(test, bodies[0] + tails[0], bodies[1] + tails[1]))
        return merged


class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


_LOOP_INDEX = _Marker("loop index")
_LOOP_LOCAL = _Marker("loop local")
_UNBOUND = _Marker("unbound")
_MAYBE_UNBOUND = _Marker("maybe unbound")
_DELETED = _Marker("deleted")


class _Ambiguous:
    def __init__(self, name):
        self.name = name


@dataclass
class LoweredKernel:
    name: str
    source: str
    params: list          # field names, in argument order
    outputs: list         # field names it returns, in order
    uniform_reads: list   # (field, index, parameter name): pp.x[index], read before the loop
    namespace: dict       # globals it needs
    raises: bool = False  # it returns (status, outputs...): a raise sets the status
    prelude: hoist.Prelude | None = None   # temperature-only values, computed by the entry
    records: bool = False  # takes the raise record's address after the uniform reads (0: none)
    formats_index: bool = False   # ... and then the instance's index


def _bool_of_number(node):
    """numpy's cast of a number to bool: nonzero (NaN included) is True."""
    return ast.Compare(node, [ast.NotEq()], [ast.Constant(0)])


def class_attribute(cls, attr, instance=True, after=None):
    """``self.<attr>`` as the python backend's instance ``cls()`` has it (``instance``;
    else ``cls.<attr>``), from the classes of ``cls.__mro__`` (not its metaclass,
    which an instance does not see), those after ``after`` only for ``super()``.
    Raises AttributeError, saying why, where the instance may have another value:
    ``__init__`` sets it, or the class customises ``__getattribute__``."""
    if instance and cls.__getattribute__ is not object.__getattribute__:
        raise AttributeError(f"self.{attr}: the class defines __getattribute__, so what self.{attr} is "
                             "is known only when it runs")
    mro = cls.__mro__
    if after is not None:
        mro = mro[mro.index(after) + 1:] if after in mro else ()
    for owner in mro:
        if attr in vars(owner):
            value = vars(owner)[attr]
            break
    else:
        if hasattr(type(cls), attr):
            raise AttributeError(f"self.{attr} is an attribute of the class's metaclass, which its "
                                 "instances do not see (Python raises AttributeError)")
        raise AttributeError(f"self.{attr} is not a class attribute (instance attributes set in "
                             "__init__ are not seen by the compiler)")
    if instance and cls.__init__ is not object.__init__:
        try:
            shadowed = attr in vars(cls())
        except Exception:
            shadowed = True
        if shadowed:
            raise AttributeError(f"self.{attr} is set in __init__ (the python backend reads the "
                                 "instance's value, the compiler sees the class's)")
    return value


def _int_of_bool(node):
    """1 or 0 for a boolean (Python's int(True); numba has no int(bool))."""
    return ast.IfExp(node, ast.Constant(1), ast.Constant(0))


def _float_of_bool(node):
    """1.0 or 0.0 for a boolean (numba has no float(bool))."""
    return ast.IfExp(node, ast.Constant(1.0), ast.Constant(0.0))


def _plain_number(value):
    """A compile-time constant int or float that is not NaN (and not a bool)."""
    return isinstance(value, Const) and _is_number(value.value) \
        and not isinstance(value.value, (bool, np.bool_)) and value.value == value.value


def _same_value(a, b):
    if isinstance(a, Obj) and isinstance(b, Obj):
        return a.var == b.var
    if isinstance(a, Expr) and isinstance(b, Expr):
        return ast.dump(a.node) == ast.dump(b.node)
    return False


def _ends_with_return(statement):
    if isinstance(statement, ast.Return):
        return True
    if isinstance(statement, ast.If):
        return bool(statement.body) and bool(statement.orelse) and _ends_with_return(statement.body[-1]) \
            and _ends_with_return(statement.orelse[-1])
    return False


def _has_return(statements):
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Return):
                return True
    return False


def _structure_returns(statements):
    """Rewrite ``if c: ...; return a`` followed by more code into ``if c: ... else: ...``.

    Returns the statements where every return ends the function (at the end, or
    at the ends of both branches of a final if), or None when a return sits
    somewhere that cannot be arranged so (inside a loop)."""
    out = []
    for index, statement in enumerate(statements):
        if isinstance(statement, ast.Return):
            out.append(statement)
            return out
        if isinstance(statement, ast.If) and _has_return([statement]):
            rest = statements[index + 1:]
            body = _structure_returns(list(statement.body) + ([] if _ends_with_return(statement.body[-1])
                                                              else rest))
            orelse = _structure_returns(list(statement.orelse) + ([] if statement.orelse and
                                                                  _ends_with_return(statement.orelse[-1])
                                                                  else rest))
            if body is None or orelse is None:
                return None
            if not body or not _ends_with_return(body[-1]):
                body = body + [ast.Return(None)]
            if not orelse or not _ends_with_return(orelse[-1]):
                orelse = orelse + [ast.Return(None)]
            out.append(ast.If(statement.test, body, orelse))
            return out
        if _has_return([statement]):
            return None
        out.append(statement)
    return out


class OpenErrstate(ast.NodeTransformer):
    """``with np.errstate(...): body`` -> ``body``, in a function's tree: errstate
    only changes numpy's floating-point warnings, and compiled code computes the
    same values and never warns (numba has no such context manager). Used by both
    forms (the scalar lowering here and :mod:`.translate`). ``namespace`` is what
    the function sees (:func:`function_namespace`); a name the function binds
    itself is not the module's."""

    def __init__(self, namespace, tree):
        self.namespace, self.local = namespace, local_names(tree)

    def _is_errstate(self, item):
        call = item.context_expr
        if item.optional_vars is not None or not isinstance(call, ast.Call):
            return False
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, value = func.value.id, getattr(self.namespace.get(func.value.id), func.attr, None)
        elif isinstance(func, ast.Name):
            owner, value = func.id, self.namespace.get(func.id)
        else:
            return False
        return owner not in self.local and value is np.errstate

    def visit_With(self, node):
        self.generic_visit(node)
        if node.items and all(self._is_errstate(item) for item in node.items):
            return node.body
        return node


def _function_tree(function):
    """The function's (or lambda's) tree, its line numbers those of its file, with
    its ``np.errstate`` blocks opened (:class:`OpenErrstate`)."""
    tree = function_tree(function)[0] if function.__name__ != "<lambda>" else _lambda_tree(function)
    if tree is None:
        return None
    return OpenErrstate(function_namespace(function), tree).visit(tree)     # a fresh parse: ours to change


def _lambda_tree(function):
    """The ``ast.Lambda`` of a lambda, found in its whole file: a lambda may sit in
    the middle of a statement (a dict or tuple of rate functions over several
    lines), which its own source lines do not parse as. Among the lambdas of its
    line with its arguments, the one whose body holds its code's first position."""
    import linecache
    code = function.__code__
    try:
        module = ast.parse("".join(linecache.getlines(code.co_filename)))
    except (SyntaxError, ValueError):
        return None
    names = list(code.co_varnames[:code.co_argcount])
    matches = [n for n in ast.walk(module) if isinstance(n, ast.Lambda)
               and n.lineno == code.co_firstlineno and [a.arg for a in n.args.args] == names]
    if len(matches) > 1:
        import dis
        at = min(((i.positions.lineno, i.positions.col_offset) for i in dis.get_instructions(code)
                  if i.positions is not None and i.positions.lineno is not None
                  and i.positions.col_offset is not None      # RESUME, RETURN: no span of their own
                  and (i.positions.end_lineno, i.positions.end_col_offset)
                  != (i.positions.lineno, i.positions.col_offset)), default=None)
        matches = [n for n in matches if at is not None
                   and (n.body.lineno, n.body.col_offset) <= at <= (n.body.end_lineno, n.body.end_col_offset)]
    return matches[0] if len(matches) == 1 else None


def _apply(op, a, b):
    import operator
    table = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
             ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
             ast.Pow: operator.pow, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
             ast.BitXor: operator.xor, ast.LShift: operator.lshift, ast.RShift: operator.rshift}
    return table[type(op)](a, b)


_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_MIXED_BOOL = ("arithmetic on a boolean that is Python's on one path and numpy's on another "
               "(x if c else y, and/or, min/max, or a name bound in two branches: True + True is 2 "
               "for Python's, True for numpy's; ~True -2 or False): convert it with int() or float()")


def _apply_ufunc(op, a, b, float_power=False):
    """numpy's ufunc of two numbers (a numpy number: 1.0 / 0.0 is inf, True + True True)."""
    table = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
             ast.FloorDiv: np.floor_divide, ast.Mod: np.remainder,
             ast.Pow: np.float_power if float_power else np.power,
             ast.BitAnd: np.bitwise_and, ast.BitOr: np.bitwise_or, ast.BitXor: np.bitwise_xor}
    with np.errstate(all="ignore"):
        return table[type(op)](a, b)


def _apply_unary(op, a):
    import operator
    table = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
             ast.Invert: operator.invert}
    return table[type(op)](a)


def _compare(op, a, b):
    import operator
    table = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
             ast.Gt: operator.gt, ast.GtE: operator.ge}
    return table[type(op)](a, b)


def _op_text(op):
    return {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
            ast.Mod: "%", ast.FloorDiv: "//"}.get(type(op), "?")


class _Arithmetic(ast.NodeTransformer):
    """``x ** n`` for small integer n stays a product; other powers call the
    call-free ``pow``; ``x / literal`` becomes ``x * (1/literal)``, as modcc does,
    where ``1/literal`` is a normal number (not for 1e-310 or 1e308: inf, or a
    subnormal with too few digits)."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            value = _literal_number(node.right)
            if value is not None and value != 0.0 and sys.float_info.min <= abs(1.0 / value) < math.inf:
                return ast.copy_location(ast.BinOp(node.left, ast.Mult(), ast.Constant(1.0 / value)), node)
            return node
        if not isinstance(node.op, ast.Pow):
            return node
        value = _literal_number(node.right)
        if value is not None and value.is_integer() and abs(value) <= 64:
            return integer_power(node, int(value))
        args = [ast.Call(ast.Name("float", ast.Load()), [a], []) for a in (node.left, node.right)]
        return ast.copy_location(ast.Call(_name(PREFIX + "s_pow"), args, []), node)


def integer_power(node, exponent):
    """``x ** n`` for a literal integer ``n``: numba's product for n >= 0, and
    ``1.0 / x ** -n`` for n < 0, which gives numpy's inf for x == 0 where numba's
    power raises ZeroDivisionError (Python's rule for scalars)."""
    if exponent >= 0:
        node.right = ast.copy_location(ast.Constant(exponent), node.right)
        return node
    power = ast.BinOp(node.left, ast.Pow(), ast.copy_location(ast.Constant(-exponent), node.right))
    return ast.copy_location(ast.BinOp(ast.Constant(1.0), ast.Div(), ast.copy_location(power, node)), node)


class _BoundedExp(ast.NodeTransformer):
    """``exp`` of a value clipped to constant bounds within exp's range (``np.exp(np.clip(x,
    -20, 20))``, ``np.minimum(np.maximum(...))``) calls the ``exp`` without the overflow
    and flush selects: the same value, as the clipped argument cannot reach them."""

    _UPPER = {PREFIX + "below", PREFIX + "below_or_at"}
    _LOWER = {PREFIX + "above", PREFIX + "above_or_at"}

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == PREFIX + "s_exp" and len(node.args) == 1:
            argument = node.args[0]
            if isinstance(argument, ast.Call) and isinstance(argument.func, ast.Name) \
                    and argument.func.id == "float" and len(argument.args) == 1:
                argument = argument.args[0]
            if self._bounds(argument) is not None:
                node.func = _name(PREFIX + "s_exp_in_range")
        return node

    def _bounds(self, node):
        """(low, high) when ``node`` is an upper bound of a lower bound (or the reverse)
        by constants, both within exp's range; else None."""
        outer = self._bound(node)
        if outer is None:
            return None
        kind, limit, inner = outer
        inner_bound = self._bound(inner)
        if inner_bound is None or inner_bound[0] == kind:
            return None
        low, high = (inner_bound[1], limit) if kind == "upper" else (limit, inner_bound[1])
        return (low, high) if EXP_LOW <= min(low, high) and max(low, high) <= EXP_HIGH else None

    def _bound(self, node):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 2
                and not node.keywords):
            return None
        kind = "upper" if node.func.id in self._UPPER else "lower" if node.func.id in self._LOWER else None
        limit = _literal_number(node.args[1])
        if kind is None or limit is None:
            return None
        return kind, limit, node.args[0]


def _literal_number(node):
    """The float value of a numeric literal (``-20.0`` included), else None."""
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node, sign = node.operand, -1.0
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        value = sign * float(node.value)
        return value if math.isfinite(value) else None
    return None


def lower(spec, method, plan, kernel_name, code_for=None):
    """The scalar kernel of ``method``, or :class:`CannotCompile` with the reason.
    ``code_for(key)`` gives the status code of a message (for ``raise``)."""
    if method.access.tree is None:
        raise CannotCompile(f"{method.name}: its source code is not available")
    lowering = Lowering(spec, method, plan, kernel_name)
    lowering.code_for = code_for
    lowering._namespace_stack = [function_namespace(method.function)]
    return lowering.lower()
