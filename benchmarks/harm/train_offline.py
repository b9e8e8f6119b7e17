"""Train the `offline` harm scorer and write native_pipeline/text/harm/offline_model.npz.

Reads the rows of `build_data.py` (/work/realdata/harm.jsonl), keeps the training datasets
(only those whose licence lets the weights ship: see DATA_CARD.md), fits two logistic-regression
heads on 80 % of their posts and a Platt curve per head on 10 %, so that the shipped scores are
calibrated; the last 10 % is the in-domain test of `evaluate.py`. Every other dataset stays
unseen, for `evaluate.py`.

    python benchmarks/harm/train_offline.py --data /work/realdata/harm.jsonl
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from native_pipeline.text.harm.offline import HEADS, MODEL_PATH, Featurizer, OfflineModel

TRAIN_SETS = ("mpold", "mlma", "saudi_hate")


def load_rows(path: Path, datasets: tuple[str, ...]) -> list[dict]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    missing = set(datasets) - {r["dataset"] for r in rows}
    if missing:
        raise SystemExit(f"{path} has no rows of {sorted(missing)}")
    return [r for r in rows if r["dataset"] in datasets]


def split(row_id: str) -> str:
    """fit (80 %), calibration (10 %) or test (10 %): stable by id, so reruns agree."""
    bucket = zlib.crc32(row_id.encode()) % 100
    return "calibration" if bucket < 10 else "test" if bucket < 20 else "fit"


def targets(rows: list[dict]) -> np.ndarray:
    """(rows, heads): offensive = any label but clean; hate = the hate label."""
    return np.array([[r["label"] != "clean", r["label"] == "hate"] for r in rows], dtype=int)


def train(rows: list[dict], c: float, seed: int) -> tuple[OfflineModel, dict[str, float]]:
    part = np.array([split(r["id"]) for r in rows])
    fit_rows, held = part == "fit", part == "calibration"
    featurizer = Featurizer()
    x = featurizer.transform([r["text"] for r in rows])
    y = targets(rows)
    weights, bias, platt, report = [], [], [], {}
    for i, head in enumerate(HEADS):
        fit = LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed)
        fit.fit(x[fit_rows], y[fit_rows, i])
        logit = fit.decision_function(x[held])
        curve = LogisticRegression(C=1e6).fit(logit[:, None], y[held, i])
        weights.append(fit.coef_[0])
        bias.append(fit.intercept_[0])
        platt.append([curve.coef_[0, 0], curve.intercept_[0]])
        report[f"{head}_auc_calibration_split"] = round(float(roc_auc_score(y[held, i], logit)), 4)
    model = OfflineModel(
        featurizer,
        np.stack(weights, axis=1).astype(np.float32),
        np.array(bias, dtype=np.float32),
        np.array(platt, dtype=np.float64),
    )
    return model, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/realdata/harm.jsonl"))
    parser.add_argument("--train", nargs="+", default=list(TRAIN_SETS))
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--C", type=float, default=4.0, help="inverse L2 strength")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = load_rows(args.data, tuple(args.train))
    model, report = train(rows, args.C, args.seed)
    model.save(args.out)
    size_kib = args.out.stat().st_size / 1024
    print(json.dumps({"rows": len(rows), "train": args.train, **report, "kib": round(size_kib)}))


if __name__ == "__main__":
    main()
