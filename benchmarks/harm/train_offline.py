"""Train the `offline` harm scorer and write native_pipeline/text/harm/offline_model_v2.npz.

Reads the rows of `build_data.py` (/work/realdata/harm.jsonl), keeps the training datasets
(only those whose licence lets the weights ship: see DATA_CARD.md), fits two logistic-regression
heads on 80 % of their posts and a Platt curve per head on 10 %, so that the shipped scores are
calibrated; the last 10 % is the in-domain test of `evaluate.py`. Every other dataset stays
unseen, for `evaluate.py`. The defaults of `Options` are the configuration chosen by
`select_offline.py` (leave one training set out; see docs/benchmarks/real_data.md).

    python benchmarks/harm/train_offline.py --data /work/realdata/harm.jsonl
"""

from __future__ import annotations

import argparse
import json
import zlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from native_pipeline.text.harm.offline import BUNDLED, HEADS, Featurizer, OfflineModel

TRAIN_SETS = ("mpold", "mlma", "saudi_hate")


@dataclass(frozen=True)
class Options:
    c: float = 1.0  # inverse L2 strength
    balance_datasets: bool = True  # each training set weighs the same, whatever its size
    char_min: int = 3
    char_max: int = 6
    word_bits: int = 0  # 0: characters only
    marks: bool = True  # emoji and punctuation as tokens
    loose: bool = False  # merge letters that dialects swap (ظ ض, ذ د, ث ت)

    def featurizer(self) -> Featurizer:
        return Featurizer(
            word_bits=self.word_bits,
            char_min=self.char_min,
            char_max=self.char_max,
            marks=self.marks,
            loose=self.loose,
        )


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


def dataset_weights(datasets: np.ndarray, balance: bool) -> np.ndarray:
    """1 per row, or (balance) 1 / the size of its dataset; mean 1."""
    if not balance:
        return np.ones(len(datasets))
    _, which, counts = np.unique(datasets, return_inverse=True, return_counts=True)
    w = 1.0 / counts[which]
    return w / w.mean()


def class_balanced(w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rescale `w` so both classes carry half its total (sklearn's "balanced", with weights)."""
    out = w.copy()
    for cls in (0, 1):
        out[y == cls] *= 0.5 * w.sum() / w[y == cls].sum()
    return out


def fit(
    featurizer: Featurizer,
    x: csr_matrix,
    rows: list[dict],
    fit_rows: np.ndarray,
    held: np.ndarray,
    options: Options,
    seed: int,
) -> tuple[OfflineModel, dict[str, float]]:
    """Both heads on `x[fit_rows]`, each Platt-calibrated on `x[held]` (boolean masks)."""
    y = targets(rows)
    w = dataset_weights(np.array([r["dataset"] for r in rows]), options.balance_datasets)
    weights, bias, platt, report = [], [], [], {}
    for i, head in enumerate(HEADS):
        model = LogisticRegression(C=options.c, max_iter=2000, random_state=seed)
        model.fit(
            x[fit_rows], y[fit_rows, i], sample_weight=class_balanced(w[fit_rows], y[fit_rows, i])
        )
        logit = model.decision_function(x[held])
        curve = LogisticRegression(C=1e6).fit(logit[:, None], y[held, i], sample_weight=w[held])
        weights.append(model.coef_[0])
        bias.append(model.intercept_[0])
        platt.append([curve.coef_[0, 0], curve.intercept_[0]])
        report[f"{head}_auc_calibration_split"] = round(float(roc_auc_score(y[held, i], logit)), 4)
    model = OfflineModel(
        featurizer,
        np.stack(weights, axis=1).astype(np.float32),
        np.array(bias, dtype=np.float32),
        np.array(platt, dtype=np.float64),
    )
    return model, report


def train(rows: list[dict], options: Options, seed: int) -> tuple[OfflineModel, dict[str, float]]:
    part = np.array([split(r["id"]) for r in rows])
    featurizer = options.featurizer()
    x = featurizer.transform([r["text"] for r in rows])
    return fit(featurizer, x, rows, part == "fit", part == "calibration", options, seed)


def add_options(parser: argparse.ArgumentParser) -> None:
    """One --flag per field of `Options`, defaulting to the chosen configuration."""
    for f in fields(Options):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=float if f.type == "float" else int, default=f.default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/realdata/harm.jsonl"))
    parser.add_argument("--train", nargs="+", default=list(TRAIN_SETS))
    parser.add_argument("--out", type=Path, default=BUNDLED["v2"])
    parser.add_argument("--seed", type=int, default=0)
    add_options(parser)
    args = parser.parse_args()
    options = Options(**{f.name: getattr(args, f.name) for f in fields(Options)})
    rows = load_rows(args.data, tuple(args.train))
    model, report = train(rows, options, args.seed)
    model.save(args.out)
    size_kib = args.out.stat().st_size / 1024
    print(
        json.dumps(
            {
                "rows": len(rows),
                "train": args.train,
                **asdict(options),
                **report,
                "kib": round(size_kib),
            }
        )
    )


if __name__ == "__main__":
    main()
