"""Computed messages of the user's ``raise``: made in Python from numbers the compiled code records.

``raise ValueError(f"v = {v:.1f} mV at {t} ms")`` in a compiled method: the
compiled code cannot format text, so the message is split in two. The
numbers it formats (``v``, ``t``: the *leaves*) are computed by the compiled
code, which writes them into the shim's raise record (kind and 64 bits each,
see :mod:`arbor_pycat.abi.contract`) and returns the message's code; the rest
(the f-string, ``str()``, ``+`` of strings, ``%`` and ``.format``: the
*template*, with each leaf replaced by a name) is Python, evaluated by the
mechanism's formatter when the shim reports the failure. The text is then the
one Python makes of the same numbers: exactly the python backend's.

Only ``repr`` tells a Python float from numpy's (``1.5`` against
``np.float64(1.5)``): where a template uses it (``!r``, ``repr()``, ``%r``,
several exception arguments, a ``KeyError`` of a number) and the compiled
form cannot tell which the python backend has, the message is not split.
"""
from __future__ import annotations

import ast
import builtins
import struct
from dataclasses import dataclass

from ...abi import contract
from .naming import PREFIX

LEAF = PREFIX + "m"        # the template's name of leaf j: __pc_m<j>
_TEXT_FUNCTIONS = frozenset({"str", "repr", "ascii", "format"})


def raise_message(cls, values, place):
    """What the run fails with for the user's ``raise cls(*values)`` at ``place``
    (``file:line``), in both forms: ``E: text (raised at file:line)``; None when the
    exception cannot be made from those values."""
    try:
        text = str(cls(*values))
    except Exception:
        return None
    return f"{cls.__name__}: {text} (raised at {place})"


class NotAMessage(Exception):
    """The arguments of a raise are not something this module can split."""


@dataclass(frozen=True)
class Template:
    """The message of one ``raise cls(args...)`` at ``place`` (``file:line``):
    ``source``, the arguments as a Python tuple expression over the leaves
    ``__pc_m0 ...``; ``fixed`` the values of leaves known when it was compiled
    (constants), by leaf number; ``python``, for each recorded leaf in order,
    True where the python backend has a Python number there, False a numpy
    scalar, None unknown (only ``repr`` tells them apart, see the module's
    docstring)."""
    cls: type
    source: str
    place: str
    fixed: tuple = ()
    python: tuple = ()

    def text(self, words) -> str | None:
        """``E: text (raised at file:line)`` for the raise record ``words`` (None
        where the record does not fit this template or the text cannot be made)."""
        values = decode(words, self.python)
        if values is None or len(values) != len(self.python):
            return None
        names = dict(self.fixed)
        recorded = iter(values)
        for j in range(len(self.fixed) + len(self.python)):
            if j not in names:
                names[j] = next(recorded)
        scope = {f"{LEAF}{j}": value for j, value in names.items()}
        try:
            args = eval(self.source, {"__builtins__": builtins}, scope)   # the user's own template
        except Exception:
            return None
        return raise_message(self.cls, list(args), self.place)


def decode(words, python):
    """The numbers of a raise record (a tuple of int64 words), as Python has
    them: Python's where ``python[j]`` is True, numpy's otherwise."""
    import numpy as np
    if not words or not 0 <= words[0] <= contract.RAISE_VALUES:
        return None
    values = []
    for j in range(words[0]):
        kind, bits = words[1 + 2 * j], words[2 + 2 * j]
        own = j < len(python) and python[j] is True
        if kind == contract.RAISE_INT:
            values.append(int(bits) if own else np.int64(bits))
        elif kind == contract.RAISE_FLOAT:
            x = struct.unpack("<d", struct.pack("<q", bits))[0]
            values.append(x if own else np.float64(x))
        elif kind == contract.RAISE_BOOL:
            values.append(bool(bits) if own else np.bool_(bits))
        else:
            return None
    return values


