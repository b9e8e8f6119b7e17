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
4. Prints the tables of docs/benchmarks/fidelity.md. Targets: at least 95 % of each unfaithful
   kind rejected, at most 2 % of the faithful rewrites rejected.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from fidelity_rewrites import FAITHFUL, UNFAITHFUL, Corpus, corpus_names

from native_pipeline.alignment.backends.base import Completion, Sampling
from native_pipeline.alignment.conduct import wrap
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


def load_segments(path: Path, genre: str, min_words: int = 20) -> list[str]:
    """Rewrite segments of the rows whose genre contains `genre`, with at least `min_words`."""
    rows = [r for r in read_jsonl(path) if genre in str(r.get("genre", ""))]
    segments = []
    for row in rows:
        for segment in segment_document(str(row["id"]), row["text"], 256, count_pieces):
            if len(segment.text.split()) >= min_words:
                segments.append(segment.text)
    return list(dict.fromkeys(segments))


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
    parser.add_argument("--genre", default="news", help="rows whose genre contains this")
    parser.add_argument("--n", type=int, default=200, help="pairs per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=0, help="print this many errors per kind")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    segments = load_segments(args.clean, args.genre)
    rng.shuffle(segments)
    limits = Limits()
    labelled = load_comments(args.harm, True, rng)
    corpus = Corpus(
        segments=segments,
        names=corpus_names(segments),
        harmful=flagged(labelled, limits.harm_removal_min),
        dialect=load_comments(args.harm, False, rng),
    )
    print(f"segments: {len(segments)} from {args.clean}; names found: {len(corpus.names)}")
    print(
        f"harmful comments flagged by the harm scorer: {len(corpus.harmful)} of {len(labelled)}"
        f" labelled ({100 * len(corpus.harmful) / max(len(labelled), 1):.0f} %)"
    )
    rows = []
    for faithful, kinds in ((True, FAITHFUL), (False, UNFAITHFUL)):
        for kind, generate in kinds.items():
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
            reasons = Counter(r.status for r in results)
            rejected = len(results) - reasons.pop("valid", 0)
            rows.append((faithful, kind, len(results), rejected, reasons, seconds))
            if args.show:
                wrong = [
                    (p, r.status)
                    for p, r in zip(pairs, results, strict=True)
                    if (r.status == "valid") != faithful
                ]
                for (original, rewrite), status in wrong[: args.show]:
                    print(f"--- {kind} {status}\n{original}\n>>>\n{rewrite}\n")

    print("\n| kind | rewrites | pairs | rejected | rejected % | reasons |")
    print("| --- | --- | --- | --- | --- | --- |")
    for faithful, kind, n, rejected, reasons, _ in rows:
        top = ", ".join(f"{k} {v}" for k, v in reasons.most_common())
        label = "faithful" if faithful else "unfaithful"
        print(f"| {kind} | {label} | {n} | {rejected} | {100 * rejected / max(n, 1):.1f} | {top} |")
    print("\n| | accepted | rejected |\n| --- | --- | --- |")
    for faithful in (True, False):
        n = sum(r[2] for r in rows if r[0] == faithful)
        rejected = sum(r[3] for r in rows if r[0] == faithful)
        print(f"| {'faithful' if faithful else 'unfaithful'} | {n - rejected} | {rejected} |")
    total = sum(r[2] for r in rows)
    seconds = sum(r[5] for r in rows)
    print(f"\n{total} pairs through align_segments in {seconds:.1f} s")


if __name__ == "__main__":
    main()
