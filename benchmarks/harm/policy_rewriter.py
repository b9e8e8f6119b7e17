"""The policy rewriter on real text: the method's table (mean harm per category before and after,
reduction in %) and what it does to clean news.

Three inputs, each rewritten by `align_segments` with the `policy` rewriter (validation included)
and the configured harm scorer:
- the sample's harmful forum posts (native_pipeline/sample/content.py), each inside a neutral
  thread (an opening post before, a reply after);
- labelled offensive and hate posts of the datasets the offline model never saw;
- clean news (/work/realdata/clean.jsonl), cut into the platform's segments.
"After" is also scored by the former bundled classifier (arabic-toxic), which took no part in the
removals: the scorer that removed a sentence always agrees that it is gone.

    python benchmarks/harm/policy_rewriter.py --out /tmp/policy.json

`--sweep` instead measures, for each threshold, the share of clean segments that harm removal
leaves untouched, on documents of clean.jsonl that the report does not use (1,000-1,399 by
default): how the config's `harm_threshold` is chosen for a new scorer.

    python benchmarks/harm/policy_rewriter.py --sweep
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.harm.evaluate import arabic_toxic_scorer
from benchmarks.harm.train_offline import TRAIN_SETS
from native_pipeline.alignment.backends.base import Sampling
from native_pipeline.alignment.backends.policy import PolicyRewriter
from native_pipeline.alignment.rewrite import align_segments
from native_pipeline.alignment.segments import segment_document
from native_pipeline.alignment.validate import Limits
from native_pipeline.sample import content
from native_pipeline.settings import HarmSettings, load_settings
from native_pipeline.text.harm import make_scorer, text_harm


def _rewrite(texts: list[str], threshold: float, settings: HarmSettings) -> list:
    scorer = make_scorer(settings)
    return align_segments(
        texts, PolicyRewriter(threshold, scorer), Sampling(), Limits(), scorer=scorer
    )


def news_segments(path: Path, start: int, stop: int) -> list[str]:
    """Documents [start, stop) of clean.jsonl, cut into the platform's segments."""
    with path.open(encoding="utf-8") as lines:
        docs = [json.loads(line) for line in lines][start:stop]
    return [s.text for d in docs for s in segment_document(d["id"], d["text"], 256)]


def sweep(segments: list[str], settings: HarmSettings) -> dict[str, float]:
    """Share of segments the policy leaves as its format fixes alone would, per threshold."""
    scorer = make_scorer(settings)
    fixed_only = PolicyRewriter(2.0, scorer).rewrite(segments, Sampling())
    shares = {}
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        out = PolicyRewriter(threshold, scorer).rewrite(segments, Sampling())
        same = [a.text == b.text for a, b in zip(out, fixed_only, strict=True)]
        shares[str(threshold)] = round(float(np.mean(same)), 4)
    return shares


def table(results: list, categories: tuple[str, ...], peer) -> list[dict]:
    """Mean harm per category before and after, with the reduction in %; the peer's harm_max."""
    rows = []
    for key in (*categories, "harm_max"):
        before = float(np.mean([r.before.harm[key] for r in results]))
        after = float(np.mean([r.after.harm[key] for r in results]))
        rows.append(
            {
                "category": key.removeprefix("harm_"),
                "before": round(before, 3),
                "after": round(after, 3),
                "reduction_pct": round(100 * (before - after) / before, 1) if before else 0.0,
            }
        )
    if peer is not None:
        before = float(np.mean([s["harm_max"] for s in peer([r.original for r in results])]))
        after = float(np.mean([s["harm_max"] for s in peer([r.aligned for r in results])]))
        rows.append(
            {
                "category": "max, judged by arabic-toxic",
                "before": round(before, 3),
                "after": round(after, 3),
                "reduction_pct": round(100 * (before - after) / before, 1) if before else 0.0,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/realdata/harm.jsonl"))
    parser.add_argument("--news", type=Path, default=Path("/work/realdata/clean.jsonl"))
    parser.add_argument("--news-docs", type=int, default=400)
    parser.add_argument("--posts", type=int, default=300, help="per label (offensive, hate)")
    parser.add_argument("--backend", default="offline")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--sweep", action="store_true", help="untouched share per threshold")
    parser.add_argument("--sweep-docs", type=int, nargs=2, default=(1000, 1400))
    args = parser.parse_args()
    settings = HarmSettings(backend=args.backend, model=args.model)
    if args.sweep:
        segments = news_segments(args.news, *args.sweep_docs)
        print(json.dumps({"segments": len(segments), "untouched": sweep(segments, settings)}))
        return
    threshold = load_settings().alignment.rewriter.harm_threshold
    categories = make_scorer(settings).categories
    try:
        peer = arabic_toxic_scorer()
    except ImportError:
        peer = None
    report: dict[str, object] = {"backend": args.backend, "threshold": threshold}

    # The sample's harmful posts, each in a neutral thread.
    sample = [
        (cat, sev, f"{content.HARM_OPENERS[0]}\n{post}\n{content.HARM_REPLIES[0]}", post)
        for (cat, sev), posts in content.HARM.items()
        for post in posts
    ]
    results = _rewrite([s[2] for s in sample], threshold, settings)
    post_harm = text_harm([s[3] for s in sample], make_scorer(settings))
    report["sample"] = {
        "table": table(results, categories, peer),
        "posts": [
            {
                "category": f"{cat}/{sev}",
                "harm_max": round(h["harm_max"], 3),
                "removed": post not in r.aligned,
                "thread_kept": content.HARM_OPENERS[0] in r.aligned,
            }
            for (cat, sev, _, post), r, h in zip(sample, results, post_harm, strict=True)
        ],
    }

    # Labelled posts the offline model never saw.
    rng = np.random.default_rng(0)
    rows = [json.loads(line) for line in args.data.open(encoding="utf-8")]
    unseen = [r for r in rows if r["dataset"] not in TRAIN_SETS]
    for label in ("hate", "offensive"):
        pool = [r for r in unseen if r["label"] == label]
        picked = [pool[i] for i in rng.permutation(len(pool))[: args.posts]]
        results = _rewrite([r["text"] for r in picked], threshold, settings)
        report[f"real_{label}"] = {
            "posts": len(picked),
            "datasets": sorted({r["dataset"] for r in picked}),
            "changed_share": round(float(np.mean([not r.unchanged for r in results])), 3),
            "table": table(results, categories, peer),
        }

    # Clean news, in the platform's segments.
    segments = news_segments(args.news, 0, args.news_docs)
    with_harm = _rewrite(segments, threshold, settings)
    without_harm = _rewrite(segments, 2.0, settings)  # furniture and format fixes only
    harm_edits = [a.aligned != b.aligned for a, b in zip(with_harm, without_harm, strict=True)]
    report["clean_news"] = {
        "documents": args.news_docs,
        "segments": len(segments),
        "untouched_share": round(float(np.mean([r.unchanged for r in with_harm])), 4),
        "untouched_by_harm_removal_share": round(1 - float(np.mean(harm_edits)), 4),
        "table": table(with_harm, categories, None),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