class Split:
    """Split the arguments of a raise into a template and its leaves.

    ``is_builtin(name)`` says whether a name in the method means Python's
    builtin of that name (``str``, ``repr``, ``format``, ``ascii``)."""

    def __init__(self, is_builtin):
        self.is_builtin = is_builtin
        self.leaves: list[ast.expr] = []
        self.uses_repr = False
        self.source = ""            # the template, once split() has made it

    def arguments(self, args) -> str:
        """The template of ``args`` as the source of a tuple expression."""
        if len(args) != 1:
            self.uses_repr = True            # str(E(a, b)) is the repr of the tuple
        template = ast.Tuple([self.argument(a) for a in args], ast.Load())
        return ast.unparse(ast.fix_missing_locations(template))

    def argument(self, node):
        return self.text(node) if self.is_text(node) else self.leaf(node)

    def leaf(self, node):
        j = len(self.leaves)
        self.leaves.append(node)
        return ast.Name(f"{LEAF}{j}", ast.Load())

    @staticmethod
    def _plus(node):
        """``a + b`` for the array form's ``__pc_add(a, b)`` (translate's _FastMath), else ``node``."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == PREFIX + "add" \
                and len(node.args) == 2 and not node.keywords:
            return ast.BinOp(node.args[0], ast.Add(), node.args[1])
        return node

    def is_text(self, node) -> bool:
        """True where ``node`` is a string this module rebuilds (not a leaf)."""
        node = self._plus(node)
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        if isinstance(node, ast.JoinedStr):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
            return self.is_text(node.left)
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                return node.func.id in _TEXT_FUNCTIONS and self.is_builtin(node.func.id)
            if isinstance(node.func, ast.Attribute):
                return self.is_text(node.func.value)
        return False

    def text(self, node):
        node = self._plus(node)
        if isinstance(node, ast.Constant):
            return ast.Constant(node.value)
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(ast.Constant(value.value))
                    continue
                if value.conversion in (ord("r"), ord("a")):
                    self.uses_repr = True
                formatted = self.argument(value.value)        # Python's order: the value, then the spec
                spec = self.text(value.format_spec) if value.format_spec is not None else None
                parts.append(ast.FormattedValue(formatted, value.conversion, spec))
            return ast.JoinedStr(parts)
        if isinstance(node, ast.BinOp):
            left = self.text(node.left)
            if isinstance(node.op, ast.Mod):
                if not (isinstance(node.left, ast.Constant) and "%r" not in node.left.value
                        and "%a" not in node.left.value and "(" not in node.left.value):
                    self.uses_repr = True        # a computed format, or one that may use repr
                right = (ast.Tuple([self.argument(e) for e in node.right.elts], ast.Load())
                         if isinstance(node.right, ast.Tuple) else self.argument(node.right))
                return ast.BinOp(left, ast.Mod(), right)
            return ast.BinOp(left, ast.Add(), self.argument(node.right))
        if isinstance(node, ast.Call):
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                raise NotAMessage("*args or **kwargs in a message")
            if isinstance(node.func, ast.Name):
                if node.func.id in ("repr", "ascii"):
                    self.uses_repr = True
                func = ast.Name(node.func.id, ast.Load())
            else:
                receiver = node.func.value
                if node.func.attr == "format" and not (
                        isinstance(receiver, ast.Constant) and "!r" not in receiver.value
                        and "!a" not in receiver.value):
                    self.uses_repr = True
                if node.func.attr not in ("format", "upper", "lower", "strip", "title", "capitalize",
                                          "center", "ljust", "rjust", "zfill", "join", "replace"):
                    raise NotAMessage(f"str.{node.func.attr} in a message")
                func = ast.Attribute(self.text(receiver), node.func.attr, ast.Load())
            return ast.Call(func, [self.argument(a) for a in node.args],
                            [ast.keyword(k.arg, self.argument(k.value)) for k in node.keywords])
        raise NotAMessage(f"{type(node).__name__} in a message")


def split(cls, args, is_builtin):
    """The :class:`Split` of ``raise cls(*args)``, its template made (``.source``);
    raises NotAMessage."""
    splitter = Split(is_builtin)
    if len(args) == 1 and not splitter.is_text(args[0]) and issubclass(cls, KeyError):
        splitter.uses_repr = True          # str(KeyError(x)) is repr(x)
    splitter.source = splitter.arguments(args)
    return splitter


def record_statements(record, numbers):
    """The statements that write ``numbers`` (expressions) into the raise record at
    ``record`` (an expression of its address), then their count."""
    def call(name, *args):
        return ast.Expr(ast.Call(ast.Name(PREFIX + name, ast.Load()), list(args), []))
    return [call("raise_value", record, ast.Constant(j), number) for j, number in enumerate(numbers)] \
        + [call("raise_count", record, ast.Constant(len(numbers)))]


class Formatter:
    """The callable the shim calls with (code, raise record words) when a compiled
    method fails with a computed message: the whole message, or None (the shim
    then throws the code's fixed text)."""

    def __init__(self, templates: dict, prefixes: dict):
        self.templates, self.prefixes = dict(templates), dict(prefixes)

    def __call__(self, code, words):
        try:
            template = self.templates.get(code)
            if template is None:
                return None
            text = template.text(words)
            return None if text is None else self.prefixes[code] + text
        except BaseException:      # never let an exception reach the shim
            return None
