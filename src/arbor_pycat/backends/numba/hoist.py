"""Values of a scalar kernel that depend on the temperature alone, once per call.

Channel code often computes its temperature factor at every step, e.g.
``phi = 3.0 ** ((pp.temperature - 6.3) / 10.0)``: one ``pow`` (an ``exp``
and a ``log``) per instance and step, where NMODL would compute ``q10``
once, in ``INITIAL``. Arbor's temperature is a per-CV array, equal on every
CV unless the model paints different temperatures.

This module splits a lowered kernel (see :mod:`.lower`) into

* a *prelude*: the kernel's top-level assignments whose values depend only
  on the temperature, constants and pure math functions, as a function of the
  temperature returning the values the rest of the kernel uses; and
* the kernel without them, taking those values as extra parameters.

The entry (:mod:`.entry_scalar`) checks at each call whether every instance
has the same temperature, bit for bit; then it calls the prelude once, for
that temperature, and passes its values to every instance. Otherwise it calls
the prelude for each instance. Both ways each instance gets the value the
unsplit kernel would compute from its own temperature: the same operations
on the same number.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from .naming import PREFIX

#: Fields whose values are, in practice, the same for every instance.
UNIFORM_FIELDS = ("temperature",)

# Functions of the generated module without side effects (see generate._runtime_globals).
_PURE_RUNTIME = frozenset(PREFIX + name for name in (
    "s_exp", "s_exp_in_range", "s_expm1", "s_log", "s_pow", "s_tanh", "s_log1p", "s_exprelr",
    "np_maximum", "np_minimum", "np_fmax", "np_fmin", "np_sign", "np_heaviside",
    "np_clip_lo", "np_clip_hi", "above", "above_or_at", "below", "below_or_at",
    "np_isclose", "np_isclose_nan", "nan", "inf"))
_PURE_BUILTINS = frozenset(("float", "abs", "min", "max"))
# Module attributes the lowering calls (numpy's are the element-wise ones it emits).
_PURE_MODULES = {PREFIX + "math": None,     # every function of math is pure
                 PREFIX + "np": frozenset((
                     "sqrt", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
                     "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "floor", "ceil",
                     "trunc", "rint", "isnan", "isinf", "isfinite", "cbrt", "deg2rad", "rad2deg",
                     "degrees", "radians", "fabs", "abs", "absolute"))}
# Calls that make a prelude worth its check (the costly part of a temperature factor):
# the call-free math functions (s_exp, s_pow, ...) and numpy's and math's.
_COSTLY = frozenset(n for n in _PURE_RUNTIME if n.startswith(PREFIX + "s_")) | set(_PURE_MODULES)


@dataclass(frozen=True)
class Prelude:
    """What the entry needs to call a kernel split by :func:`split`."""
    field: str                 # the field the prelude depends on (a UNIFORM_FIELDS name)
    name: str                  # the prelude function's name in the generated module
    source: str                # its source: def <name>(<field parameter>): ... return (values...)
    values: tuple[str, ...]    # the kernel parameters it supplies, in order (after the others)
    kernel_reads_field: bool   # False: the field is no longer a parameter of the kernel


def split(function_def: ast.FunctionDef, field_params: dict[str, str]) -> Prelude | None:
    """Move the temperature-only assignments of ``function_def`` (a lowered kernel,
    changed in place) into a prelude; None (and no change) when there is none worth it.

    ``field_params`` maps field names to the kernel's parameters."""
    stores = _stores(function_def)
    for field in UNIFORM_FIELDS:
        param = field_params.get(field)
        if param is None or stores.get(param, 0):
            continue
        prelude = _split_on(function_def, field, param, stores)
        if prelude is not None:
            return prelude
    return None


def _split_on(function_def, field, param, stores):
    known = {param}
    # a field assigned a temperature-only value (``pp.q10 = 3 ** ((T - 6.3)/10)``)
    # stays in the kernel, which returns it; its costly part is pulled out below
    parameters = {a.arg for a in function_def.args.args}
    moved, kept = [], []
    for statement in function_def.body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and statement.targets[0].id not in parameters
                and stores.get(statement.targets[0].id, 0) == 1
                and _depends_only_on(statement.value, known)):
            known.add(statement.targets[0].id)
            moved.append(statement)
        else:
            kept.append(statement)
    # temperature-only parts of the other statements' expressions (``g * 1.5 ** (T/10)``)
    pulled = _PullOut(known)
    kept = [pulled.visit(statement) for statement in kept]
    moved += pulled.statements
    if not any(_is_costly(s.value) for s in moved):
        return None
    used = {n.id for s in kept for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    values = tuple(s.targets[0].id for s in moved if s.targets[0].id in used)
    if not values:
        return None
    name = function_def.name + "_prelude"
    prelude = ast.FunctionDef(
        name=name,
        args=ast.arguments(posonlyargs=[], args=[ast.arg(param)], vararg=None, kwonlyargs=[],
                           kw_defaults=[], kwarg=None, defaults=[]),
        body=moved + [ast.Return(ast.Tuple([ast.Name(v, ast.Load()) for v in values], ast.Load()))],
        decorator_list=[], returns=None, type_params=[])
    ast.fix_missing_locations(prelude)
    function_def.body = kept
    reads_field = param in used
    function_def.args.args = [a for a in function_def.args.args if reads_field or a.arg != param] \
        + [ast.arg(v) for v in values]
    return Prelude(field, name, ast.unparse(prelude), values, reads_field)


class _PullOut(ast.NodeTransformer):
    """Replaces each largest costly subexpression of known names by a new name
    (``__pc_hoisted_<n>``: the lowering's names are ``__pc_<n>_...``), collecting
    their assignments in ``statements``."""

    def __init__(self, known):
        self.known, self.statements = known, []
        self.prefix = PREFIX + "hoisted_"

    def visit(self, node):
        if isinstance(node, ast.Call) and _depends_only_on(node, self.known) and _is_costly(node):
            name = f"{self.prefix}{len(self.statements) + 1}"
            self.statements.append(ast.Assign([ast.Name(name, ast.Store())], node))
            return ast.Name(name, ast.Load())
        return super().visit(node)


def _stores(tree):
    """How often each name is assigned anywhere in ``tree``."""
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            counts[node.id] = counts.get(node.id, 0) + 1
    return counts


_PLAIN_NODES = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp)


def _depends_only_on(value, known):
    """``value`` reads only names in ``known`` and calls only pure functions."""
    if isinstance(value, ast.Call):
        return not value.keywords and _pure_callee(value.func) \
            and all(_depends_only_on(a, known) for a in value.args)
    if isinstance(value, ast.Name):
        return value.id in known
    if isinstance(value, ast.Constant):
        return True
    if isinstance(value, _PLAIN_NODES):
        return all(_depends_only_on(c, known) for c in ast.iter_child_nodes(value) if isinstance(c, ast.expr))
    return False


def _pure_callee(func):
    if isinstance(func, ast.Name):
        return func.id in _PURE_RUNTIME or func.id in _PURE_BUILTINS
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in _PURE_MODULES:
        allowed = _PURE_MODULES[func.value.id]
        return allowed is None or func.attr in allowed
    return False


def _is_costly(value):
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func.value, "id", None)
            if name in _COSTLY:
                return True
    return False
