"""Fidelity benchmark: does validation reject rewrites that change what real text says, and keep
the ones that do not?

    python benchmarks/fidelity.py --clean clean.jsonl --harm harm.jsonl [--n 200]

1. Cuts the documents of `--clean` (jsonl rows with `text` and `genre`) of one `--genre` (news by
   default) into rewrite segments, as rewrite_segments does (256 words and marks at most).
2. Makes `--n` (original, rewrite) pairs of each kind with the rules of fidelity_rewrites.py:
   faithful kinds (what the code of conduct allows) and unfaithful kinds (one change of meaning
   each). Harmful and dialect comments come from `--harm` (jsonl rows with `text` and `label`).
3. Runs the pipeline's rewrite step on each kind (`align_segments` with a rewriter that answers
   the prepared rewrite: measurement, the harm scorer, validation, as in aligned_corpus) and
   counts the rejections and their reasons.
4. Prints the tables of docs/benchmarks/fidelity.md with each kind's target (`TARGETS`: at most
   5 % of each faithful kind rejected; at least 97 % of changed numbers, dates and names, dropped
   and invented sentences, translations and summaries; at least 90 % of negations, relation-word
   swaps, transpositions and short invented clauses), and the speed of the checks alone
   (`prepare`, `compare` and `check` on one core, segments per second).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from fidelity_rewrites import FAITHFUL, TARGETS, UNFAITHFUL, Corpus, corpus_names

from native_pipeline.alignment.backends.base import Completion, Sampling
from native_pipeline.alignment.conduct import wrap
from native_pipeline.alignment.fidelity import compare
from native_pipeline.alignment.rewrite import align_segments
from native_pipeline.alignment.segments import count_pieces, segment_document
from native_pipeline.alignment.validate import Limits
from native_pipeline.text.harm import text_harm


class Prepared:
    """A rewriter that answers each segment with its prepared rewrite, in order."""

    def __init__(self, rewrites: Sequence[str]) -> None:
        self.rewrites = list(rewrites)

    def identity(self) -> dict[str, str]:
        return {"backend": "prepared", "model": "rules"}

    def rewrite(self, segments: Sequence[str], sampling: Sampling) -> list[Completion]:
        assert len(segments) == len(self.rewrites)
        return [Completion(wrap(r)) for r in self.rewrites]


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_segments(path: Path, genre: str, min_words: int = 20) -> tuple[list[str], list[str]]:
    """Rewrite segments of the rows of the genres `genre` names (comma-separated), with at least
    `min_words`, and the rows' headlines (their titles, else their first sentences)."""
    rows = [r for r in read_jsonl(path) if r.get("genre") in genre.split(",")]
    headlines = [r.get("title") or r["text"].split("\n", 1)[0].split(".", 1)[0] for r in rows]
    headlines = [h.strip() for h in headlines if 3 <= len(h.split()) <= 15]
    segments = []
    for row in rows:
        for segment in segment_document(str(row["id"]), row["text"], 256, count_pieces):
            if len(segment.text.split()) >= min_words:
                segments.append(segment.text)
    return list(dict.fromkeys(segments)), headlines


def load_comments(path: Path, harmful: bool, rng: random.Random, k: int = 2000) -> list[str]:
    """Single-line comments of the harm set, labelled harmful or clean, `k` of them at random."""
    rows = [
        r["text"].strip()
        for r in read_jsonl(path)
        if (r["label"] != "clean") == harmful
        and "\n" not in r["text"].strip()
        and 6 <= len(r["text"].split()) <= 40
        and "@" not in r["text"]
    ]
    return rng.sample(rows, min(k, len(rows)))


