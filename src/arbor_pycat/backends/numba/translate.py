"""Rewrite a mechanism method into a numba kernel (Python source text).

``pp.<field>`` becomes a plain variable ``__pc_f_<field>``, so the kernel takes
every field it uses as an argument. Two forms:

``scalar``
    The kernel computes ONE instance: every field is a float, the entry
    function loops over instances, gathering inputs and scattering outputs
    exactly as modcc's generated loops do, and returns the written fields.
    Only for methods whose code is visibly element-wise (whole-array numpy
    style with no indexing, reductions or ``pp.width``): then it is the same
    computation, with no temporary arrays, and LLVM can vectorise it.
``array``
    The kernel gets numpy arrays (views of Arbor's memory, or gathered
    copies) and runs the method as written; whole-field assignments are
    checked (a wrong shape returns a status code naming the field).

Functions the method calls that are defined in Python are copied into the
generated module (recursively), with ``exp``/``expm1`` replaced by call-free
versions.
"""
import ast
import builtins
import copy
import inspect
import math
import sys
import textwrap
import types

import numpy as np

from ...abi import contract
from ...spec.fields import Write
from ...spec.inspection import source_lines
from ..base import CannotCompile
from . import messages
from .lower import PREFIX, class_attribute, integer_power
from .lower import OpenErrstate, function_namespace as _resolver
from .messages import raise_message

F_PREFIX = PREFIX + "f_"
from ...helpers import exprelr

# Calls whose result is not element-wise: their presence keeps a method in array form.
_NOT_ELEMENTWISE = {
    "sum", "mean", "max", "min", "prod", "cumsum", "cumprod", "roll", "diff", "sort", "argsort",
    "argmax", "argmin", "any", "all", "dot", "std", "var", "median", "len", "shape", "size",
    "ndim", "reshape", "ravel", "flatten", "concatenate", "stack", "hstack", "vstack", "nonzero",
    "count_nonzero", "unique", "zeros", "ones", "empty", "full", "arange", "linspace",
    "zeros_like", "ones_like", "empty_like", "full_like", "trapz", "gradient", "copy", "astype",
    "nanmax", "nanmin", "nansum", "amax", "amin", "average", "tolist", "item", "flat", "T",
    "matmul", "outer", "convolve", "take", "put", "repeat", "tile", "append", "insert", "delete",
    "asarray", "array", "print", "range", "enumerate", "zip", "isclose",
}

_FAST = {name: f"__pc_fast_{name}" for name in ("exp", "expm1", "log", "pow", "tanh", "log1p")}
_FAST_TARGETS = {id(getattr(module, name)): name for module in (np, math) for name in _FAST
                 if hasattr(module, name)}    # np.pow only since numpy 2
_FAST_TARGETS[id(np.power)] = "pow"


class Kernel:
    """One rewritten method."""

    def __init__(self, name, source, params, outputs, helpers, globals_, mode):
        self.name = name            # function name in the generated module
        self.source = source
        self.params = params        # field names, in argument order
        self.outputs = outputs      # scalar form: field names it returns, in order
        self.helpers = helpers      # {name: source}
        self.globals = globals_     # {name: object} the code needs
        self.mode = mode
        self.uniform_reads = []     # scalar form: (field, index, parameter) read once before the loop
        self.raises = False         # scalar form: returns (status, outputs...)
        self.events_only = False    # apply_events does nothing without events
        self.prelude = None         # scalar form: hoist.Prelude, values the entry computes
        self.records = False        # takes the raise record's address (messages.py)
        self.formats_index = False  # scalar form: ... and then the instance's index


def _local_names(tree):
    names = {a.arg for a in tree.args.posonlyargs + tree.args.args + tree.args.kwonlyargs}
    if tree.args.vararg:
        names.add(tree.args.vararg.arg)
    if tree.args.kwarg:
        names.add(tree.args.kwarg.arg)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)) and node is not tree:
            if isinstance(node, ast.FunctionDef):
                names.add(node.name)
    return names


def _global_names(tree):
    local = _local_names(tree)
    return {node.id for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local}


