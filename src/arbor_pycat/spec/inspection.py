"""Static analysis of mechanism methods: which ``pp`` fields they read and write.

Used to infer :class:`~arbor_pycat.IonInfo` flags, to catch writes to fields
that do not exist or may not be written before any simulation runs, and to
let backends skip work for fields a method never touches.
"""
import ast
import inspect
import os
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
    named: tuple = ()     # lines of getattr(pp, name) / setattr(pp, name, value)

    @property
    def dynamic(self) -> bool:
        """Which fields a call uses is known only when it runs: the access is opaque,
        or names fields with strings (getattr/setattr), which Python evaluates then."""
        return self.opaque or bool(self.named)


def source_lines(function):
    """``inspect.getsourcelines(function)``, kept per code object while its file's
    size and modification time stay the same (a build reads a method or helper
    many times: its analysis, its translation, its messages). Raises what
    ``inspect.getsourcelines`` raises."""
    try:
        code = inspect.unwrap(function).__code__
        stat = os.stat(code.co_filename)
        key = (code, stat.st_size, stat.st_mtime_ns)
    except (AttributeError, OSError, TypeError, ValueError):
        return inspect.getsourcelines(function)
    found = _lines.get(key)
    if found is None:
        lines, first = inspect.getsourcelines(function)
        if len(_lines) > 4096:
            _lines.clear()
        found = _lines[key] = (tuple(lines), first)
    return list(found[0]), found[1]


_lines = {}     # (code, file size, file mtime) -> (source lines, first line number)


def function_tree(function):
    """The ``ast.FunctionDef`` of ``function`` and its (dedented) source, or (None, None).

    The nodes' ``lineno`` are line numbers in the function's file, so that
    messages can name the user's line (columns stay those of the dedented source).
    Raises MechanismError when the source file no longer holds the code that
    was imported (edited on disk since): analysing it would describe other code."""
    try:
        lines, first = source_lines(function)
        source = textwrap.dedent("".join(lines))
    except (OSError, TypeError):
        return None, None
    check_source_current(function, source)
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


def analyse(function, pp_position=1, owner=None):
    """Collect ``pp.<field>`` reads and writes of ``function``.

    ``pp_position`` is the index of the ``pp`` argument (1 after ``self``);
    ``owner`` is the class (for names such as ``self.GATES``). Fields named by
    strings, ``getattr(pp, name)`` and ``setattr(pp, name, value)``, count as
    reads and writes when :mod:`.field_names` can tell which strings they are.
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
    named, why_named = _named_fields(function, tree, pp, owner, reads, writes, attribute_owners)
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
    opaque, why = bool(why_named), why_named
    for node in ast.walk(tree) if not opaque else ():
        if isinstance(node, ast.Name) and node.id == pp and id(node) not in attribute_owners:
            if isinstance(node.ctx, ast.Load):
                opaque, why = True, f"'{pp}' is used other than as '{pp}.<field>' (line {node.lineno})"
                break
    return MethodAccess(frozenset(reads), frozenset(writes), opaque, why, tree, source, tuple(named))


def _named_fields(function, tree, pp, owner, reads, writes, owners):
    """Record the fields of ``getattr(pp, name)`` and ``setattr(pp, name, value)``
    calls (the builtins) in ``reads``/``writes`` and their ``pp`` in ``owners``.
    Returns (their lines, why one cannot be resolved or "")."""
    from . import field_names
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
             and node.args and _is_name(node.args[0], pp)]
    if not calls:
        return [], ""
    resolver = field_names.Resolver(function, tree, owner)
    parent = resolver.parent
    lines = []
    for call in calls:
        name = call.func.id
        if not resolver.is_builtin(name):
            continue      # the user's own function of that name: pp is passed to it
        expected = {"getattr": 2, "setattr": 3}.get(name)
        if expected is None or len(call.args) != expected or call.keywords \
                or any(isinstance(a, ast.Starred) for a in call.args):
            return lines, (f"{name}({pp}, ...) (line {call.lineno}): only getattr({pp}, name) and "
                           f"setattr({pp}, name, value) are understood")
        fields = resolver.names_of(call.args[1])
        if fields is None:
            return lines, (f"{name}({pp}, {ast.unparse(call.args[1])}) (line {call.lineno}): the name is "
                           "not a constant string, nor a loop variable over constant strings")
        owners.add(id(call.args[0]))
        lines.append(call.lineno)
        call._pc_fields = fields          # for messages: locations.field_node finds the call
        call._pc_store = name == "setattr"
        if name == "setattr":
            writes.update(fields)
            continue
        reads.update(fields)
        # getattr(pp, name)[...] = value and getattr(pp, name)[...] += value write the field
        up = parent.get(id(call))
        if isinstance(up, ast.Subscript) and up.value is call and isinstance(up.ctx, ast.Store):
            writes.update(fields)
            call._pc_store = True
    return lines, ""


def _is_name(node, name):
    return isinstance(node, ast.Name) and node.id == name


class SourceChanged(Exception):
    """The source file of a function was edited after the function was imported."""


def check_source_current(function, source=None):
    """Raise MechanismError if ``function``'s source on disk is not the code it runs."""
    from ..errors import MechanismError
    problem = source_mismatch(function, source)
    if problem:
        raise MechanismError(problem)


