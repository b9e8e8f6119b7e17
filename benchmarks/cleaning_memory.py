"""Peak memory of raw_crawl → cleaned_text on large synthetic dumps.

    python benchmarks/cleaning_memory.py --gb 1.0 [--gb 0.3 ...] [--work benchmarks/.work/memory]

For each size: builds the dump with make_big_crawl (compressed GB), runs native_pipeline on it in
a child process exactly as cleaning_throughput.py does (`--child ours`: the Dagster job `ingest`
cut down to raw_crawl → cleaned_text, in process, workers=2), and
samples the resident set size of the whole process tree (the child plus its worker processes,
summed) every 0.2 s with psutil from a thread of this process, which is not counted.

Prints a markdown table: size, documents, wall time, peak RSS (whole tree, and split into main
process and workers at the tree's peak), peak during raw_crawl and during cleaned_text, and the
growth per 100k documents between the sizes given (to extrapolate when the full size takes
too long to run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from make_big_crawl import build, default_files  # noqa: E402

WORK = ROOT / "benchmarks" / ".work" / "memory"
INTERVAL = 0.2  # seconds between samples
GiB = 2**30


@dataclass
class Sample:
    at: float  # epoch seconds
    main: int  # RSS of the child (the pipeline's main process), bytes
    workers: int  # RSS of its descendants, summed


@dataclass
class Watcher:
    """Samples a process tree's RSS in a background thread until the root exits."""

    pid: int
    samples: list[Sample] = field(default_factory=list)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        root = psutil.Process(self.pid)
        while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
            try:
                main = root.memory_info().rss
                workers = 0
                for child in root.children(recursive=True):
                    try:
                        workers += child.memory_info().rss
                    except psutil.Error:
                        continue  # a worker that just exited
                self.samples.append(Sample(time.time(), main, workers))
            except psutil.Error:
                break
            time.sleep(INTERVAL)

    def peak(self, start: float = 0.0, end: float = float("inf")) -> Sample:
        window = [s for s in self.samples if start <= s.at <= end] or [Sample(0, 0, 0)]
        return max(window, key=lambda s: s.main + s.workers)


def ensure_dump(landing: Path, gb: float, seed: int) -> Path:
    dump = landing / f"CC-BENCH-{gb:g}GB"
    stamp = landing / f"{dump.name}.params.json"
    params = {"gb": gb, "files": default_files(gb), "seed": seed}
    if not (stamp.exists() and json.loads(stamp.read_text()) == params):
        build(dump, gb, params["files"], seed, jobs=2)
        stamp.write_text(json.dumps(params))
    return dump


def measure(dump: Path, work: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / "cleaning_throughput.py"),
        "--child",
        "ours",
        "--dump",
        str(dump),
        "--work",
        str(work),
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    watcher = Watcher(child.pid)
    thread = watcher.start()
    stdout, _ = child.communicate()
    thread.join()
    if child.returncode != 0:
        raise SystemExit(f"run on {dump.name} failed with exit status {child.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    top = watcher.peak()
    result["peak"] = {"total": top.main + top.workers, "main": top.main, "workers": top.workers}
    for step, (start, end) in result["windows"].items():
        p = watcher.peak(start, end)
        result["peak"][step] = p.main + p.workers
    result["samples"] = len(watcher.samples)
    result["dump_bytes"] = sum(p.stat().st_size for p in dump.glob("*.warc.gz"))
    return result


def report(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| dump | compressed GB | records | kept | wall s | docs/s | peak RSS GiB "
        "(main + workers) | peak in raw_crawl | peak in cleaned_text |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        records = r["raw_rows"] + r["quarantined"]
        p = r["peak"]
        lines.append(
            f"| {name} | {r['dump_bytes'] / 1e9:.3f} | {records} | {r['kept']} | {r['wall']:.0f} "
            f"| {records / r['wall']:.0f} | {p['total'] / GiB:.2f} ({p['main'] / GiB:.2f} + "
            f"{p['workers'] / GiB:.2f}) | {p.get('raw_crawl', 0) / GiB:.2f} "
            f"| {p.get('cleaned_text', 0) / GiB:.2f} |"
        )
    ordered = sorted(results.values(), key=lambda r: r["raw_rows"])
    if len(ordered) >= 2:
        small, large = ordered[0], ordered[-1]
        docs = (large["raw_rows"] - small["raw_rows"]) / 1e5
        growth = (large["peak"]["total"] - small["peak"]["total"]) / docs if docs else 0.0
        lines.append(
            f"\nPeak RSS growth between the smallest and the largest run: "
            f"{growth / 2**20:.0f} MiB per 100k raw records."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--gb", type=float, action="append", help="dump size(s), compressed GB (default 1.0)"
    )
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args()
    results = {}
    for gb in args.gb or [1.0]:
        dump = ensure_dump(args.work / "landing", gb, args.seed)
        results[dump.name] = measure(dump, args.work / "run")
        r = results[dump.name]
        print(
            f"{dump.name}: {r['wall']:.0f} s, peak {r['peak']['total'] / GiB:.2f} GiB",
            flush=True,
        )
    (args.work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(report(results))


if __name__ == "__main__":
    main()
