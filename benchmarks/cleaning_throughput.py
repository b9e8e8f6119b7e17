"""Cleaning throughput: datatrove vs native_pipeline, side by side on one synthetic Arabic dump.

    python benchmarks/cleaning_throughput.py [--mb 30] [--work benchmarks/.work/throughput]

1. Builds the dump with make_big_crawl (deterministic; --mb compressed megabytes, 8 files).
2. Runs each contender in a fresh Python process, one after the other, on the same files:
   - datatrove: WarcReader → Trafilatura → GopherRepetition → GopherQuality → C4Quality →
     FineWebQuality → JsonlWriter, LocalPipelineExecutor(tasks=2, workers=2), Arabic word
     tokenizer (spaCy blank "ar") and Arabic stop words. No language filter: datatrove's needs a
     downloaded fastText model.
   - native_pipeline: exactly the two assets that are its cleaning stage, raw_crawl →
     cleaned_text, materialised in process for the dump's partition (the job `ingest` cut down
     to them: no SQL checks, no other asset), with workers=2, once with the configured extractor
     (`scored`: resiliparse with Arabic block scoring) and once with trafilatura.
3. Prints a markdown table: input records / wall seconds, kept documents, per-step times.

Input records = the dump's WARC response records, the same number for every contender.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_big_crawl import build  # noqa: E402

WORK = ROOT / "benchmarks" / ".work" / "throughput"
CONTENDERS = ("datatrove", "ours", "ours-trafilatura")
DATATROVE_LANGUAGE = "arb_Arab"  # Standard Arabic: spaCy's blank "ar" tokenizer


# ---- the contenders, each run in its own process ---------------------------------------------


def run_datatrove(dump: Path, work: Path) -> dict[str, Any]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    from native_pipeline.text.quality import STOP_WORDS_AS_WRITTEN  # datatrove compares raw words

    lang = DATATROVE_LANGUAGE
    executor = LocalPipelineExecutor(
        pipeline=[
            WarcReader(str(dump), glob_pattern="*.warc.gz"),
            Trafilatura(favour_precision=True),  # FineWeb's settings; 1 s timeout per page
            GopherRepetitionFilter(language=lang),
            GopherQualityFilter(language=lang, stop_words=list(STOP_WORDS_AS_WRITTEN)),
            C4QualityFilter(language=lang),
            FineWebQualityFilter(language=lang),
            JsonlWriter(str(work / "output")),
        ],
        tasks=2,
        workers=2,
        logging_dir=str(work / "logs"),
    )
    started = time.perf_counter()
    stats = executor.run()
    wall = time.perf_counter() - started
    steps = []
    for step in stats.stats:
        data = step.to_dict()
        steps.append(
            {
                "step": step.name,
                "seconds": data.get("time_stats", {}).get("total", 0.0),
                "counts": {k: v for k, v in data.get("stats", {}).items() if isinstance(v, int)},
                "raw": data,
            }
        )
    writer = stats.stats[-1].to_dict()["stats"]
    kept = _total(writer.get("total", 0))
    return {"wall": wall, "kept": kept, "steps": steps}


def _total(value: Any) -> int:
    return int(value["total"]) if isinstance(value, dict) else int(value)


def configured_extractor() -> str:
    from native_pipeline.settings import DEFAULT_CONFIG

    return yaml.safe_load(DEFAULT_CONFIG.read_text())["cleaning"]["blocks"]["extract"]["library"]


def ours_config(dump: Path, work: Path, library: str) -> Path:
    """A copy of the default config: data under `work`, the landing zone = the dump's parent."""
    from native_pipeline.settings import DEFAULT_CONFIG

    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["data_root"] = str(work / "data")
    config["landing_zone"] = str(dump.parent)
    config["workers"] = 2
    config["cleaning"]["blocks"].setdefault("extract", {})["library"] = library
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


# What the benchmark times: the crawl read and the cleaning, nothing downstream of them.
STAGE = ("raw_crawl", "cleaned_text")


