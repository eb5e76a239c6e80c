"""No import circles inside tasks_flowrun: the graph of its modules' imports is acyclic.

Every import counts, a deferred one inside a function too (it only hides a circle until
that function runs). An import names the most specific module of the package it reaches:
`from .resolvers import flows` is an edge to `...resolvers.flows`, `from .rows import
fetch_row` one to `...rows`.
"""
import ast
from pathlib import Path
from typing import Dict, List, Set

import tasks_flowrun

PACKAGE = Path(tasks_flowrun.__file__).parent


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> Dict[str, Set[str]]:
    """Each module of `package` -> the modules of `package` it imports."""
    modules = {_module_name(path, package): path for path in package.rglob("*.py")}
    graph: Dict[str, Set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: Set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    if target in modules:
                        found.add(target)
                    elif base in modules:
                        found.add(base)
        found.discard(name)
        graph[name] = found
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One circle of `graph` (its modules in import order, the first repeated last), or []."""
    done: Set[str] = set()
    path: List[str] = []
    on_path: Set[str] = set()

    def visit(node: str) -> List[str]:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_path:
                return path[path.index(target):] + [target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return []

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 100 and "tasks_flowrun.server.app" in graph  # the walk saw the package
    cycle = find_cycle(graph)
    assert not cycle, "import circle: " + " -> ".join(cycle)


def test_a_circle_is_found(tmp_path):
    package = tmp_path / "tasks_flowrun"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("from .b import thing\n")
    (package / "sub" / "b.py").write_text("def f():\n    from . import c\n")
    (package / "sub" / "c.py").write_text("from tasks_flowrun.sub import a\n")
    (package / "d.py").write_text("from .sub import a\n")
    graph = import_graph(package)
    assert graph["tasks_flowrun.d"] == {"tasks_flowrun.sub.a"}
    assert find_cycle(graph) == ["tasks_flowrun.sub.a", "tasks_flowrun.sub.b", "tasks_flowrun.sub.c",
                                 "tasks_flowrun.sub.a"]
