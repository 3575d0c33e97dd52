"""The house's floors: imports only ever point down, and no two modules import each other (docs/ARCHITECTURE.md).

Read from the source with `ast`, so that an import inside a function or under TYPE_CHECKING counts as well.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Bottom to top. A package may import its own floor and the floors below it, never one above.
FLOORS = ("core", "storage", "texts", "scheduler", "handlers", "sandbox", "bot")
# The emulator and the demo are two rooms of sandbox/: the emulator stands alone (production never uses it).
NEVER = {
    "core": {"sqlalchemy", "telegram"},
    "storage": {"telegram"},
    "texts": {"telegram"},
    "scheduler": {"telegram"},
    "sandbox.emulator": {"bot", "handlers", "scheduler", "storage", "texts", "core", "sandbox.demo", "telegram"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in FLOORS:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


MODULES = _modules()
GRAPH = {
    module: sorted({name for name in _imports(module, path) if name in MODULES and name != module})
    for module, path in MODULES.items()
}
RAW = {module: sorted(set(_imports(module, path))) for module, path in MODULES.items()}


def _floor(module: str) -> int:
    return FLOORS.index(module.split(".")[0])


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_every_import_points_down_or_sideways() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _floor(target) > _floor(module)
    ]
    assert upward == []


@pytest.mark.parametrize("room", sorted(NEVER))
def test_rooms_do_not_import_what_they_must_not_know(room: str) -> None:
    wrong = [
        f"{module} imports {name}"
        for module, names in RAW.items()
        if _within(module, room)
        for name in names
        for banned in NEVER[room]
        if _within(name, banned)
    ]
    assert wrong == []


def test_no_import_circles() -> None:
    # Tarjan's strongly connected components over module imports: any component of two or more is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


def test_the_check_sees_the_house() -> None:
    # A check that reads nothing cannot fail: make sure it found the floors and their arrows.
    assert {m.split(".")[0] for m in MODULES} == set(FLOORS)
    assert "storage.models" in GRAPH["storage.outbox"]
    assert any(_floor(t) < _floor("handlers.status") for t in GRAPH["handlers.status"])
