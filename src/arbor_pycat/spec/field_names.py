"""The field names of ``getattr(pp, name)`` and ``setattr(pp, name, value)``, found
before anything runs.

A method may name its fields with strings: ``getattr(pp, "m")``, or in a loop
over names, ``for gate in ("m", "h", "n"): setattr(pp, gate, ...)``, over a
module or class constant (``GATES``, ``self.GATES``), a dict's keys or
``.items()``, ``zip(...)`` or ``enumerate(...)`` of those. :func:`names_of`
works out the set of strings the name can hold at one call, from the loop
that binds it there (the innermost), so that the access analysis sees every
field the method touches. A name it cannot resolve to constant strings makes
the method's access opaque, as any other use of ``pp`` as a value does.

:func:`function_namespace` (the names a function sees) is shared with the
numba backend's compiler.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import types


def function_namespace(function):
    """The names ``function`` sees: its module's globals and its closure's cells."""
    namespace = dict(getattr(function, "__globals__", {}))
    closure = getattr(function, "__closure__", None) or ()
    for name, cell in zip(function.__code__.co_freevars, closure):
        try:
            namespace[name] = cell.cell_contents
        except ValueError:
            pass
    return namespace


def local_names(tree: ast.AST) -> set[str]:
    """The names ``tree`` (a function) binds itself: assigned, looped over, arguments."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)} \
        | {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}


def parents(tree: ast.AST) -> dict[int, ast.AST]:
    """id(node) -> its parent, for every node of ``tree``."""
    out = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            out[id(child)] = node
    return out


class _Unknown(Exception):
    """The value is not a constant the analysis can see."""


class Resolver:
    """Constant values of expressions in one method (``function``, of class ``owner``)."""

    def __init__(self, function, tree: ast.FunctionDef, owner: type | None = None):
        self.function, self.tree, self.owner = function, tree, owner
        self.parent = parents(tree)
        arguments = tree.args.posonlyargs + tree.args.args
        self.self_name = arguments[0].arg if arguments else None
        self.namespace = function_namespace(function)      # globals, then the closure's cells
        self.local = local_names(tree)

    def is_builtin(self, name: str) -> bool:
        """True when ``name`` in the method means the builtin of that name (not a
        local, a global or a closure variable of the same name)."""
        return name not in self.local and self._global(name) is getattr(builtins, name)

    # -- the strings a name argument can be ----------------------------------------
    def names_of(self, node: ast.expr) -> frozenset[str] | None:
        """The strings ``node`` (the name argument of getattr/setattr) can hold, or None."""
        try:
            values = self._values_at(node)
        except _Unknown:
            return None
        if not values or not all(isinstance(v, str) for v in values):
            return None
        return frozenset(values)

    def _values_at(self, node):
        """Every value ``node`` can have where it is (a set of constants)."""
        if isinstance(node, ast.Constant):
            return {node.value}
        if isinstance(node, ast.Name):
            loop = self._binding_loop(node)
            if loop is not None:
                target, iterable = loop
                return {self._hashable(item) for item in self._items_of(target, node.id, iterable)}
            if self._bound_locally(node.id):
                raise _Unknown
            return {self._hashable(self._global(node.id))}
        return {self._hashable(self.constant(node))}

    @staticmethod
    def _hashable(value):
        try:
            hash(value)
        except TypeError:
            raise _Unknown from None
        return value

    def _binding_loop(self, use):
        """(target, iterable) of the innermost loop around ``use`` whose target binds
        its name; None when no loop does. Raises _Unknown when the name is also
        bound otherwise inside that loop (its value there is not the loop's)."""
        name = use.id
        node = use
        while id(node) in self.parent:
            parent = self.parent[id(node)]
            loops = []
            if isinstance(parent, ast.For) and node is not parent.iter and node is not parent.target:
                loops = [parent]
            elif isinstance(parent, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                loops = list(reversed(parent.generators))
            for loop in loops:
                if name in _target_names(loop.target):
                    body = loop.body if isinstance(loop, ast.For) else [parent]
                    if any(self._rebinds(statement, name, loop.target) for statement in body):
                        raise _Unknown
                    return loop.target, loop.iter
            node = parent
        return None

    def _rebinds(self, tree, name, allowed):
        allowed_ids = {id(n) for n in ast.walk(allowed)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load) \
                    and id(node) not in allowed_ids:
                return True
        return False

    def _bound_locally(self, name):
        return name in self.local

    def _items_of(self, target, name, iterable):
        """The values ``name`` takes in ``for target in iterable``."""
        out = []
        for item in self._iterate(self.constant(iterable)):
            out += _destructure(target, name, item)
        return out

    @staticmethod
    def _iterate(value):
        if isinstance(value, dict):
            return list(value)
        if isinstance(value, (tuple, list, str, range)):
            return list(value)
        raise _Unknown

    # -- constants ---------------------------------------------------------------------
    def constant(self, node):
        """The value of ``node`` when it is a constant known before anything runs."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                raise _Unknown
            items = [self.constant(e) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise _Unknown
            return {self._hashable(self.constant(k)): self.constant(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Name):
            if self._bound_locally(node.id):
                raise _Unknown
            return self._global(node.id)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Call) and not node.keywords:
            return self._call(node)
        raise _Unknown

    def _global(self, name):
        if name in self.namespace:
            return self.namespace[name]
        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise _Unknown

    def _attribute(self, node):
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id == self.self_name and self.owner is not None:
            cls = self.owner
        else:
            cls = self.constant(owner)
        if isinstance(cls, types.ModuleType):
            if not hasattr(cls, node.attr):
                raise _Unknown
            return getattr(cls, node.attr)
        if isinstance(cls, type):
            try:
                raw = inspect.getattr_static(cls, node.attr)
            except AttributeError:
                raise _Unknown from None
            if isinstance(raw, (property, types.FunctionType, staticmethod, classmethod)):
                raise _Unknown
            return raw
        raise _Unknown

    def _call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("items", "keys", "values") and not node.args:
            owner = self.constant(func.value)
            if not isinstance(owner, dict):
                raise _Unknown
            return tuple(getattr(owner, func.attr)())
        if isinstance(func, ast.Name) and func.id in ("zip", "enumerate", "reversed", "tuple", "list") \
                and not self._bound_locally(func.id) and self._global(func.id) is getattr(builtins, func.id):
            args = [self._iterate(self.constant(a)) for a in node.args]
            if func.id == "zip":
                return tuple(zip(*args))
            if len(args) != 1:
                raise _Unknown
            if func.id == "enumerate":
                return tuple(enumerate(args[0]))
            if func.id == "reversed":
                return tuple(reversed(args[0]))
            return tuple(args[0]) if func.id == "tuple" else list(args[0])
        raise _Unknown


def _target_names(target):
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _destructure(target, name, item):
    """The values ``name`` gets when ``target = item`` (a list: one or none)."""
    if isinstance(target, ast.Name):
        return [item] if target.id == name else []
    if isinstance(target, (ast.Tuple, ast.List)):
        if any(isinstance(e, ast.Starred) for e in target.elts):
            raise _Unknown
        try:
            parts = list(item)
        except TypeError:
            raise _Unknown from None
        if len(parts) != len(target.elts):
            raise _Unknown
        out = []
        for element, part in zip(target.elts, parts):
            out += _destructure(element, name, part)
        return out
    raise _Unknown
