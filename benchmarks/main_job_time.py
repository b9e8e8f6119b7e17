"""Where `make run`'s time goes: the whole command's wall time, each run's, each step's.

    .venv/bin/python benchmarks/main_job_time.py

Runs `make run` (installation already done: `make install` then finds nothing to do) and reads
back from the Dagster instance (DAGSTER_HOME is the repository root, as the Makefile sets it)
every run that started after it began: its job, partition and wall time, and its steps' wall
times. What the runs do not cover is the CLI's own cost: `make`'s install check, and each
`dg launch` starting Python and loading the definitions before its run starts.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    os.environ["DAGSTER_HOME"] = str(ROOT)
    started = time.time()
    subprocess.run(["make", "run"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - started

    import dagster as dg

    instance = dg.DagsterInstance.get()
    since = datetime.fromtimestamp(started, tz=UTC)
    records = instance.get_run_records(dg.RunsFilter(created_after=since))
    runs = sorted(records, key=lambda r: r.create_timestamp)
    print(f"make run: {wall:.1f} s wall, {len(runs)} runs\n")
    print("| run | partition | wall s | steps | longest steps (s) |")
    print("| --- | --- | --- | --- | --- |")
    in_runs = 0.0
    by_step: dict[str, float] = defaultdict(float)
    for record in runs:
        run = record.dagster_run
        stats = instance.get_run_stats(run.run_id)
        run_wall = (stats.end_time or 0) - (stats.start_time or 0)
        in_runs += run_wall
        steps = instance.get_run_step_stats(run.run_id)
        durations = sorted(
            ((s.step_key, (s.end_time or 0) - (s.start_time or 0)) for s in steps),
            key=lambda kv: -kv[1],
        )
        for key, seconds in durations:
            by_step[key.split("[")[0]] += seconds
        top = ", ".join(f"{key} {seconds:.1f}" for key, seconds in durations[:3])
        partition = run.tags.get("dagster/partition", "")
        print(f"| {run.job_name} | {partition} | {run_wall:.1f} | {len(steps)} | {top} |")
    print(
        f"\nin runs: {in_runs:.1f} s; outside them (make, dg launch start-up): "
        f"{wall - in_runs:.1f} s\n"
    )
    print("| step, summed over runs | s |\n| --- | --- |")
    for key, seconds in sorted(by_step.items(), key=lambda kv: -kv[1])[:15]:
        print(f"| {key} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
