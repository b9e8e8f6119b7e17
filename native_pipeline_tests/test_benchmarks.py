"""Every benchmark script still imports against the package it measures.

Benchmarks run by hand, so a rename in the package breaks them silently (fidelity.py and
ddp_eval.py did). A benchmark whose peer tool is not installed here (datatrove, spaCy…)
is skipped; a missing name of our own fails.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(p for p in (ROOT / "benchmarks").rglob("*.py") if p.name != "__init__.py")
OURS = ("native_pipeline", "benchmarks", "fidelity_rewrites")


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmark_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # fidelity.py imports its sibling by name, as when run as a script
    monkeypatch.syspath_prepend(str(path.parent))
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in OURS:
            raise
        pytest.skip(f"{module} needs {error.name}, not installed here")
    finally:
        sys.modules.pop(module, None)
