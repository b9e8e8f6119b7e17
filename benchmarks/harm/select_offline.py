"""Choose the `offline` scorer's configuration without looking at the unseen sets.

Leave one training set out: for each of mpold, mlma and saudi_hate, fit on the `fit` split of
the other two, calibrate on their `calibration` split, and score every post of the one left out.
Per candidate it prints, for each left-out set, ROC-AUC of offensive vs clean by harm_max (the
larger of the two calibrated heads, as the platform and `evaluate.py` score it), of the
offensive head alone, of the hate head for hate vs the rest, and the recall of hate posts at
harm_max >= 0.8; and the share of clean news chunks (/work/realdata/clean.jsonl, not one of
the labelled sets) flagged at 0.5 and 0.8, averaged over the three fold models.

Rule, fixed before any run (the tie-break added at the first tie): the chosen candidate has
the highest mean harm_max ROC-AUC over the three folds among those flagging at most 5 % of the
news at 0.8 (a tie, to the printed three decimals: the one flagging less news at 0.5); it
replaces the shipped configuration only if that mean beats the shipped one's by 0.01 or more.
The six unseen sets are never read here.

    python benchmarks/harm/select_offline.py "c=4" "c=1 balance_datasets=1" "word_bits=0" ...
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.harm.evaluate import news_paragraphs
from benchmarks.harm.train_offline import TRAIN_SETS, Options, fit, load_rows, split, targets


def parse(spec: str) -> Options:
    """'c=1 balance_datasets=1' -> Options(c=1.0, balance_datasets=True)."""
    kinds = {f.name: f.type for f in fields(Options)}
    values = {}
    for item in spec.split():
        name, _, value = item.partition("=")
        if name not in kinds:
            raise SystemExit(f"unknown option {name!r}; options: {sorted(kinds)}")
        kind = kinds[name]
        values[name] = (
            bool(int(value)) if kind == "bool" else float(value) if kind == "float" else int(value)
        )
    return Options(**values)


def leave_one_out(rows: list[dict], news: list[str], options: Options, seed: int) -> dict:
    featurizer = options.featurizer()
    x = featurizer.transform([r["text"] for r in rows])
    x_news = featurizer.transform(news)
    datasets = np.array([r["dataset"] for r in rows])
    part = np.array([split(r["id"]) for r in rows])
    y = targets(rows)
    folds, news_flagged = {}, []
    for left_out in TRAIN_SETS:
        inside = datasets != left_out
        model, _ = fit(
            featurizer,
            x,
            rows,
            inside & (part == "fit"),
            inside & (part == "calibration"),
            options,
            seed,
        )
        p = model.predict_features(x[~inside])
        harm = np.maximum(p["offensive"], p["hate"])
        offensive, hate = y[~inside, 0] == 1, y[~inside, 1] == 1
        folds[left_out] = {
            "auc_offensive": round(float(roc_auc_score(offensive, harm)), 3),
            "auc_offensive_head": round(float(roc_auc_score(offensive, p["offensive"])), 3),
            "auc_hate": round(float(roc_auc_score(hate, p["hate"])), 3),
            "hate_recall@0.8": round(float((harm[hate] >= 0.8).mean()), 3),
        }
        q = model.predict_features(x_news)
        news_flagged.append(np.maximum(q["offensive"], q["hate"]))
    flagged = {
        f"news@{t}": round(float(np.mean([(n >= t).mean() for n in news_flagged])), 4)
        for t in (0.5, 0.8)
    }
    mean = {
        key: round(float(np.mean([f[key] for f in folds.values()])), 3)
        for key in ("auc_offensive", "auc_offensive_head", "auc_hate", "hate_recall@0.8")
    }
    return {"options": asdict(options), "mean": mean, **flagged, "folds": folds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "candidates", nargs="+", help="'name=value ...' per candidate ('' = defaults)"
    )
    parser.add_argument("--data", type=Path, default=Path("/work/realdata/harm.jsonl"))
    parser.add_argument("--news", type=Path, default=Path("/work/realdata/clean.jsonl"))
    parser.add_argument("--news-limit", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="append one JSON line per candidate")
    args = parser.parse_args()
    rows = load_rows(args.data, TRAIN_SETS)
    news = news_paragraphs(args.news, args.news_limit)
    for spec in args.candidates:
        result = {"candidate": spec, **leave_one_out(rows, news, parse(spec), args.seed)}
        print(json.dumps(result), flush=True)
        if args.out:
            with args.out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
