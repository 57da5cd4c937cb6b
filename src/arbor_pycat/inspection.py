"""Static analysis of mechanism methods: which ``pp`` fields they read and write.

Used to infer :class:`~arbor_pycat.IonInfo` flags, to catch writes to fields
that do not exist or may not be written before any simulation runs, and to
let backends skip work for fields a method never touches.
"""
import ast
import inspect
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodAccess:
    """What one method visibly does with ``pp``.

    ``opaque`` is True when not every access is visible: no source code, or
    ``pp`` used other than as ``pp.<field>`` (passed to a function, aliased).
    """
    reads: frozenset
    writes: frozenset
    opaque: bool
    why_opaque: str = ""
    tree: ast.FunctionDef | None = None
    source: str | None = None


def function_tree(function):
    """The ``ast.FunctionDef`` of ``function`` and its (dedented) source, or (None, None).

    The nodes' ``lineno`` are line numbers in the function's file, so that
    messages can name the user's line (columns stay those of the dedented source).
    """
    try:
        lines, first = inspect.getsourcelines(function)
        source = textwrap.dedent("".join(lines))
    except (OSError, TypeError):
        return None, None
    try:
        module = ast.parse(source)
    except SyntaxError:
        return None, None
    if first > 1:
        ast.increment_lineno(module, first - 1)
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node, source
    return None, None


def analyse(function, pp_position=1):
    """Collect ``pp.<field>`` reads and writes of ``function``.

    ``pp_position`` is the index of the ``pp`` argument (1 after ``self``).
    """
    tree, source = function_tree(function)
    if tree is None:
        return MethodAccess(frozenset(), frozenset(), True, "its source code is not available")
    args = tree.args.posonlyargs + tree.args.args
    if len(args) <= pp_position:
        return MethodAccess(frozenset(), frozenset(), True, "it takes no pp argument", tree, source)
    pp = args[pp_position].arg
    reads, writes = set(), set()
    attribute_owners = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == pp:
            attribute_owners.add(id(node.value))
            if isinstance(node.ctx, ast.Store):
                writes.add(node.attr)
            elif isinstance(node.ctx, ast.Del):
                writes.add(node.attr)
            else:
                reads.add(node.attr)
        if isinstance(node, ast.AugAssign):
            target = node.target
            if isinstance(target, ast.Attribute) and _is_name(target.value, pp):
                reads.add(target.attr)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    # pp.x[...] = value writes pp.x in place
                    if isinstance(sub, ast.Subscript):
                        inner = sub.value
                        if isinstance(inner, ast.Attribute) and _is_name(inner.value, pp):
                            writes.add(inner.attr)
    opaque, why = False, ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == pp and id(node) not in attribute_owners:
            if isinstance(node.ctx, ast.Load):
                opaque, why = True, f"'{pp}' is used other than as '{pp}.<field>' (line {node.lineno})"
                break
    return MethodAccess(frozenset(reads), frozenset(writes), opaque, why, tree, source)


def _is_name(node, name):
    return isinstance(node, ast.Name) and node.id == name