class _FastMath(ast.NodeTransformer):
    """Rewrites a method's or helper's code for the generated module.

    - Calls of exp, expm1, log, log1p, tanh and pow, and ``a ** b``, → call-free
      versions: ``np.exp(x)``/``math.exp(x)``/``exp(x)`` → ``__pc_fast_exp(x)`` (same
      for the others); ``a ** b`` with an exponent that is not a small
      integer constant → ``__pc_fast_pow(a, b)`` (integer powers stay products).
    - ``x / c`` for a numeric literal ``c`` → ``x * (1/c)``, as modcc does.
    - ``module.f(...)`` for a plain Python function of one of the user's
      modules → ``__pc_mod_module_f(...)``, added to the namespace (and so
      compiled as a helper, like a function called by its own name).
    """

    def __init__(self, namespace):
        self.namespace = namespace

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            return self._reciprocal(node)
        if isinstance(node.op, ast.FloorDiv):      # numba's array // is floor(a/b): numpy's instead
            call = ast.Call(ast.Name(PREFIX + "floor_divide", ast.Load()), [node.left, node.right], [])
            return ast.copy_location(call, node)
        if isinstance(node.op, (ast.Add, ast.Mult)):   # numba's mask + mask is 2, numpy's True
            helper = "add" if isinstance(node.op, ast.Add) else "multiply"
            call = ast.Call(ast.Name(PREFIX + helper, ast.Load()), [node.left, node.right], [])
            return ast.copy_location(call, node)
        if not isinstance(node.op, ast.Pow):
            return node
        exponent = node.right
        if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub) \
                and isinstance(exponent.operand, ast.Constant):
            value = exponent.operand.value
            value = -value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        elif isinstance(exponent, ast.Constant):
            value = exponent.value
        else:
            value = None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer() \
                and abs(value) <= 64:
            return integer_power(node, int(value))
        call = ast.Call(ast.Name(_FAST["pow"], ast.Load()), [node.left, node.right], [])
        return ast.copy_location(call, node)

    @staticmethod
    def _reciprocal(node):
        """``x / c`` → ``x * (1/c)`` for a numeric literal ``c``, as modcc does."""
        divisor, sign = node.right, 1.0
        if isinstance(divisor, ast.UnaryOp) and isinstance(divisor.op, ast.USub):
            divisor, sign = divisor.operand, -1.0
        if not isinstance(divisor, ast.Constant) or isinstance(divisor.value, bool) \
                or not isinstance(divisor.value, (int, float)):
            return node
        value = sign * float(divisor.value)
        if value == 0.0 or not math.isfinite(value) or not sys.float_info.min <= abs(1.0 / value) < math.inf:
            return node         # 1/c would be inf, or a subnormal with too few digits
        product = ast.BinOp(node.left, ast.Mult(), ast.Constant(1.0 / value))
        return ast.copy_location(product, node)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Invert):
            # numba's ~ of a bool is 'not', Python's is -2 or -1, numpy's bool_ 'not':
            # a runtime function that refuses scalar booleans (see mathlib.invert)
            call = ast.Call(ast.Name(PREFIX + "invert", ast.Load()), [node.operand], [])
            return ast.copy_location(call, node)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        target = None
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = self.namespace.get(func.value.id)
            if isinstance(owner, types.ModuleType):
                target = getattr(owner, func.attr, None)
        elif isinstance(func, ast.Name):
            target = self.namespace.get(func.id)
        if target is np.floor_divide and len(node.args) == 2 and not node.keywords:
            node.func = ast.copy_location(ast.Name(PREFIX + "floor_divide", ast.Load()), func)
            return node
        name = _FAST_TARGETS.get(id(target)) if target is not None else None
        arity = 2 if name == "pow" else 1
        if name is not None and len(node.args) == arity and not node.keywords and getattr(math, name, None) is target:
            # math's functions take one number (numpy raises for an array, even of one
            # value): the scalar implementation, of float(x), which numba refuses for an array
            node.func = ast.copy_location(ast.Name(f"{PREFIX}s_{name}", ast.Load()), func)
            node.args = [ast.Call(ast.Name("float", ast.Load()), [a], []) for a in node.args]
        elif name is not None and len(node.args) == arity and not node.keywords:
            node.func = ast.copy_location(ast.Name(_FAST[name], ast.Load()), func)
        elif isinstance(func, ast.Attribute) and _is_user_function(target):
            alias = f"{PREFIX}mod_{func.value.id}_{func.attr}"
            self.namespace[alias] = target
            node.func = ast.copy_location(ast.Name(alias, ast.Load()), func)
        return node


class _ClassConstants(ast.NodeTransformer):
    """``self.NAME`` → its value, for numbers defined on the class (not set in ``__init__``)."""

    def __init__(self, self_name, cls):
        self.self_name, self.cls = self_name, cls

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id == self.self_name \
                and isinstance(node.ctx, ast.Load):
            try:
                value = class_attribute(self.cls, node.attr)
            except AttributeError:
                return node     # refused below, as any other use of self
            if isinstance(value, (bool, int, float)) and not isinstance(value, type):
                return ast.copy_location(ast.Constant(value), node)
        return node


def _mutated_parameters(function, seen=None):
    """Positions of the parameters that ``function`` (a user's helper) writes into:
    ``x[...] = ``, ``x += ``, ``out=x``, or passing ``x`` on to a helper that does."""
    tree, _ = _function_source(function)
    if tree is None:
        return set()
    seen = set() if seen is None else seen
    if id(function) in seen:
        return set()
    seen.add(id(function))
    params = [a.arg for a in tree.args.posonlyargs + tree.args.args]
    namespace = _resolver(function)
    written = _written_names(tree, namespace, seen)
    return {k for k, name in enumerate(params) if name in written}


