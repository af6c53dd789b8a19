"""Print every import cycle in `mailer` and `workers`; exit 1 if there is one.

Hand-written on grimp (the graph library behind import-linter) because
import-linter has no "no cycles at all" contract. Lazy imports inside functions
count: they hide a cycle, they do not remove it. Importing `a.b.c` also runs
`a/__init__` and `a/b/__init__`, so an import adds an edge to each parent
package of the imported module that is not a parent of the importer.
"""

from __future__ import annotations

import sys

import grimp

#: Celery's own pair: the app registers the tasks module, the tasks need the app.
ALLOWED = {frozenset({"workers.app", "workers.tasks"})}


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_cycles(*packages: str) -> list[list[str]]:
    """Return the strongly connected components (size > 1) of the import graph."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        targets = set(graph.find_modules_directly_imported_by(module))
        for target in list(targets):
            targets |= _parents(target) - _parents(module) - {module}
        edges[module] = targets
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 and frozenset(component) not in ALLOWED:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def main() -> int:
    cycles = import_cycles("mailer", "workers")
    for cycle in cycles:
        print("import cycle: " + " <-> ".join(cycle))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