def source_mismatch(function, source=None):
    """Why the source text of ``function`` (read from its file now) is not the
    code object it runs, or None (also None when the source cannot be read).

    The text is compiled again (in a stand-in for its class and closure, so that
    names resolve the same way) and its instructions, names and constants are
    compared with the function's."""
    function = getattr(function, "py_func", function)
    try:
        function = inspect.unwrap(function)     # what inspect.getsource shows
    except ValueError:
        return None
    code = getattr(function, "__code__", None)
    if code is None or code.co_name == "<lambda>":
        return None
    # inspect reads the file through linecache, which re-reads it when its size or
    # modification time changed: the answer for the same code and the same (size,
    # time) is the same, so it is kept (a build inlines a helper in several places)
    try:
        stat = os.stat(code.co_filename)
        key = (code, function.__qualname__, stat.st_size, stat.st_mtime_ns)
    except (OSError, TypeError, ValueError):
        key = None
    if key is not None and key in _checked:
        return _checked[key]
    try:
        lines, _ = source_lines(function)
    except (OSError, TypeError):
        return None
    recompiled = _recompile(function, "".join(lines))
    problem = None
    if recompiled is None or not _same_code(recompiled, code):
        where = f"{code.co_filename}, line {code.co_firstlineno}"
        problem = (f"the source of {function.__qualname__} ({where}) has changed since it was imported: "
                   "the file no longer holds the code Python runs. Restart Python, or reload its module "
                   "(importlib.reload) and define the mechanism again, before building")
    if key is not None:
        if len(_checked) > 4096:
            _checked.clear()
        _checked[key] = problem
    return problem


_checked = {}    # (code, qualname, file size, file mtime) -> source_mismatch's answer


def _recompile(function, source):
    """The code object of ``source`` (as indented in its file) compiled in a
    stand-in for its class (name mangling, ``__class__``) and its closure (free
    variables), so that names resolve as they did; None if it does not compile."""
    code = function.__code__
    qualname = function.__qualname__.split(".")
    owner = qualname[-2] if len(qualname) > 1 and qualname[-2] != "<locals>" else None
    free = [name for name in code.co_freevars if name != "__class__"]
    headers = []
    if free:
        headers.append("def __pycat_outer__():")
        headers += [f" {name} = None" for name in free]
    if owner is not None:
        headers.append((" " if free else "") + f"class {owner}:")
    needed = (1 if free else 0) + (1 if owner else 0)
    # one space per stand-in level, whatever the file's indentation was
    source = textwrap.indent(textwrap.dedent(source), " " * needed) if needed else textwrap.dedent(source)
    text = "\n".join(headers + [source])
    if free:
        text += "\n" + "\n".join(f" {name}" for name in free)   # keep them cells of the outer function
    try:
        module = compile(text + "\n", code.co_filename, "exec", dont_inherit=True)
    except SyntaxError:
        return None
    return _find_code(module, code.co_name)