def _written_names(tree, namespace, seen):
    """Names whose arrays the code writes into (directly, through aliases it makes, or
    through helpers it passes them to)."""
    aliases = {}          # name -> the name whose array it is

    def root(node):
        """The name (or ``pp.field``) whose array ``node`` is a view of, or None."""
        while isinstance(node, ast.Subscript):
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "asarray" and node.args:          # np.asarray(x)
                node = node.args[0]
            elif node.func.attr in ("view", "reshape", "ravel"):   # x.view(), x.ravel()
                node = node.func.value
        if isinstance(node, ast.Name):
            return aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            return ast.unparse(node)
        return None

    written = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            source = root(node.value)
            for target in node.targets:
                if isinstance(target, ast.Name) and source is not None:
                    aliases[target.id] = source
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t for t in node.targets if isinstance(t, ast.Subscript)]
        elif isinstance(node, ast.AugAssign):
            targets = [node.target] if isinstance(node.target, (ast.Subscript, ast.Name)) else []
        for target in targets:
            name = root(target)
            if name is not None:
                written.add(name)
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "out":
                    for element in (keyword.value.elts if isinstance(keyword.value, ast.Tuple) else [keyword.value]):
                        name = root(element)
                        if name is not None:
                            written.add(name)
            callee = node.func.id if isinstance(node.func, ast.Name) else None
            target = namespace.get(callee) if callee else None
            if isinstance(target, types.FunctionType) and _is_user_function(target):
                for position in _mutated_parameters(target, seen):
                    if position < len(node.args):
                        name = root(node.args[position])
                        if name is not None:
                            written.add(name)
    return written


def _check_readonly_writes(tree, pp, plan, namespace, method_name):
    """Refuse writes into read-only fields through other names or helpers: the python
    backend's views raise there, and in compiled code they would change a copy or, for
    Arbor's own index and weight arrays, Arbor's memory."""
    written = _written_names(tree, namespace, set())
    for name in sorted(written):
        if name.startswith(pp + "."):
            field = name[len(pp) + 1:]
            if field in plan and plan[field].write is None:
                raise CannotCompile(f"{method_name} writes into pp.{field} (through another name or a "
                                    "helper), which is read-only here")
            if field in plan and (plan[field].gathered or plan[field].write is Write.BUFFER) \
                    and not _writes_field_directly(tree, pp, field):
                raise CannotCompile(f"{method_name} writes into pp.{field} through another name or a "
                                    f"helper: assign pp.{field} directly (it is scattered back to Arbor)")


def _check_truth_tests(tree, pp, plan, method):
    """Refuse ``if pp.v > 0:`` and the like: numpy raises for more than one instance
    ("the truth value of an array ... is ambiguous"), numba would decide something."""
    def whole_field(node):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == pp:
            return node.attr in plan and plan[node.attr].per_instance
        if isinstance(node, (ast.Subscript, ast.Call)):
            return False            # one element, or a reduction / len()
        return any(whole_field(child) for child in ast.iter_child_nodes(node))

    tests = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            tests.append(node.test)
        elif isinstance(node, ast.BoolOp):
            tests += node.values[:-1]      # x and y: y is the value, not tested
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            tests.append(node.operand)
        elif isinstance(node, ast.Compare) and len(node.ops) > 1:
            # a < v < b is (a < v) and (v < b): every comparison but the last is tested
            operands = [node.left] + node.comparators
            tests += [ast.copy_location(ast.Compare(operands[k], [node.ops[k]], [operands[k + 1]]), node)
                      for k in range(len(node.ops) - 1)]
    for test in tests:
        if whole_field(test):
            raise CannotCompile(f"{method.name}: a truth test of per-instance values (line "
                                f"{_file_line(method.function, test)}): numpy raises 'the truth value of an "
                                "array with more than one element is ambiguous'; use np.where")


def _file_line(function, node):
    """``file:line`` of ``node`` (the method trees' line numbers are the file's)."""
    code = getattr(function, "__code__", None)
    line = getattr(node, "lineno", 1)
    return f"{code.co_filename}:{line}" if code else str(line)


def _writes_field_directly(tree, pp, field):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == field and isinstance(node.value, ast.Name) \
                and node.value.id == pp and isinstance(node.ctx, ast.Store):
            return True
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                inner = target
                while isinstance(inner, ast.Subscript):
                    inner = inner.value
                if isinstance(inner, ast.Attribute) and inner.attr == field and isinstance(inner.value, ast.Name) \
                        and inner.value.id == pp:
                    return True
    return False


def _is_user_function(value):
    """A plain Python function that is not numpy's, math's or arbor_pycat's exprelr."""
    if not isinstance(value, types.FunctionType) or value is exprelr:
        return False
    module = getattr(value, "__module__", None) or ""
    return not module.startswith(("numpy", "math", "scipy", "numba"))


