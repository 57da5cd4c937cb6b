"""Where in the user's file a problem of a mechanism method is.

Messages about a method name the file and line of the offending expression,
show the line (with carets under the expression, as Python's tracebacks do)
and suggest the closest valid names.
"""
import ast
import difflib
import inspect
import linecache
from dataclasses import dataclass

from .inspection import source_lines


@dataclass(frozen=True)
class Location:
    filename: str
    lineno: int
    function: str          # 'HH.compute_currents'
    col: int | None = None
    end_col: int | None = None

    def text(self):
        return linecache.getline(self.filename, self.lineno).rstrip("\n")

    def __str__(self):
        """Two or three lines, as in a Python traceback."""
        out = f'  File "{self.filename}", line {self.lineno}, in {self.function}'
        line = self.text()
        if line.strip():
            stripped = line.lstrip()
            indent = len(line) - len(stripped)
            out += f"\n    {stripped}"
            if self.col is not None and self.end_col is not None and self.end_col > self.col >= indent:
                out += "\n    " + " " * (self.col - indent) + "^" * (self.end_col - self.col)
        return out


def _indent(function):
    """How many columns textwrap.dedent removed from the function's source."""
    try:
        lines, _ = source_lines(function)
    except (OSError, TypeError):
        return 0
    first = next((line for line in lines if line.strip()), "")
    return len(first) - len(first.lstrip())


def _filename(function):
    code = getattr(inspect.unwrap(function), "__code__", None)
    return code.co_filename if code is not None else None


def _qualname(cls, method):
    return f"{cls.__qualname__}.{method}" if cls is not None else method


def of_node(function, node, cls=None, method=None):
    """The Location of ``node`` (a node of the tree of ``inspection.function_tree``)."""
    filename = _filename(function)
    if filename is None or node is None or not hasattr(node, "lineno"):
        return of_function(function, cls, method)
    indent = _indent(function)
    col = getattr(node, "col_offset", None)
    end_col = getattr(node, "end_col_offset", None)
    if getattr(node, "end_lineno", node.lineno) != node.lineno:
        end_col = None
    return Location(filename, node.lineno, _qualname(cls, method or function.__name__),
                    None if col is None else col + indent, None if end_col is None else end_col + indent)


def of_function(function, cls=None, method=None):
    """The Location of the ``def`` line of ``function``, or None."""
    function = inspect.unwrap(function)
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    lineno = code.co_firstlineno
    # skip decorators: point at the def itself
    for offset in range(0, 50):
        text = linecache.getline(code.co_filename, lineno + offset).lstrip()
        if not text:
            break
        if text.startswith(("def ", "async def ")):
            lineno += offset
            break
    return Location(code.co_filename, lineno, _qualname(cls, method or function.__name__))


def field_node(tree, field, store=None):
    """The first ``pp.<field>`` in ``tree`` (a method's FunctionDef); ``store``: only writes
    (True) or only reads (False); None: either."""
    if tree is None:
        return None
    args = tree.args.posonlyargs + tree.args.args
    if len(args) < 2:
        return None
    pp = args[1].arg
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == pp and node.attr == field:
            writes = isinstance(node.ctx, (ast.Store, ast.Del))
            if store is None or store == writes or (store and _is_item_write(tree, node)):
                found.append(node)
        # getattr(pp, name) / setattr(pp, name, value), as resolved by the access analysis
        if isinstance(node, ast.Call) and field in getattr(node, "_pc_fields", ()):
            if store is None or store == node._pc_store or (not store and node.func.id == "getattr"):
                found.append(node)
    return min(found, key=lambda n: (n.lineno, n.col_offset)) if found else None


def _is_item_write(tree, attribute):
    """``pp.x[k] = ...`` or ``pp.x[k] += ...``: a write of pp.x through a subscript."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and node.value is attribute and isinstance(node.ctx, ast.Store):
            return True
    return False


def suggestion(name, candidates):
    """' (did you mean 'gnabar'?)'-style text, or '' when nothing is close."""
    scored = sorted((difflib.SequenceMatcher(None, name, c).ratio(), c) for c in set(candidates))
    scored = [(score, c) for score, c in reversed(scored) if score >= 0.6]
    if not scored:
        return ""
    # only the best ones: 'gnbar' suggests 'gnabar', not also 'gkbar'
    close = [c for score, c in scored if score >= scored[0][0] - 0.05][:3]
    if len(close) == 1:
        return f"did you mean {close[0]!r}?"
    return "did you mean " + ", ".join(repr(c) for c in close[:-1]) + f" or {close[-1]!r}?"


def for_method(spec_or_cls, method_spec, field=None, store=None, node=None):
    """The Location of ``field`` (or ``node``) in ``method_spec``, else of its def line."""
    cls = getattr(spec_or_cls, "cls", spec_or_cls)
    function = method_spec.function
    if node is None and field is not None:
        node = field_node(method_spec.access.tree, field, store)
    if node is not None:
        return of_node(function, node, cls, method_spec.name)
    return of_function(function, cls, method_spec.name)
