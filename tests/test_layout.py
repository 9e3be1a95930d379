"""The module layout stays acyclic: no module of aima imports, directly or through others, one that imports it."""

from __future__ import annotations

import ast
from pathlib import Path

AIMA = Path(__file__).resolve().parent.parent / "aima"


def _module_name(path: Path) -> str:
    parts = path.relative_to(AIMA.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the aima modules it imports at any depth of its code (TYPE_CHECKING blocks excepted)."""
    paths = {_module_name(p): p for p in AIMA.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for node in ast.walk(tree)
                       if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                       for n in ast.walk(node)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    return sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if a in reach(b)})


def test_no_import_cycles_among_aima_modules():
    assert _cycles(_import_graph()) == []


def test_the_cycle_finder_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_the_knowledge_base_is_a_leaf():
    """launch and diagnose both use it, so it must import neither (nor anything that does)."""
    graph = _import_graph()
    # aima.engines: the one definition of the engine names; aima.sources: sources as users see them; both leaves
    assert {m for m in graph["aima.knowledge"]} <= {"aima.yamlfile", "aima.errors", "aima.engines", "aima.sources"}
    assert graph["aima.sources"] == set()


def test_command_modules_do_not_import_the_app():
    graph = _import_graph()
    assert [m for m in graph if m.startswith("aima.commands") and "aima.cli" in graph[m]] == []
