"""Layers point one way: no import cycle in the project, panels never import dashboard/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dashboard", "layouts", "queries", "scheduler", "demo")


def _imports() -> dict[str, set[str]]:
    """Project modules each project module imports (anywhere in the file)."""
    graph: dict[str, set[str]] = {}
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
        if "migrations" not in p.parts
    }
    for mod in modules:
        rel = Path(*mod.split("."))
        path = ROOT / (str(rel) + ".py")
        if not path.exists():
            path = ROOT / rel / "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import mod` imports mod (and runs pkg/__init__, which is empty
                # or plain here); `from mod import name` imports mod.
                subs = [f"{node.module}.{a.name}" for a in node.names]
                names = [s for s in subs if s in modules] or [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found |= {n for n in names if n in modules and n != mod}
        graph[mod] = found
    return graph


def test_no_import_cycles() -> None:
    graph = _imports()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, cycles[:5]


def test_panels_and_data_never_import_upwards() -> None:
    graph = _imports()
    for mod, deps in graph.items():
        if mod.startswith(("layouts", "queries")):
            assert not [d for d in deps if d.startswith("dashboard")], (mod, deps)
        if mod.startswith("queries"):
            assert not [d for d in deps if d.startswith(("layouts", "demo"))], (mod, deps)
