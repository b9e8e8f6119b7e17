"""The floors of the package (docs/design.md): a module imports its own floor and the floors
below it, never one above, and only the wiring imports Dagster."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "native_pipeline"
# Lowest first. Modules of one floor may import each other.
FLOORS = [
    {"sample", "draw", "lake", "sql", "api_client", "progress"},
    {"settings", "text"},
    {"tables", "ingest", "landing", "lm", "cluster"},
    {"alignment"},
    {"training"},
    {"evaluation"},
    {"defs"},
    {"definitions"},
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}
DAGSTER_FROM = FLOOR["defs"]
# The external side of Dagster Pipes: a process started by an asset reports back through it.
PIPES = "dagster_pipes"


def room(module: str) -> str:
    """native_pipeline.alignment.backends.vllm -> alignment"""
    return module.split(".")[1]


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_runs_up_a_floor(path):
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    module = ".".join(("native_pipeline", *parts))
    here = 0 if parts == ("__init__",) else FLOOR[room(module)]
    upward = sorted(
        name
        for name in imports(path)
        if name.startswith("native_pipeline.") and FLOOR[room(name)] > here
    )
    assert not upward, f"{module} (floor {here}) imports from above: {upward}"
    if here < DAGSTER_FROM:
        dagster = sorted(
            n for n in imports(path) if n.startswith("dagster") and n.split(".")[0] != PIPES
        )
        assert not dagster, f"{module} is below the wiring but imports {dagster}"


def test_every_room_has_a_floor():
    rooms = {p.stem if p.suffix else p.name for p in PACKAGE.iterdir() if p.name != "__init__.py"}
    rooms = {r for r in rooms if not r.startswith(("_", ".")) and r not in {"config"}}
    code = {r for r in rooms if (PACKAGE / f"{r}.py").exists() or (PACKAGE / r).is_dir()}
    assert code <= set(FLOOR), f"place these in FLOORS: {sorted(code - set(FLOOR))}"