class _Collector:
    """Gathers the helper functions and global objects a kernel needs."""

    def __init__(self):
        self.helpers = {}        # name -> source
        self.globals = {}        # name -> object
        self.elementwise = True
        self.why_not_elementwise = ""
        self.objects = {}        # name -> the object it was resolved to (globals and helpers)
        self.in_progress = set() # helpers being scanned (a name met again is a recursion)

    def scan(self, tree, namespace, where):
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Name):
                    name = node.func.id
                elif isinstance(node.func, ast.Attribute):
                    name = node.func.attr
            elif isinstance(node, ast.Attribute):
                self._module_constant(node, namespace)
                if isinstance(node.value, ast.Name) and isinstance(namespace.get(node.value.id), types.ModuleType):
                    pass
                elif node.attr in _NOT_ELEMENTWISE:
                    name = node.attr
            if name in _NOT_ELEMENTWISE and self.elementwise:
                self.elementwise = False
                self.why_not_elementwise = f"{where} uses {name}"
            if isinstance(node, (ast.Raise, ast.Assert, ast.Try)) and self.elementwise:
                self.elementwise = False   # the scalar form has no exception handling
                self.why_not_elementwise = f"{where} raises or catches exceptions"
            if isinstance(node, ast.Subscript) and self.elementwise:
                self.elementwise = False
                self.why_not_elementwise = f"{where} indexes an array (line {getattr(node, 'lineno', '?')})"
        for name in sorted(_global_names(tree)):
            if name.startswith(PREFIX) and not name.startswith(PREFIX + "mod_"):
                continue     # the library's own names (users' names never start so)
            if name in namespace:
                value = namespace[name]
            elif hasattr(builtins, name):
                continue
            else:
                raise CannotCompile(f"{where}: name {name!r} is not defined")
            if name in self.in_progress:
                raise CannotCompile(f"{where} calls {name}() recursively (compiled code has no "
                                    "recursion limit: deep recursion would crash the process)")
            if name in self.objects:
                # The generated module has one namespace: a name the method and
                # its helpers (from other modules) bind to different objects
                # cannot be compiled as written.
                if not _same_object(self.objects[name], value):
                    raise CannotCompile(f"{where}: the global name {name!r} means different objects in "
                                        "the method and in the functions it calls (rename one)")
                continue
            self.add_global(name, value, where)

    def _module_constant(self, node, namespace):
        """Record ``module.NAME`` (or ``package.module.NAME``) when it names a constant.

        numba freezes such values into the compiled code, and the generated
        source only says ``module.NAME``: the value goes into the globals (under
        its dotted name, which no code uses) so that the module's fingerprint
        changes with it and the disk cache never serves the old value.
        """
        parts = []
        root = node
        while isinstance(root, ast.Attribute):
            parts.append(root.attr)
            root = root.value
        if not isinstance(root, ast.Name) or not isinstance(namespace.get(root.id), types.ModuleType):
            return
        value = namespace[root.id]
        for part in reversed(parts):
            if not isinstance(value, types.ModuleType):
                return
            value = getattr(value, part, None)
        if isinstance(value, (bool, int, float, complex, str, tuple, np.ndarray, np.generic)) \
                or (hasattr(value, "py_func") and hasattr(value, "targetoptions")):
            self.globals[".".join([root.id] + parts[::-1])] = value

    def add_global(self, name, value, where):
        self.objects[name] = value
        if value is exprelr or isinstance(value, types.ModuleType):
            self.globals[name] = value
            return
        if isinstance(value, (bool, int, float, complex)) or value is None:
            self.globals[name] = value
            return
        if isinstance(value, tuple) and all(isinstance(v, (bool, int, float)) for v in value):
            self.globals[name] = value
            return
        if isinstance(value, np.ndarray):
            self.globals[name] = value
            return
        if isinstance(value, types.FunctionType):
            if getattr(value, "__module__", "").startswith("numpy"):
                self.globals[name] = value
                return
            if hasattr(value, "__wrapped__"):
                raise CannotCompile(f"{where} calls {name}(), which a decorator wraps: the compiler cannot "
                                    "see what the decorator does")
            tree, source = _function_source(value)
            if tree is None:
                raise CannotCompile(f"{where} calls {name}(), whose source code is not available")
            nested = _untranslatable(tree, value.__code__.co_firstlineno - tree.lineno)
            if nested is not None:
                raise CannotCompile(f"{where} calls {name}() ({value.__code__.co_filename}), which {nested}")
            namespace = _resolver(value)
            if tree.name != name:
                tree.name = name
            tree.decorator_list = []
            tree = _FastMath(namespace).visit(tree)
            ast.fix_missing_locations(tree)
            self.helpers[name] = ast.unparse(tree)
            self.in_progress.add(name)
            try:
                self.scan(tree, namespace, f"{name}()")
            finally:
                self.in_progress.discard(name)
            return
        if hasattr(value, "py_func") and hasattr(value, "targetoptions"):   # a numba dispatcher
            self.globals[name] = value
            return
        if isinstance(value, builtins.type(np.sin)) or callable(value):   # numpy ufunc, builtin
            module = getattr(value, "__module__", None) or ""
            if isinstance(value, np.ufunc) or module.startswith(("numpy", "math")) or module == "builtins":
                self.globals[name] = value
                return
        raise CannotCompile(f"{where} uses {name!r} ({type(value).__name__}), which numba cannot compile")


