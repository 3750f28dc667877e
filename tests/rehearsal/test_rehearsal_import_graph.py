"""The rehearsal's rooms, read statically (ast): no import circle, the two
engines never import each other, only the CLI and the factory import both, and
nothing in the package imports the test oracle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "rehearsal"
ENGINES = (f"{PACKAGE}.model", f"{PACKAGE}.oncluster")
BOTH_ENGINES_ALLOWED = {f"{PACKAGE}.cli", f"{PACKAGE}.engine"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _imported(tree: ast.AST, modules: dict[str, Path]) -> Iterator[str]:
    """Every module named by an import anywhere in the file (inside functions too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                yield child if child in modules else node.module


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = {m for m in _imported(tree, modules) if m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle among the package's modules, or []."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done or node not in graph:
            return []
        for nxt in sorted(graph[node]):
            if found := visit(nxt, [*path, node]):
                return found
        done.add(node)
        return []

    for start in sorted(graph):
        if found := visit(start, []):
            return found
    return []


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_is_read() -> None:
    graph = import_graph()
    # A check that reads nothing passes anything: the known arrows must be there.
    assert f"{PACKAGE}.engine" in graph[f"{PACKAGE}.cli"]
    assert f"{PACKAGE}.model.model_engine" in graph[f"{PACKAGE}.engine"]
    assert f"{PACKAGE}.oncluster.flagger_engine" in graph[f"{PACKAGE}.engine"]


def test_no_import_circle() -> None:
    assert _cycle(import_graph()) == []


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_engines_do_not_import_each_other() -> None:
    graph = import_graph()
    model, oncluster = ENGINES
    for name, targets in graph.items():
        if _in(name, model):
            assert not any(_in(t, oncluster) for t in targets), name
        if _in(name, oncluster):
            assert not any(_in(t, model) for t in targets), name


def test_only_the_cli_and_the_factory_import_both_engines() -> None:
    both = {
        name
        for name, targets in import_graph().items()
        if all(any(_in(t, engine) for t in targets) for engine in ENGINES)
    }
    assert f"{PACKAGE}.engine" in both
    assert both <= BOTH_ENGINES_ALLOWED


def test_the_shared_rooms_import_no_engine() -> None:
    shared = ("outcome", "failures", "spec", "measure", "report")
    for name, targets in import_graph().items():
        if any(_in(name, f"{PACKAGE}.{room}") for room in shared):
            assert not any(_in(t, e) for t in targets for e in ENGINES), name


def test_nothing_in_the_package_imports_the_test_oracle() -> None:
    for name, targets in import_graph().items():
        assert not any(_in(t, "tests") for t in targets), name
