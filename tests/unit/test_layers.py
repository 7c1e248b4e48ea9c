"""The layers point down: the engine, explanations, worker and processing core never import the
tools (offline commands, benchmarks), so that the live worker never depends on a measuring
instrument, and the tools can change without touching what runs in production."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOWER_FLOORS = (
    "streams/engine",
    "streams/explain",
    "streams/worker",
    "streams/kafka",
    "streams/policy",
    "streams/processing.py",
    "streams/log_steps.py",
    "streams/records.py",
    "schemas",
)


def _modules() -> list[Path]:
    found: list[Path] = []
    for floor in LOWER_FLOORS:
        path = ROOT / floor
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def imports_of_tools(source: str) -> list[str]:
    """Every module under streams.tools that ``source`` imports, at any depth of the code."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names if alias.name.startswith("streams.tools"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("streams.tools"):
                found.append(node.module)
            elif node.module == "streams" and any(alias.name == "tools" for alias in node.names):
                found.append("streams.tools")
    return found


@pytest.mark.parametrize("module", _modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_lower_floors_never_import_the_tools(module: Path) -> None:
    assert imports_of_tools(module.read_text()) == [], f"{module.relative_to(ROOT)} imports streams.tools"


def test_the_check_sees_every_form_of_import() -> None:
    """The rule above would pass vacuously if the finder missed an import form."""
    assert imports_of_tools("from streams.tools.replay import replay_lines") == ["streams.tools.replay"]
    assert imports_of_tools("import streams.tools.bench.timeline") == ["streams.tools.bench.timeline"]
    assert imports_of_tools("from streams import tools") == ["streams.tools"]
    assert imports_of_tools("def f():\n    from streams.tools.x import y\n") == ["streams.tools.x"]
    assert imports_of_tools("from streams.log_steps import replay_steps") == []