def _untranslatable(tree, line_offset=0):
    """Why ``tree`` (a method or helper; its lines + ``line_offset`` are the file's)
    cannot be compiled, or None:

    - it defines a function, lambda or class inside it: closures, late binding and
      defaults captured at the ``def`` are not translated (such code once compiled
      to functions returning 0);
    - it calls ``argsort`` without ``kind="stable"``: numpy's default sort may
      put equal values in another order than numba's;
    - it updates an item of a list or tuple it made (``items[0] += 1``): Python
      updates an array item in place, numba's code would rebind the item to a new
      array."""
    sequences = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and (isinstance(node.value, (ast.List, ast.Tuple, ast.ListComp))
                      or (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                          and node.value.func.id in ("list", "tuple")))
                 for target in node.targets if isinstance(target, ast.Name)}
    for node in ast.walk(tree):
        if node is tree:
            continue
        line = getattr(node, "lineno", 0) + line_offset
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            what = {ast.Lambda: "a lambda", ast.ClassDef: f"the class {getattr(node, 'name', '')}"}.get(
                type(node), f"the function {getattr(node, 'name', '')}()")
            return (f"defines {what} inside it (line {line}): the compiler does not translate "
                    "nested functions; define it at module level")
        if isinstance(node, ast.Delete):
            return f"uses del (line {line}), which the array form does not translate"
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript) \
                and isinstance(node.target.value, ast.Name) and node.target.value.id in sequences:
            return (f"updates an item of the list or tuple {node.target.value.id!r} (line {line}): "
                    "Python updates an array item in place, which the compiled array code would not; "
                    "update the array by its own name")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "argsort":
            method = not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy"))
            kinds = [k.value for k in node.keywords if k.arg == "kind"]
            position = 1 if method else 2          # x.argsort(axis, kind) / np.argsort(x, axis, kind)
            if len(node.args) > position:
                kinds.append(node.args[position])
            if not (len(kinds) == 1 and isinstance(kinds[0], ast.Constant)
                    and kinds[0].value in ("stable", "mergesort")):
                return (f"calls argsort without kind='stable' (line {line}): numpy's default sort may "
                        "order equal values otherwise than the compiled code's; pass kind='stable'")
    return None


def _same_object(a, b):
    """``a is b``, or equal constants of one type (two modules' ``TAU = 3.0``)."""
    if a is b:
        return True
    constants = (bool, int, float, complex, str, tuple, type(None))
    return type(a) is type(b) and isinstance(a, constants) and repr(a) == repr(b)


def _function_source(function):
    try:
        source = textwrap.dedent("".join(source_lines(function)[0]))
        module = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None, None
    for node in module.body:
        if isinstance(node, ast.FunctionDef):
            return node, source
    return None, None