def _find_code(module, name):
    """The first code object named ``name`` in ``module``, breadth first."""
    pending = list(module.co_consts)
    while pending:
        item = pending.pop(0)
        if isinstance(item, type(module)):
            if item.co_name == name:
                return item
            pending.extend(item.co_consts)
    return None


_METHOD_LOADS = {"LOAD_METHOD": "LOAD_ATTR"}   # which one depends on the module's imports


def _instructions(code):
    """The instructions of ``code`` as (name, argument) pairs that do not depend
    on line numbers, instruction sizes or how the enclosing module imported a name."""
    import dis
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    out = []
    for instruction in dis.get_instructions(code):
        name = _METHOD_LOADS.get(instruction.opname, instruction.opname)
        if name in ("CACHE", "EXTENDED_ARG", "NOP", "RESUME", "PUSH_NULL"):
            continue
        if instruction.opcode in jumps:
            out.append((name,))
        elif isinstance(instruction.argval, type(code)):
            out.append((name, instruction.argval.co_name))
        elif isinstance(instruction.argval, str) and "<locals>." in instruction.argval:
            # a class body's __qualname__: it names the enclosing functions
            out.append((name, instruction.argval.rsplit("<locals>.", 1)[1]))
        else:
            out.append((name, repr(instruction.argval)))
    return out


def _same_code(a, b):
    if (a.co_varnames != b.co_varnames or a.co_argcount != b.co_argcount
            or a.co_kwonlyargcount != b.co_kwonlyargcount
            or [n for n in a.co_freevars if n != "__class__"] != [n for n in b.co_freevars if n != "__class__"]
            or _instructions(a) != _instructions(b)):
        return False
    nested_a = [c for c in a.co_consts if isinstance(c, type(a))]
    nested_b = [c for c in b.co_consts if isinstance(c, type(b))]
    return len(nested_a) == len(nested_b) and all(_same_code(x, y) for x, y in zip(nested_a, nested_b))


_LIBRARIES = frozenset({"numpy", "numba", "llvmlite", "scipy", "arbor", "arbor_pycat", "builtins"})


def _library(module_name):
    import sys
    top = (module_name or "").partition(".")[0]
    return top in _LIBRARIES or top in getattr(sys, "stdlib_module_names", ())


def stale_source(functions):
    """The first problem :func:`source_mismatch` finds in ``functions`` or in the
    Python functions they use (globals, closures, module attributes such as
    ``helpers.rate``, ``@njit`` functions), recursively; None if every one is current.
    Compilers read helpers' source from disk: a helper edited after import would
    otherwise be compiled from text that is not the code Python runs."""
    import types
    seen = set()
    pending = list(functions)
    while pending:
        item = pending.pop()
        function = getattr(item, "py_func", item)
        if not isinstance(function, types.FunctionType) or id(function) in seen:
            continue
        seen.add(id(function))
        if _library(function.__module__):
            continue
        problem = source_mismatch(function)
        if problem:
            return problem
        names = set()
        codes = [function.__code__]
        while codes:
            code = codes.pop()
            names.update(code.co_names)
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        for name in names:
            value = function.__globals__.get(name)
            if isinstance(value, types.ModuleType):
                if not _library(value.__name__):
                    pending += [getattr(value, attr) for attr in names if attr in vars(value)]
            elif value is not None:
                pending.append(value)
        for cell in function.__closure__ or ():
            try:
                pending.append(cell.cell_contents)
            except ValueError:
                pass
    return None


def always_raises(function):
    """``(exception, line)`` when the body of ``function`` raises at its top level
    (nothing after that line can run: a placeholder such as
    ``raise NotImplementedError``), else None."""
    tree, _ = function_tree(function)
    if tree is None:
        return None
    first = getattr(getattr(function, "__code__", None), "co_firstlineno", 1)
    offset = first - tree.lineno if tree.decorator_list == [] else first - min(
        [tree.lineno] + [d.lineno for d in tree.decorator_list])
    for statement in tree.body:
        if isinstance(statement, ast.Raise):
            exc = statement.exc
            if isinstance(exc, ast.Call):
                exc = exc.func
            name = ast.unparse(exc) if exc is not None else "the exception being handled"
            return name, statement.lineno + offset
    return None
