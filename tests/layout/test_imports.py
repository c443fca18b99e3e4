"""The package's layers: orchestration/lib is the library that the Dagster definitions
(orchestration/defs, orchestration/definitions.py) and the commands (cli.py, pipeline.py) build
on, so nothing in lib imports them (an arrow back up makes lib load the whole code location)."""

from __future__ import annotations

import ast
from pathlib import Path

import orchestration

PACKAGE = Path(orchestration.__file__).parent
UPPER_LAYERS = (
    "orchestration.defs",
    "orchestration.definitions",
    "orchestration.pipeline",
    "orchestration.cli",
)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_lib_imports_nothing_of_the_layers_above_it() -> None:
    upward = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in imported_modules(path) if name.startswith(UPPER_LAYERS)
        )
        for path in sorted((PACKAGE / "lib").rglob("*.py"))
    }
    assert len(upward) > 20, "lib's modules were found"
    assert {path: names for path, names in upward.items() if names} == {}