class _Rewriter(ast.NodeTransformer):
    """``pp.x`` → ``_f_x``; assignments to fields per mode; events; returns."""

    def __init__(self, pp, events, mode, outputs, code_for):
        self.pp, self.events, self.mode = pp, events, mode
        self.outputs = outputs
        self.code_for = code_for
        self.counter = 0
        self.aliases = {}       # name -> the name of the array it was bound to (or None)

    def _field(self, node):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == self.pp:
            return node.attr
        return None

    def _temp(self):
        self.counter += 1
        return f"{PREFIX}t{self.counter}"

    def visit_Attribute(self, node):
        field = self._field(node)
        if field is not None:
            return ast.copy_location(ast.Name(F_PREFIX + field, ast.Load()), node)
        if self.events and isinstance(node.value, ast.Name) and node.value.id == self.events:
            if node.attr == "mech_index":
                return ast.copy_location(ast.Name(PREFIX + "ev_target", ast.Load()), node)
            if node.attr == "weight":
                return ast.copy_location(ast.Name(PREFIX + "ev_weight", ast.Load()), node)
            raise CannotCompile(f"events.{node.attr} is not supported (use events.mech_index, events.weight)")
        self.generic_visit(node)
        return node

    def visit_Name(self, node):
        if self.events and node.id == self.events:
            raise CannotCompile("events may be used only as events.mech_index, events.weight, "
                                "len(events) or 'for target, weight in events'")
        return node

    def visit_Call(self, node):
        if (self.events and isinstance(node.func, ast.Name) and node.func.id == "len"
                and len(node.args) == 1 and isinstance(node.args[0], ast.Name)
                and node.args[0].id == self.events):
            return ast.copy_location(ast.Name(PREFIX + "ev_n", ast.Load()), node)
        self.generic_visit(node)
        return node

    def visit_For(self, node):
        if self.events and isinstance(node.iter, ast.Name) and node.iter.id == self.events:
            node.iter = ast.Call(ast.Name("zip", ast.Load()),
                                 [ast.Name(PREFIX + "ev_target", ast.Load()), ast.Name(PREFIX + "ev_weight", ast.Load())], [])
            node.target = self.visit(node.target)
            node.body = self._statements(node.body)
            node.orelse = self._statements(node.orelse)
            return node
        self.generic_visit(node)
        return node

    def _statements(self, statements):
        out = []
        for statement in statements:
            result = self.visit(statement)
            out.extend(result if isinstance(result, list) else [result])
        return out

    def generic_visit(self, node):
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, name, self._statements(value))
        return super().generic_visit(node)

    def _return_value(self):
        if self.mode == "array":
            return ast.Constant(0)
        return ast.Tuple([ast.Name(F_PREFIX + name, ast.Load()) for name in self.outputs], ast.Load())

    def visit_Return(self, node):
        return ast.copy_location(ast.Return(self._return_value()), node)

    def _store(self, field, value, node):
        """Statements for ``pp.<field> = value``."""
        target = F_PREFIX + field
        if self.mode == "scalar":
            return [ast.copy_location(ast.Assign([ast.Name(target, ast.Store())], value), node)]
        # _assign_field returns 0, or what the value was (see mathlib.assign_field):
        # the status carries it above the code's bits (abi.contract), for the shim's message.
        check = ast.Call(ast.Name(PREFIX + "assign_field", ast.Load()), [ast.Name(target, ast.Load()), value], [])
        status = ast.Name(PREFIX + "assign_status", ast.Store())
        failed = ast.Compare(ast.Name(PREFIX + "assign_status", ast.Load()), [ast.NotEq()], [ast.Constant(0)])
        code = ast.BinOp(ast.Constant(self.code_for(field)), ast.Add(),
                         ast.BinOp(ast.Name(PREFIX + "assign_status", ast.Load()), ast.Mult(),
                                   ast.Constant(1 << contract.STATUS_CODE_BITS)))
        return [ast.copy_location(ast.Assign([status], check), node),
                ast.copy_location(ast.If(failed, [ast.Return(code)], []), node)]

    def visit_Assign(self, node):
        value = self.visit(node.value)
        if not any(self._has_field(t) for t in node.targets):
            node.value = value
            node.targets = [self.visit(t) for t in node.targets]
            for target in node.targets:      # m = pp.m: m names that array (see visit_AugAssign)
                if isinstance(target, ast.Name):
                    self.aliases[target.id] = value.id if isinstance(value, ast.Name) else None
            return node
        statements = []
        temp = self._temp()
        statements.append(ast.copy_location(ast.Assign([ast.Name(temp, ast.Store())], value), node))
        for target in node.targets:
            field = self._field(target)
            if field is not None:
                statements += self._store(field, ast.Name(temp, ast.Load()), node)
            elif isinstance(target, (ast.Tuple, ast.List)):
                statements += self._unpack(target, ast.Name(temp, ast.Load()), node)
            else:
                statements.append(ast.copy_location(
                    ast.Assign([self.visit(target)], ast.Name(temp, ast.Load())), node))
        return statements

    def _has_field(self, target):
        return any(self._field(n) is not None for n in ast.walk(target))

    def _unpack(self, target, value, node):
        names, after = [], []
        for element in target.elts:
            field = self._field(element)
            if field is not None:
                temp = self._temp()
                names.append(ast.Name(temp, ast.Store()))
                after += self._store(field, ast.Name(temp, ast.Load()), node)
            elif isinstance(element, (ast.Tuple, ast.List)):
                temp = self._temp()
                names.append(ast.Name(temp, ast.Store()))
                after += self._unpack(element, ast.Name(temp, ast.Load()), node)
            else:
                names.append(self.visit(element))
        first = ast.copy_location(ast.Assign([ast.Tuple(names, ast.Store())], value), node)
        return [first] + after

    def visit_AugAssign(self, node):
        field = self._field(node.target)
        value = self.visit(node.value)
        if field is None and isinstance(node.target, ast.Subscript):
            # x[a:b] += y as numpy does it: y (which may be a view of x, x[:-1]) is
            # read before x[a:b] is written; numba's in-place loop would read the
            # elements it already changed. (The same for x[idx] with an index.)
            target = self.visit(node.target)
            read = copy.deepcopy(target)
            for part in ast.walk(read):
                if hasattr(part, "ctx"):
                    part.ctx = ast.Load()
            assign = ast.Assign([target], ast.BinOp(read, node.op, value))
            return ast.fix_missing_locations(ast.copy_location(assign, node))
        if field is None and isinstance(node.target, ast.Name) and self._reads_view_of(node.target.id, value):
            # m += m[::-1] (m an array): numpy reads the view before writing m
            name = node.target.id
            target = ast.Subscript(ast.Name(name, ast.Load()), ast.Constant(Ellipsis), ast.Store())
            assign = ast.Assign([target], ast.BinOp(ast.Name(name, ast.Load()), node.op, value))
            return ast.fix_missing_locations(ast.copy_location(assign, node))
        if field is None:
            node.target = self.visit(node.target)
            node.value = value
            return node
        current = ast.Name(F_PREFIX + field, ast.Load())
        return self._store(field, ast.BinOp(current, node.op, value), node)

    def _reads_view_of(self, name, value):
        """``value`` subscripts the array ``name`` holds (by that name or another
        bound to the same array by a plain assignment)."""
        def same(other):
            return other == name or self.aliases.get(name) == other or self.aliases.get(other) == name \
                or (self.aliases.get(name) is not None and self.aliases.get(name) == self.aliases.get(other))
        for part in ast.walk(value):
            if isinstance(part, ast.Subscript):
                base = part.value
                while isinstance(base, ast.Subscript):
                    base = base.value
                if isinstance(base, ast.Name) and same(base.id):
                    return True
        return False

    def visit_AnnAssign(self, node):
        if node.value is None:
            return node
        return self.visit_Assign(ast.copy_location(ast.Assign([node.target], node.value), node))


