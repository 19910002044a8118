"""No import cycle among the package's module-level imports.

Imports inside functions hide cycles instead of removing them, so this walks the *installed*
``slr_fused`` package (every module file, parsed with ``ast``, nothing imported but the
packages themselves), takes the imports that run when a module is imported (top-level
statements, including ``if``/``try`` blocks and class bodies; not function bodies, not
``if TYPE_CHECKING:``), resolves relative imports, and fails on any strongly connected group
of modules, printing one cycle through it. Function-level imports are only used to discover
modules (the editable install maps ``kernels/``, ``export/`` and ``bench/`` from separate
folders, so listing ``slr/`` alone would miss them).

``KNOWN_CYCLES`` lists the cycles not removed yet, each with its reason; the test also fails
when a listed cycle is gone, so the list stays true.
"""

import ast
import importlib.util
from pathlib import Path
from typing import Dict, FrozenSet, List, Set

ROOT = "slr_fused"
SUBPACKAGES = ("slr_fused.kernels", "slr_fused.export", "slr_fused.bench")

# frozenset of the modules of one strongly connected group -> why it is still there.
KNOWN_CYCLES: Dict[FrozenSet[str], str] = {}


def _spec(name):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _is_module(name: str) -> bool:
    return name == ROOT or (name.startswith(ROOT + ".") and _spec(name) is not None)


def _module_level(tree: ast.Module) -> List[ast.stmt]:
    """Statements run at import time: top level, if/try/with blocks and class bodies."""
    out, stack = [], list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            stack.extend(getattr(node, field, []) or [])
    return out


def _targets(node, module: str, is_package: bool) -> Set[str]:
    """slr_fused modules an import statement executes (parents included).

    The importing module's own ancestor packages are left out (importing a module always runs
    them first; a package importing its submodules is not a cycle) unless the statement reads a
    name from one of them that is not a submodule (``from . import helper``).
    """
    names, readers = set(), set()
    if isinstance(node, ast.Import):
        names.update(alias.name for alias in node.names)
    else:
        if node.level:
            package = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names)
        if not all(_is_module(f"{base}.{alias.name}") for alias in node.names):
            readers.add(base)
    ancestors = {module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)}
    found = set()
    for name in names:
        if not (name == ROOT or name.startswith(ROOT + ".")):
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if _is_module(prefix) and (prefix not in ancestors or prefix in readers):
                found.add(prefix)
    return found


def import_graph() -> Dict[str, Set[str]]:
    """module -> slr_fused modules its import runs; discovered from ROOT and SUBPACKAGES."""
    graph: Dict[str, Set[str]] = {}
    todo = [ROOT, *SUBPACKAGES]
    while todo:
        module = todo.pop()
        if module in graph:
            continue
        spec = _spec(module)
        assert spec is not None and spec.origin, f"{module} is not importable"
        is_package = spec.submodule_search_locations is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"), spec.origin)
        level = set(_module_level(tree))
        graph[module] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = _targets(node, module, is_package)
                todo.extend(targets)
                if node in level:
                    graph[module].update(t for t in targets if t != module)
        if is_package:
            for location in spec.submodule_search_locations:
                for path in Path(location).iterdir():
                    if path.suffix == ".py" and path.stem != "__init__":
                        todo.append(f"{module}.{path.stem}")
                    elif (path / "__init__.py").is_file():
                        todo.append(f"{module}.{path.name}")
    return graph


def strongly_connected(graph: Dict[str, Set[str]]) -> List[Set[str]]:
    """Tarjan's groups of more than one module (each holds at least one cycle)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def one_cycle(graph: Dict[str, Set[str]], group: Set[str]) -> List[str]:
    """A shortest cycle through the group's first module, for the message."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return sorted(group)


def test_the_walk_covers_every_folder_of_the_package():
    graph = import_graph()
    for package in (ROOT, *SUBPACKAGES):
        assert any(m.startswith(package + ".") for m in graph), f"no module found under {package}"
    assert "slr_fused.export.interface" in graph["slr_fused.export.onnx"]
    # `from .. import __version__` reads the package: an edge; `from . import mp_data` only
    # imports a submodule: no edge to the (already running) parent package.
    assert "slr_fused" in graph["slr_fused.export.onnx"]
    assert "slr_fused.convert.mp_data" in graph["slr_fused.convert.clips"]
    assert "slr_fused.convert" not in graph["slr_fused.convert.clips"]
    # Imports inside functions are not edges (they run later, when the function is called).
    assert "slr_fused.trust" not in graph["slr_fused.export.tensorrt"]


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [{"a", "b", "c"}]
    assert one_cycle(graph, {"a", "b", "c"}) == ["a", "b", "c", "a"]


def test_no_module_level_import_cycle():
    graph = import_graph()
    groups = {frozenset(g) for g in strongly_connected(graph)}
    new = [g for g in groups if g not in KNOWN_CYCLES]
    gone = [g for g in KNOWN_CYCLES if g not in groups]
    message = [f"import cycle: {' -> '.join(one_cycle(graph, set(g)))}" for g in new]
    message += [f"listed in KNOWN_CYCLES but gone (remove it): {sorted(g)}" for g in gone]
    assert not message, "\n".join(message)
