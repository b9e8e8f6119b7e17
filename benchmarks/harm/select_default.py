"""Choose the default bundled `offline` harm model on sources held out from its training.

Protocol (fixed and committed before any candidate was scored with it):

- Candidates: the bundled weights `v1` (shipped until 2026-12-01: C=4, character 2-5-grams and
  a word block, no dataset balance) and `v2` (the retrained ones: C=1, character 3-6-grams,
  marks, training sets weighed equally). Both were trained on mpold, mlma and saudi_hate.
- Every source of harm.jsonl is scored by a model that never saw it:
  - the six evaluation-only sources (never trained on by either) by the bundled weights,
    every post of each source;
  - each of the three training sources by the candidate's configuration refitted on the other
    two (`select_offline.leave_one_out`, seed 0).
- Per source: ROC-AUC of harm_max, offensive vs clean; ROC-AUC of the hate head, hate vs the
  rest, on the sources that label hate.
- Rule: the default is the candidate with the higher mean offensive ROC-AUC over the nine
  sources, each source weighing the same. A difference under 0.005 is a tie, broken by the mean
  hate ROC-AUC. A candidate that flags more than 5 % of clean news chunks at 0.8 (the shipped
  weights on /work/realdata/clean.jsonl) is not eligible.
- The figures the README and docs report are these held-out ones.

    python benchmarks/harm/select_default.py --out /tmp/select_default.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.harm.evaluate import news_paragraphs
from benchmarks.harm.select_offline import leave_one_out
from benchmarks.harm.train_offline import TRAIN_SETS, Options, load_rows
from native_pipeline.text.harm.offline import BUNDLED, load

# Each bundled model's training configuration (train_offline.Options), for the refitted folds.
CONFIGURATIONS = {
    "v1": Options(c=4.0, balance_datasets=False, char_min=2, char_max=5, word_bits=17, marks=False),
    "v2": Options(),
}
TIE = 0.005
MAX_NEWS_FLAGGED = 0.05  # at 0.8


def unseen_sources(rows: list[dict], name: str) -> dict[str, dict[str, float]]:
    """Per evaluation-only source, ROC-AUC of the bundled weights `name` (every post)."""
    model = load(BUNDLED[name])
    by_source: dict[str, list[dict]] = {}
    for row in rows:
        by_source.setdefault(row["dataset"], []).append(row)
    out = {}
    for source, posts in sorted(by_source.items()):
        p = model.predict([r["text"] for r in posts])
        labels = np.array([r["label"] for r in posts])
        harm = np.maximum(p["offensive"], p["hate"])
        out[source] = {"posts": len(posts), "auc_offensive": _auc(labels != "clean", harm)}
        if (labels == "hate").any() and (labels != "hate").any():
            out[source]["auc_hate"] = _auc(labels == "hate", p["hate"])
    return out


def news_flagged(news: list[str], name: str) -> float:
    p = load(BUNDLED[name]).predict(news)
    return round(float((np.maximum(p["offensive"], p["hate"]) >= 0.8).mean()), 4)


def _auc(truth: np.ndarray, scores: np.ndarray) -> float:
    return round(float(roc_auc_score(truth, scores)), 3)


def choose(results: dict[str, dict]) -> str:
    """The protocol's rule over {name: {"mean_offensive", "mean_hate", "news@0.8"}}."""
    eligible = {n: r for n, r in results.items() if r["news@0.8"] <= MAX_NEWS_FLAGGED}
    if not eligible:
        raise SystemExit("no candidate flags at most 5 % of clean news at 0.8")
    ranked = sorted(eligible, key=lambda n: eligible[n]["mean_offensive"], reverse=True)
    best = ranked[0]
    for other in ranked[1:]:
        close = eligible[best]["mean_offensive"] - eligible[other]["mean_offensive"] < TIE
        if close and eligible[other]["mean_hate"] > eligible[best]["mean_hate"]:
            best = other
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/realdata/harm.jsonl"))
    parser.add_argument("--news", type=Path, default=Path("/work/realdata/clean.jsonl"))
    parser.add_argument("--news-limit", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    unseen = [r for r in rows if r["dataset"] not in TRAIN_SETS]
    training = load_rows(args.data, TRAIN_SETS)
    news = news_paragraphs(args.news, args.news_limit)
    results = {}
    for name, options in CONFIGURATIONS.items():
        folds = leave_one_out(training, news, options, seed=0)["folds"]
        sources = {
            **{
                s: {"auc_offensive": f["auc_offensive"], "auc_hate": f["auc_hate"]}
                for s, f in folds.items()
            },
            **unseen_sources(unseen, name),
        }
        hate = [s["auc_hate"] for s in sources.values() if "auc_hate" in s]
        results[name] = {
            "mean_offensive": round(
                float(np.mean([s["auc_offensive"] for s in sources.values()])), 3
            ),
            "mean_hate": round(float(np.mean(hate)), 3),
            "news@0.8": news_flagged(news, name),
            "sources": sources,
        }
        print(name, json.dumps(results[name]), flush=True)
    results["default"] = choose({n: r for n, r in results.items()})
    print("default", results["default"])
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