def translate(spec, method, plan, mode, code_for):
    """Rewrite ``method`` (a MethodSpec) into a :class:`Kernel` of the given mode.

    ``code_for(field)`` returns the status code that reports a wrong-shaped
    assignment to ``pp.<field>``.
    """
    access = method.access
    if access.tree is None:
        raise CannotCompile(f"{method.name}: its source code is not available")
    if mode == "scalar":
        if method.name in ("apply_events", "post_event"):
            raise CannotCompile("not element-wise")
        from .lower import lower
        lowered = lower(spec, method, plan, f"{PREFIX}kernel_{method.name}_scalar", code_for)
        kernel = Kernel(lowered.name, lowered.source, lowered.params, lowered.outputs, {},
                        lowered.namespace, mode)
        kernel.uniform_reads = lowered.uniform_reads
        kernel.raises = lowered.raises
        kernel.prelude = lowered.prelude
        kernel.records, kernel.formats_index = lowered.records, lowered.formats_index
        return kernel
    if access.opaque:
        raise CannotCompile(f"{method.name}: {access.why_opaque}")
    if access.named:
        raise CannotCompile(f"{method.name}: getattr/setattr on pp (line {access.named[0]}) compiles in the "
                            "scalar form only (element-wise code), and this method needs the array form")
    tree = copy.deepcopy(access.tree)
    args = [a.arg for a in tree.args.posonlyargs + tree.args.args]
    self_name, pp = args[0], args[1]
    events = args[2] if method.name == "apply_events" and len(args) > 2 else None
    if len(args) > (3 if method.name == "apply_events" else 2) or tree.args.kwonlyargs:
        raise CannotCompile(f"{method.name} takes more arguments than Arbor passes")
    if tree.decorator_list:
        raise CannotCompile(f"{method.name} is decorated: the compiler cannot see what the decorator does")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id.startswith(PREFIX):
            raise CannotCompile(f"{method.name} uses the name {node.id!r} (line {node.lineno}): names "
                                f"starting with {PREFIX!r} are the library's")
    _check_readonly_writes(tree, pp, plan, _resolver(method.function), method.name)
    _check_truth_tests(tree, pp, plan, method)
    tree = _ClassConstants(self_name, spec.cls).visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == self_name:
            raise CannotCompile(f"{method.name} uses '{self_name}' (line {node.lineno}); the array form "
                                "compiles methods as plain functions, without the instance (self.<name> "
                                "compiles in element-wise code only): use module-level functions and "
                                "constants here")
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal)):
            raise CannotCompile(f"{method.name}: {type(node).__name__} is not supported")
    nested = _untranslatable(tree)
    if nested is not None:
        raise CannotCompile(f"{method.name} {nested}")
    namespace = _resolver(method.function)
    tree = OpenErrstate(namespace, tree).visit(tree)
    used = sorted((access.reads | access.writes) & set(plan))
    outputs = sorted(access.writes & set(plan))

    tree = _FastMath(namespace).visit(tree)
    rewriter = _Rewriter(pp, events, mode, outputs, code_for)
    body = rewriter._statements(tree.body)
    raises = _Raises(namespace, method.function, code_for)
    body = [raises.visit(statement) for statement in body]
    body = [s for statement in body for s in (statement if isinstance(statement, list) else [statement])]
    body.append(ast.Return(rewriter._return_value()))
    kernel_name = f"{PREFIX}kernel_{method.name}_{mode}"
    params = [F_PREFIX + name for name in used]
    if events:
        params += [PREFIX + "ev_target", PREFIX + "ev_weight", PREFIX + "ev_n"]
    if raises.records:
        params.append(PREFIX + "rec")
    function = ast.FunctionDef(
        name=kernel_name,
        args=ast.arguments(posonlyargs=[], args=[ast.arg(p) for p in params], vararg=None,
                           kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
        body=body, decorator_list=[], returns=None, type_params=[])
    ast.fix_missing_locations(function)
    collector = _Collector()
    generated = {PREFIX + "assign_field": None, PREFIX + "raise_value": None, PREFIX + "raise_count": None}
    collector.scan(function, {**namespace, **generated, "zip": zip}, method.name)
    if mode == "scalar" and not collector.elementwise:
        raise CannotCompile(f"not element-wise: {collector.why_not_elementwise}")
    for name in generated:
        collector.globals.pop(name, None)
    collector.globals.pop("zip", None)
    kernel = Kernel(kernel_name, ast.unparse(function), used, outputs, collector.helpers,
                    collector.globals, mode)
    kernel.events_only = events is not None and _events_only(access.tree, events)
    kernel.records = raises.records
    return kernel


class _Raises(ast.NodeTransformer):
    """``raise E("text")`` with a constant text → ``return <status>``: the run then
    fails with ``E: text (raised at file:line)``, as the scalar form's (lower.py) and
    the python backend's ``E: text``. A computed message (``f"v = {v:.1f}"``, ``"t = "
    + str(t)``) records the numbers it formats in the shim's raise record first,
    and the formatter makes its text in Python (messages.py); ``records`` is then
    True and the kernel takes the record's address as its last argument. Other
    raises stay numba's (a generic message)."""

    def __init__(self, namespace, function, code_for):
        self.namespace, self.function, self.code_for = namespace, function, code_for
        self.records = False

    def visit_Raise(self, node):
        exc = node.exc
        if exc is None or node.cause is not None:
            return node
        func, args = (exc.func, exc.args) if isinstance(exc, ast.Call) else (exc, [])
        if isinstance(exc, ast.Call) and exc.keywords or not isinstance(func, ast.Name):
            return node
        cls = self.namespace.get(func.id, getattr(builtins, func.id, None))
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            return node
        place = _file_line(self.function, node)
        if not all(isinstance(a, ast.Constant) for a in args):
            return self._computed(node, cls, args, place)
        message = raise_message(cls, [a.value for a in args], place)
        if message is None:
            return node
        return ast.copy_location(ast.Return(ast.Constant(self.code_for("raise:" + message))), node)

    def _computed(self, node, cls, args, place):
        """The statements that record a computed message's numbers and return its code."""
        def is_builtin(name):
            return name not in self.namespace or self.namespace[name] is getattr(builtins, name, None)
        try:
            splitter = messages.split(cls, args, is_builtin)
        except messages.NotAMessage:
            return node
        fixed = {j: leaf.value for j, leaf in enumerate(splitter.leaves) if isinstance(leaf, ast.Constant)}
        recorded = [leaf for j, leaf in enumerate(splitter.leaves) if j not in fixed]
        # The array form cannot tell numpy's scalars from Python's numbers: repr would.
        if splitter.uses_repr or len(recorded) > contract.RAISE_VALUES:
            return node
        template = messages.Template(cls, splitter.source, place, tuple(sorted(fixed.items())),
                                     (None,) * len(recorded))
        self.records = True
        body = messages.record_statements(ast.Name(PREFIX + "rec", ast.Load()), recorded)
        body.append(ast.Return(ast.Constant(self.code_for(template))))
        return [ast.copy_location(statement, node) for statement in body]


def _events_only(tree, events):
    """True when every statement of apply_events is a no-op without events: loops over
    the events (``for ... in events``, ``range(len(events))``, ``zip(events.mech_index,
    ...)``) and updates indexed by ``events.mech_index``."""
    def over_events(iterable):
        if isinstance(iterable, ast.Name):
            return iterable.id == events
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and not iterable.keywords:
            if iterable.func.id == "range" and len(iterable.args) == 1:
                arg = iterable.args[0]
                return isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == "len" \
                    and len(arg.args) == 1 and isinstance(arg.args[0], ast.Name) and arg.args[0].id == events
            if iterable.func.id in ("zip", "enumerate"):
                return bool(iterable.args) and all(
                    isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == events
                    for a in iterable.args)
        return False

    def indexed_by_events(target):
        return isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Attribute) \
            and isinstance(target.slice.value, ast.Name) and target.slice.value.id == events \
            and target.slice.attr == "mech_index"

    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.For) and not statement.orelse and over_events(statement.iter):
            continue
        if isinstance(statement, ast.AugAssign) and indexed_by_events(statement.target):
            continue
        return False
    return True
