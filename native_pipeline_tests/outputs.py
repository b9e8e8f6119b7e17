"""Fingerprints of what the main job writes, so that a change which should not change the data
(a refactoring) is shown not to.

Every Parquet table under the data root is hashed row by row (rows sorted, so part boundaries
and order do not matter; timing columns left out), and the token shards and the tokenizer by
their bytes. Tables computed from a trained model's floating-point weights (eval_scores,
ablation_report) are left out: their last bits follow the CPU's kernels, not the code.

    python -m native_pipeline_tests.outputs DATA_ROOT   # print the fingerprints as JSON
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import polars as pl

TIMING = ("seconds", "per_second")
MODEL_FLOATS = ("eval_scores", "ablation_report")


def _visible(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return not any(p.startswith(".") for p in parts) and parts[0] not in MODEL_FLOATS


def output_hashes(root: Path) -> dict[str, str]:
    hashes: dict[str, str] = {}
    tables = sorted({p.parent for p in root.rglob("*.parquet") if _visible(p, root)})
    for table in tables:
        frame = pl.read_parquet(sorted(table.glob("*.parquet")))
        frame = frame.select([c for c in frame.columns if not any(t in c for t in TIMING)])
        rows = sorted(
            json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
            for row in frame.iter_rows(named=True)
        )
        digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
        hashes[str(table.relative_to(root))] = digest
    for path in sorted([*root.rglob("*.bin"), *root.rglob("tokenizer.json")]):
        if _visible(path, root):
            hashes[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return hashes


if __name__ == "__main__":
    print(json.dumps(output_hashes(Path(sys.argv[1])), indent=1, sort_keys=True))
