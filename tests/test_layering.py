"""The import layering of docs/architecture.md holds: no import circle anywhere in the host or the
protocol package, and each lower floor imports nothing from the floors above it.

Every import counts, also those inside a function or under ``TYPE_CHECKING``: a lazy import is
still an arrow a reader must follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "buzzline": ROOT / "host" / "buzzline",
    "buzzline_protocol": ROOT / "protocol" / "buzzline_protocol",
}

# floor (a module name prefix) -> the prefixes it may import; the floor's own modules always may
ALLOWED = {
    "buzzline_protocol": ("buzzline_protocol",),
    "buzzline.core": ("buzzline.core", "buzzline_protocol"),
    "buzzline.gate": ("buzzline.gate", "buzzline.core", "buzzline_protocol"),
    "buzzline.notices": ("buzzline.notices", "buzzline.core", "buzzline_protocol"),
    "buzzline.hosttime": (),  # the clock only: anything may stamp with it
}
# floor -> the prefixes it must never import
FORBIDDEN = {
    "buzzline.io": ("buzzline.web", "buzzline.adapters", "buzzline.host_service", "buzzline.commands"),
    "buzzline.host_service": ("buzzline.web", "buzzline.commands"),
}


def module_names() -> dict[str, Path]:
    names: dict[str, Path] = {}
    for pkg, base in PACKAGES.items():
        for path in base.rglob("*.py"):
            parts = [pkg, *path.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """module -> the repository modules it imports (``from pkg import mod`` counts as pkg.mod)."""
    names = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in names else node.module)
            elif isinstance(node, ast.ImportFrom):
                pytest.fail(f"{path}: relative import; the layering test reads absolute ones")
        graph[name] = {t for t in targets if t in names and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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


def under(name: str, prefix: str) -> bool:
    """``name`` is the module ``prefix`` or inside it (a prefix ending in a dot: anything below)."""
    if prefix.endswith("."):
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def test_the_cycle_finder_sees_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    assert cycles(import_graph()) == []


def test_lower_floors_import_nothing_above_them() -> None:
    wrong = []
    for name, targets in import_graph().items():
        for floor, allowed in ALLOWED.items():
            if under(name, floor):
                wrong += [f"{name} -> {t}" for t in targets if not any(under(t, a) for a in allowed)]
        for floor, forbidden in FORBIDDEN.items():
            if under(name, floor):
                wrong += [f"{name} -> {t}" for t in targets if any(under(t, f) for f in forbidden)]
    assert wrong == []


def test_every_module_says_what_it_is_for() -> None:
    silent = []
    for name, path in module_names().items():
        tree = ast.parse(path.read_text())
        has_doc = ast.get_docstring(tree) is not None
        first = path.read_text().lstrip().split("\n", 1)[0]
        if not has_doc and not (first.startswith("#") and len(first) > 20):
            silent.append(name)
    assert silent == []
