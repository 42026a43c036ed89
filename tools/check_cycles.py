"""Fail when facelab's modules or sub-packages import each other in a cycle.

import-linter's layers contract (``pyproject.toml``) keeps the layers pointing one way; this
check covers what it does not: cycles between modules of one layer, for example two modules of
``facelab.detector`` that import each other. Every import counts, the ones inside functions too,
and so do ``importlib.import_module("facelab....")`` calls with a literal name, which grimp does
not see; imports under ``if TYPE_CHECKING:`` do not (they never run).

Two levels are checked:

- modules: ``a.py`` imports ``b.py`` which imports ``a.py``, directly or through others;
- packages: the children of each package, each child package taken as a whole (so
  ``detector.fakes`` -> ``detector.dataset`` -> ``detector.fakes.records`` is a cycle).

Usage: ``python tools/check_cycles.py [package]``; exit status 1 when a cycle is found.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp


def importlib_edges(package: str) -> set[tuple[str, str]]:
    """``(importer, imported)`` for each ``importlib.import_module("<package>...")`` call."""
    root = Path(__import__(package).__file__).parent
    edges = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        importer = ".".join(parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "import_module" and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and node.args[0].value.split(".")[0] == package):
                edges.add((importer, node.args[0].value))
    return edges


def strongly_connected(nodes: Iterable[str], edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; only the components with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def find_cycles(package: str) -> list[str]:
    """One line per cycle found, empty when there is none."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    modules = set(graph.modules)
    edges: dict[str, set[str]] = {m: set(graph.find_modules_directly_imported_by(m)) for m in modules}
    for importer, imported in importlib_edges(package):
        edges.setdefault(importer, set()).add(imported)

    problems = [f"module cycle: {' <-> '.join(c)}" for c in strongly_connected(modules, edges)]

    # Package level: within each package, map every module below a child to that child.
    for parent in sorted(m for m in modules if graph.find_children(m)):
        children = graph.find_children(parent)

        def child_of(module: str, parent: str = parent, children: set[str] = children) -> str | None:
            if not module.startswith(parent + "."):
                return None
            child = parent + "." + module[len(parent) + 1:].split(".")[0]
            return child if child in children else None

        squashed: dict[str, set[str]] = {c: set() for c in children}
        for importer, imported_set in edges.items():
            a = child_of(importer)
            if a is None:
                continue
            for imported in imported_set:
                b = child_of(imported)
                if b is not None and b != a:
                    squashed[a].add(b)
        # A child package whose own modules form the cycle is reported at the module level.
        for component in strongly_connected(children, squashed):
            if any(graph.find_children(c) for c in component):
                problems.append(f"package cycle in {parent}: {' <-> '.join(component)}")
    return problems


def main(argv: list[str]) -> int:
    package = argv[1] if len(argv) > 1 else "facelab"
    problems = find_cycles(package)
    for line in problems:
        print(line)
    print(f"{len(problems)} import cycle(s) in {package}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