def flagged(comments: list[str], threshold: float) -> list[str]:
    """The comments the pipeline's harm scorer flags: what the checks may let a rewrite remove.
    The labelled comments it misses are the harm scorer's recall, reported apart."""
    scores = text_harm(comments)
    return [c for c, s in zip(comments, scores, strict=True) if s["harm_max"] >= threshold]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clean", type=Path, required=True)
    parser.add_argument("--harm", type=Path, required=True)
    parser.add_argument(
        "--genre", default="news,news_translated", help="rows of these genres (comma-separated)"
    )
    parser.add_argument("--n", type=int, default=200, help="pairs per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=0, help="print this many errors per kind")
    parser.add_argument("--kinds", help="only these kinds (comma-separated)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    segments, headlines = load_segments(args.clean, args.genre)
    rng.shuffle(segments)
    limits = Limits()
    labelled = load_comments(args.harm, True, rng)
    corpus = Corpus(
        segments=segments,
        names=corpus_names(segments),
        harmful=flagged(labelled, limits.harm_removal_min),
        dialect=load_comments(args.harm, False, rng),
        headlines=headlines,
    )
    print(f"segments: {len(segments)} from {args.clean}; names found: {len(corpus.names)}")
    print(
        f"harmful comments flagged by the harm scorer: {len(corpus.harmful)} of {len(labelled)}"
        f" labelled ({100 * len(corpus.harmful) / max(len(labelled), 1):.0f} %)"
    )
    rows = []
    for faithful, kinds in ((True, FAITHFUL), (False, UNFAITHFUL)):
        for kind, generate in kinds.items():
            if args.kinds and kind not in args.kinds.split(","):
                continue
            pairs = []
            for segment in segments:
                if (pair := generate(segment, corpus, rng)) is not None and pair[0] != pair[1]:
                    pairs.append(pair)
                if len(pairs) == args.n:
                    break
            originals, rewrites = zip(*pairs, strict=True) if pairs else ((), ())
            started = time.perf_counter()
            results = align_segments(originals, Prepared(rewrites), Sampling(), limits)
            seconds = time.perf_counter() - started
            started = time.process_time()
            for original, rewrite in pairs:
                compare(original, rewrite).check(limits)
            checks = time.process_time() - started
            reasons = Counter(r.status for r in results)
            rejected = len(results) - reasons.pop("valid", 0)
            rows.append((faithful, kind, len(results), rejected, reasons, seconds, checks))
            if args.show:
                wrong = [
                    (p, r.status)
                    for p, r in zip(pairs, results, strict=True)
                    if (r.status == "valid") != faithful
                ]
                for (original, rewrite), status in wrong[: args.show]:
                    print(f"--- {kind} {status}\n{original}\n>>>\n{rewrite}\n")

    print("\n| kind | rewrites | pairs | rejected % | target | met | reasons |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for faithful, kind, n, rejected, reasons, *_ in rows:
        top = ", ".join(f"{k} {v}" for k, v in reasons.most_common())
        label = "faithful" if faithful else "unfaithful"
        share, target = rejected / max(n, 1), TARGETS[kind]
        met = share <= target if faithful else share >= target
        bound = f"≤ {100 * target:.0f}" if faithful else f"≥ {100 * target:.0f}"
        print(
            f"| {kind} | {label} | {n} | {100 * share:.1f} | {bound} | {'yes' if met else 'NO'}"
            f" | {top} |"
        )
    print("\n| | accepted | rejected |\n| --- | --- | --- |")
    for faithful in (True, False):
        n = sum(r[2] for r in rows if r[0] == faithful)
        rejected = sum(r[3] for r in rows if r[0] == faithful)
        print(f"| {'faithful' if faithful else 'unfaithful'} | {n - rejected} | {rejected} |")
    total = sum(r[2] for r in rows)
    seconds = sum(r[5] for r in rows)
    checks = sum(r[6] for r in rows)
    print(f"\n{total} pairs through align_segments in {seconds:.1f} s")
    print(
        f"the checks alone (prepare + compare + check, one core): {checks:.2f} s CPU,"
        f" {total / max(checks, 1e-9):,.0f} segments/s"
    )


if __name__ == "__main__":
    main()
