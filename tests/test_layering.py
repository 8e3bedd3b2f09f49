"""The library's layering, read from its source with ``ast``: no import cycle, and one home per shared thing.

Every ``import`` counts, also those inside functions and under ``TYPE_CHECKING``:
a lazy import hides a cycle from Python, not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rmdlib"


def _imports(path: Path) -> set[str]:
    """rmdlib modules that ``path`` imports (``from rmdlib import x``, ``from rmdlib.x import y``, ``import rmdlib.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            head, _, rest = node.module.partition(".")
            if head == "rmdlib":
                found |= {rest.split(".")[0]} if rest else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("rmdlib.")}
    return found - {path.stem}


def module_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {p.stem for p in package.glob("*.py")}
    return {p.stem: _imports(p) & modules for p in package.glob("*.py")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search with colours)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_dag() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_rmdlib_has_no_import_cycle() -> None:
    graph = module_graph()
    assert {"train", "checkpoint", "conll", "tokens"} <= graph.keys()
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


@pytest.mark.parametrize("module, must_not_import", [
    ("checkpoint", "train"),  # the loop imports its checkpoints, not the other way round
    ("conll", "synth"),  # a reader of real files needs nothing from the synthetic generator
    ("tokens", "losses"),  # the data side takes IGNORE_INDEX from rmdlib.batch
    ("losses", "tokens"),
])
def test_lower_layers_do_not_import_higher_ones(module: str, must_not_import: str) -> None:
    assert must_not_import not in module_graph()[module]


@pytest.mark.parametrize("pattern, home", [
    ("LossFn = ", "batch"),
    ("IGNORE_INDEX = ", "batch"),
    ("INPUT_KEYS = ", "batch"),
    ("ElectraConfig(", "models"),
    ("class SbdDoc", "conll"),
    ("class TrainConfigError", "checkpoint"),
])
def test_each_shared_definition_has_one_home(pattern: str, home: str) -> None:
    where = sorted(p.stem for p in PACKAGE.glob("*.py") if pattern in p.read_text(encoding="utf-8"))
    assert where == [home]
    from rmdlib import losses, rtd, train

    assert losses.IGNORE_INDEX == -100 and train.LossFn is rtd.LossFn  # the old import paths still work