def run_ours(dump: Path, work: Path, library: str) -> dict[str, Any]:
    """raw_crawl → cleaned_text in process for the dump's partition, without their checks."""
    os.environ["NATIVE_PIPELINE_CONFIG"] = str(ours_config(dump, work, library))
    import dagster as dg

    from native_pipeline.definitions import defs

    job = (
        defs()
        .resolve_job_def("ingest")
        .get_subset(
            asset_selection={dg.AssetKey(name) for name in STAGE}, asset_check_selection=set()
        )
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("crawl_dumps", [dump.name])
    started = time.perf_counter()
    started_epoch = time.time()
    result = job.execute_in_process(
        partition_key=dump.name, instance=instance, raise_on_error=False
    )
    wall = time.perf_counter() - started
    steps = dict(_step_windows(instance, result.run_id))
    meta = {
        node: result.asset_materializations_for_node(node)[0].metadata
        for node in ("raw_crawl", "cleaned_text")
    }
    blocks = meta["cleaned_text"]["blocks"].data
    return {
        "wall": wall,
        "started": started_epoch,
        "success": result.success,
        "kept": int(meta["cleaned_text"]["dagster/row_count"].value),
        "raw_rows": int(meta["raw_crawl"]["dagster/row_count"].value),
        "quarantined": int(meta["raw_crawl"]["quarantined"].value),
        "removed": int(meta["cleaned_text"]["removed"].value),
        "steps": {k: v[1] - v[0] for k, v in steps.items()},
        "windows": steps,
        "blocks": blocks,
    }


def _step_windows(instance: Any, run_id: str) -> Iterator[tuple[str, tuple[float, float]]]:
    """(step key, (start, end) epoch seconds) for every step of the run."""
    import dagster as dg

    starts: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            yield event.step_key, (starts.get(event.step_key, entry.timestamp), entry.timestamp)


def run_child(name: str, dump: Path, work: Path) -> dict[str, Any]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if name == "datatrove":
        return run_datatrove(dump, work)
    return run_ours(
        dump, work, "trafilatura" if name == "ours-trafilatura" else configured_extractor()
    )


# ---- the parent: build, run each contender in a subprocess, report -----------------------------


def count_responses(dump: Path) -> int:
    """WARC response records of the dump: the input every contender gets."""
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    for path in sorted(dump.glob("*.warc.gz")):
        with path.open("rb") as fh:
            count += sum(r.rec_type == "response" for r in ArchiveIterator(fh))
    return count


def ensure_dump(landing: Path, mb: float) -> Path:
    """Build the dump unless one with these parameters is already there."""
    dump = landing / f"CC-BENCH-{mb:g}MB"
    stamp = landing / f"{dump.name}.params.json"
    params = {"gb": mb / 1000, "files": 8, "seed": 20261125}
    if not (stamp.exists() and json.loads(stamp.read_text()) == params):
        build(dump, params["gb"], params["files"], params["seed"], jobs=2)
        stamp.write_text(json.dumps(params))
    return dump


def spawn(name: str, dump: Path, work: Path) -> dict[str, Any]:
    """Run one contender in a fresh interpreter; its last stdout line is its JSON result."""
    command = [sys.executable, __file__, "--child", name, "--dump", str(dump), "--work", str(work)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"{name} failed with exit status {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.perf_counter() - started
    return result


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def report(dump: Path, records: int, size: int, results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{date.today()}, {machine()}",
        f"dump {dump.name}: {len(list(dump.glob('*.warc.gz')))} files, {size / 1e6:.1f} MB "
        f"compressed, {records} response records",
        "",
        "| pipeline | extractor | wall s | docs/s | kept | vs datatrove |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    base = records / results["datatrove"]["wall"] if "datatrove" in results else None
    labels = {
        "datatrove": ("datatrove (tasks=2, workers=2)", "trafilatura"),
        "ours": ("native_pipeline (workers=2)", configured_extractor()),
        "ours-trafilatura": ("native_pipeline (workers=2)", "trafilatura"),
    }
    for name, result in results.items():
        rate = records / result["wall"]
        ratio = f"{rate / base:.2f}x" if base else "-"
        label, extractor = labels[name]
        lines.append(
            f"| {label} | {extractor} | {result['wall']:.1f} | {rate:.0f} | {result['kept']} "
            f"| {ratio} |"
        )
    for name, result in results.items():
        if name == "datatrove":
            lines += ["", "datatrove steps (CPU seconds summed over both tasks):", ""]
            lines += ["| step | seconds | ms/doc in | counts |", "| --- | --- | --- | --- |"]
            for step in result["steps"]:
                counts = ", ".join(f"{k}={v}" for k, v in step["counts"].items())
                lines.append(
                    f"| {step['step']} | {step['seconds']:.1f} "
                    f"| {1000 * step['seconds'] / records:.2f} | {counts} |"
                )
            continue
        lines += ["", f"{name}: steps (wall seconds)", ""]
        lines += ["| step | seconds |", "| --- | --- |"]
        lines += [f"| {k} | {v:.1f} |" for k, v in result["steps"].items()]
        lines += [
            "",
            f"{name}: cleaning blocks (seconds summed over workers; ms per document entering)",
            "",
        ]
        lines += [
            "| block | docs in | docs out | seconds | ms/doc |",
            "| --- | --- | --- | --- | --- |",
        ]
        for block, s in result["blocks"].items():
            per_doc = 1000 * s["seconds"] / s["docs_in"] if s["docs_in"] else 0.0
            lines.append(
                f"| {block} | {s['docs_in']} | {s['docs_out']} | {s['seconds']:.1f} "
                f"| {per_doc:.2f} |"
            )
        lines.append(f"\nrun success: {result['success']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=30, help="dump size, compressed MB")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated subset")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args.dump, args.work), default=str))
        return
    dump = ensure_dump(args.work / "landing", args.mb)
    records = count_responses(dump)
    size = sum(p.stat().st_size for p in dump.glob("*.warc.gz"))
    results = {}
    for name in args.only.split(","):
        results[name] = spawn(name, dump, args.work / name)
        print(f"{name}: {results[name]['wall']:.1f} s, kept {results[name]['kept']}", flush=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(report(dump, records, size, results))


if __name__ == "__main__":
    main()
