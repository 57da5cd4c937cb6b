"""The package's shape: the pipeline's layers import downwards only, and nothing in a circle.

declaration → spec → backend → bridge → build, with tools and the importer on
top. The graph is read from the source (every import, function-level ones
included); a name imported from a package that re-exports it counts as an
import of the module that defines it.
"""
import ast
from pathlib import Path

import pytest

import arbor_pycat

PACKAGE = Path(arbor_pycat.__file__).parent

# Lowest first. A module may import modules of its own layer or below.
LAYERS = (
    ("foundation", ("arbor_pycat._version", "arbor_pycat.errors", "arbor_pycat.helpers",
                    "arbor_pycat.compat", "arbor_pycat.cache", "arbor_pycat.abi")),
    ("spec", ("arbor_pycat.spec",)),
    ("backends", ("arbor_pycat.backends",)),
    ("bridge", ("arbor_pycat.bridge",)),
    ("build", ("arbor_pycat.builder",)),
    ("tools", ("arbor_pycat.tools", "arbor_pycat.nmodl", "arbor_pycat.models")),
    ("facade", ("arbor_pycat", "arbor_pycat.__main__")),
)


def _modules():
    """{module name: parsed source} of every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("arbor_pycat",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = (ast.parse(path.read_text()), path.name == "__init__.py")
    return found


MODULES = _modules()


def _absolute(module, is_package, node):
    if not node.level:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _defined_in(module, name, seen=()):
    """The module that defines ``name`` that ``module`` re-exports (or ``module``)."""
    if module not in MODULES or (module, name) in seen:
        return module
    tree, is_package = MODULES[module]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node)
            for alias in node.names:
                if (alias.asname or alias.name) == name and target.startswith("arbor_pycat"):
                    if f"{target}.{alias.name}" in MODULES:
                        return f"{target}.{alias.name}"
                    return _defined_in(target, alias.name, seen + ((module, name),))
    return module


def _imports(module):
    """Every arbor_pycat module ``module`` imports, at any depth of its code."""
    tree, is_package = MODULES[module]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names if alias.name.startswith("arbor_pycat")}
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node)
            if not target.startswith("arbor_pycat"):
                continue
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    targets.add(f"{target}.{alias.name}")
                else:
                    targets.add(_defined_in(target, alias.name))
    return targets - {module}


GRAPH = {module: _imports(module) for module in MODULES}


def _layer(module):
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                    best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer of LAYERS: add it"
    return best[0]


def test_every_import_resolves_to_a_module_of_the_package():
    unknown = sorted((module, target) for module, targets in GRAPH.items()
                     for target in targets if target not in MODULES)
    assert not unknown


def test_no_module_imports_a_higher_layer():
    upward = sorted(f"{module} ({LAYERS[_layer(module)][0]}) imports {target} "
                    f"({LAYERS[_layer(target)][0]})"
                    for module, targets in GRAPH.items() for target in targets
                    if target in MODULES and _layer(target) > _layer(module))
    assert not upward, "\n".join(upward)


def _cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in graph:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_circle():
    """The check itself: a made-up circle and a self-contained chain."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("old, new", [
    ("arbor_pycat.comparison", "arbor_pycat.tools.comparison"),
    ("arbor_pycat.recipe", "arbor_pycat.tools.recipe"),
    ("arbor_pycat.declarations", "arbor_pycat.spec.registry"),
    ("arbor_pycat.demo", "arbor_pycat.tools.demo"),
    ("arbor_pycat.info", "arbor_pycat.tools.info"),
    ("arbor_pycat.properties", "arbor_pycat.tools.properties"),
])
def test_earlier_module_names_still_import(old, new):
    import importlib
    assert importlib.import_module(old) is importlib.import_module(new)


def test_backend_choices_are_the_registry():
    from arbor_pycat.backends.registry import BACKENDS
    from arbor_pycat.spec.kinds import BACKEND_CHOICES
    assert set(BACKEND_CHOICES) == {"auto"} | set(BACKENDS)


def test_ion_flags_are_arbors():
    """IonInfo (what users write) and IonSpec (resolved) carry arb_ion_info's flags, by name."""
    import dataclasses

    from arbor_pycat import IonInfo, abi
    from arbor_pycat.spec import IonSpec
    assert len(abi.ION_FLAGS) == 9
    for cls in (IonInfo, IonSpec):
        names = [f.name for f in dataclasses.fields(cls)]
        assert names == ["name", *abi.ION_FLAGS, "expected_valence"], cls


def test_the_shim_and_the_contract_agree():
    """The loaded shim reports the contract's values (the bridge refuses one that does not)."""
    import ctypes

    from arbor_pycat.abi import contract
    from arbor_pycat.bridge import shim_path
    lib = ctypes.CDLL(str(shim_path()))
    lib.pycat_layout.restype = ctypes.c_ulong
    lib.pycat_method_name.restype = ctypes.c_char_p
    assert tuple(lib.pycat_layout(k) for k in range(len(contract.EXPECTED_LAYOUT))) == contract.EXPECTED_LAYOUT
    assert tuple(lib.pycat_method_name(k).decode() for k in range(len(contract.METHODS))) == contract.METHODS
    assert lib.pycat_method_name(len(contract.METHODS)) is None
    assert contract.status(3, contract.shape_detail(5, 1)) >> contract.STATUS_CODE_BITS == 1 + 4 * 5 + 1


def test_python_dash_m_runs_a_moved_module():
    """``python -m arbor_pycat.demo`` (an earlier name) still runs the demo's command line."""
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "arbor_pycat.demo", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "--out" in result.stdout, result.stdout + result.stderr
