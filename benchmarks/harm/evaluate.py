"""Evaluate a harm scorer on labelled posts it was not trained on, dataset by dataset.

For each dataset of /work/realdata/harm.jsonl outside the scorer's training sets: ROC-AUC of
harm_max for offensive vs clean posts, ROC-AUC of harm_hate for hate vs the rest (where the set
labels hate), the share flagged, precision and hate recall at the thresholds, and the share of
clean news paragraphs (/work/realdata/clean.jsonl) flagged. Also draws the reliability plot.

    python benchmarks/harm/evaluate.py --backend offline --plot docs/img/harm_reliability.png
    python benchmarks/harm/evaluate.py --backend arabic_toxic      # the former bundled model
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.harm.train_offline import TRAIN_SETS, split
from native_pipeline.text.harm import HarmSettings, make_scorer
from native_pipeline.text.harm.offline import load

THRESHOLDS = (0.5, 0.8)
Scorer = Callable[[list[str]], list[dict[str, float]]]


def arabic_toxic_scorer() -> Scorer:
    """The classifier of the `arabic-toxic` package that the platform bundled before."""
    from arabic_toxic import classifier
    from sklearn.exceptions import InconsistentVersionWarning

    # arabic-toxic 0.2.3 pins scikit-learn<1.8 but ships a model pickled with 1.8.0; it loads
    # and predicts the same, so the version warning is muted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        bundle = classifier._load_bundle()
    labels = list(bundle["labels"])
    hate = [labels.index("Hatred"), labels.index("Racial")]
    harmful = [
        labels.index(x) for x in ("Hatred", "Racial", "Cussing", "Appearance", "Sexual", "Violence")
    ]

    def score(texts: list[str]) -> list[dict[str, float]]:
        proba = bundle["pipeline"].predict_proba([classifier.normalize_arabic(t) for t in texts])
        return [
            {"harm_hate": float(p[hate].max()), "harm_max": float(p[harmful].max())} for p in proba
        ]

    return score


def _at(scores: np.ndarray, positive: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = scores >= threshold
    return {
        f"flagged@{threshold}": round(float(flagged.mean()), 3),
        f"precision@{threshold}": round(float(positive[flagged].mean()), 3) if flagged.any() else 0,
        f"recall@{threshold}": round(float(flagged[positive].mean()), 3),
    }


def evaluate_dataset(rows: list[dict], scored: list[dict[str, float]]) -> dict[str, object]:
    labels = np.array([r["label"] for r in rows])
    harm = np.array([s["harm_max"] for s in scored])
    hate = np.array([s["harm_hate"] for s in scored])
    offensive = labels != "clean"
    out: dict[str, object] = {"posts": len(rows), "offensive_share": round(offensive.mean(), 3)}
    out["auc_offensive"] = round(float(roc_auc_score(offensive, harm)), 3)
    for t in THRESHOLDS:
        out.update(_at(harm, offensive, t))
    if (labels == "hate").any() and (labels != "hate").any():
        is_hate = labels == "hate"
        out["hate_posts"] = int(is_hate.sum())
        out["auc_hate"] = round(float(roc_auc_score(is_hate, hate)), 3)
        for t in THRESHOLDS:
            out[f"hate_recall_max@{t}"] = round(float((harm[is_hate] >= t).mean()), 3)
    return out


def reliability(scores: np.ndarray, truth: np.ndarray, bins: int = 10) -> list[tuple]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges) - 1, 0, bins - 1)
    return [
        (float(scores[which == b].mean()), float(truth[which == b].mean()), int((which == b).sum()))
        for b in range(bins)
        if (which == b).any()
    ]


def plot(curves: dict[str, list[tuple]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    for name, points in curves.items():
        xs, ys, ns = zip(*points, strict=True)
        ax.plot(xs, ys, "s:" if name.startswith("training") else "o-", label=name)
        for x, y, n in zip(xs, ys, ns, strict=True):
            ax.annotate(str(n), (x, y), fontsize=6, textcoords="offset points", xytext=(3, -8))
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("observed share labelled offensive / hate")
    ax.set_title("offline harm scorer: reliability")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def news_paragraphs(path: Path, limit: int) -> list[str]:
    """Clean news split into the scorer's chunks (what cleaning and the rewriter score)."""
    from native_pipeline.text.harm import chunks

    out: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            out += chunks(json.loads(line)["text"], 300)
            if len(out) >= limit:
                break
    return out[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/realdata/harm.jsonl"))
    parser.add_argument("--news", type=Path, default=Path("/work/realdata/clean.jsonl"))
    parser.add_argument("--news-limit", type=int, default=5000)
    parser.add_argument("--backend", default="offline", help="a harm backend, or arabic_toxic")
    parser.add_argument("--model", default=None, help="the backend's model (offline: a .npz)")
    parser.add_argument(
        "--lexicon-score", type=float, default=None, help="harm.lexicon_score (0: no rules)"
    )
    parser.add_argument("--exclude", nargs="*", default=list(TRAIN_SETS), help="training sets")
    parser.add_argument("--per-set", type=int, default=3000, help="posts drawn per dataset")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()

    if args.backend == "arabic_toxic":
        score = arabic_toxic_scorer()
    elif args.backend == "offline" and args.model:
        model = load(args.model)

        def score(texts: list[str]) -> list[dict[str, float]]:
            p = model.predict(texts)
            return [
                {"harm_hate": float(h), "harm_max": float(max(o, h))}
                for o, h in zip(p["offensive"], p["hate"], strict=True)
            ]
    else:
        settings = HarmSettings(backend=args.backend, model=args.model)
        if args.lexicon_score is not None:
            settings.lexicon_score = args.lexicon_score
        score = make_scorer(settings).score

    rng = np.random.default_rng(0)
    by_set: dict[str, list[dict]] = {}
    in_domain: list[dict] = []  # the training sets' test split, never fitted nor calibrated on
    for line in args.data.open(encoding="utf-8"):
        row = json.loads(line)
        if row["dataset"] not in args.exclude:
            by_set.setdefault(row["dataset"], []).append(row)
        elif split(row["id"]) == "test":
            in_domain.append(row)
    results: dict[str, object] = {
        "backend": args.backend,
        "model": args.model,
        "lexicon_score": args.lexicon_score,
    }
    pooled_harm, pooled_off, pooled_hate, pooled_is_hate = [], [], [], []
    pooled_hate_max: list[float] = []  # harm_max of the hate posts
    start = time.perf_counter()
    for name, rows in sorted(by_set.items()):
        rows = [rows[i] for i in sorted(rng.permutation(len(rows))[: args.per_set])]
        scored = score([r["text"] for r in rows])
        results[name] = evaluate_dataset(rows, scored)
        print(name, json.dumps(results[name]))
        labels = np.array([r["label"] for r in rows])
        pooled_harm += [s["harm_max"] for s in scored]
        pooled_off += list(labels != "clean")
        if (labels == "hate").any():
            pooled_hate += [s["harm_hate"] for s in scored]
            pooled_is_hate += list(labels == "hate")
            pooled_hate_max += [
                s["harm_max"] for s, lab in zip(scored, labels, strict=True) if lab == "hate"
            ]
    news = np.zeros(0)
    if args.news.exists():
        paragraphs = news_paragraphs(args.news, args.news_limit)
        news = np.array([s["harm_max"] for s in score(paragraphs)])
        results["clean_news"] = {
            "paragraphs": len(paragraphs),
            **{f"flagged@{t}": round(float((news >= t).mean()), 4) for t in THRESHOLDS},
        }
        print("clean_news", json.dumps(results["clean_news"]))
    # What each threshold would give (the policy threshold is a config value): recall of the
    # pooled unseen offensive and hate posts (by harm_max) and the clean news flagged.
    harm, offensive = np.array(pooled_harm), np.array(pooled_off, dtype=bool)
    hate_max = np.array(pooled_hate_max)
    results["thresholds"] = [
        {
            "threshold": t,
            "offensive_recall": round(float((harm[offensive] >= t).mean()), 3),
            "precision": round(float(offensive[harm >= t].mean()), 3) if (harm >= t).any() else 0,
            "hate_recall": round(float((hate_max >= t).mean()), 3) if hate_max.size else None,
            "news_flagged": round(float((news >= t).mean()), 4) if news.size else None,
        }
        for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    ]
    for row in results["thresholds"]:
        print("threshold", json.dumps(row))
    results["seconds"] = round(time.perf_counter() - start, 1)
    curves = {
        "unseen sets, offensive (harm_max)": reliability(harm, offensive),
        "unseen sets, hate (harm_hate)": reliability(
            np.array(pooled_hate), np.array(pooled_is_hate)
        ),
    }
    if in_domain:
        scored = score([r["text"] for r in in_domain])
        results["in_domain_test"] = evaluate_dataset(in_domain, scored)
        print("in_domain_test", json.dumps(results["in_domain_test"]))
        labels = np.array([r["label"] for r in in_domain])
        curves["training sets' test split, offensive"] = reliability(
            np.array([s["harm_max"] for s in scored]), labels != "clean"
        )
        curves["training sets' test split, hate"] = reliability(
            np.array([s["harm_hate"] for s in scored]), labels == "hate"
        )
    results["reliability"] = curves
    if args.plot:
        plot(curves, args.plot)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
