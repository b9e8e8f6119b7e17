"""The shipped dagster.yaml: one instance under DAGSTER_HOME, whichever folder it is opened from."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, make_new_run_id

from native_pipeline.defs.runs import dead_runs_sensor, reap_dead_runs

ROOT = Path(__file__).resolve().parents[2]
OPEN_AND_COUNT = """
import dagster as dg
instance = dg.DagsterInstance.get()
if not instance.get_dynamic_partitions("crawl_dumps"):
    instance.add_dynamic_partitions("crawl_dumps", ["CC-A"])
print(instance.get_dynamic_partitions("crawl_dumps"))
"""


def test_the_instance_lives_under_dagster_home_wherever_it_is_opened(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    seen = []
    for folder in ("a", "b"):
        cwd = tmp_path / folder
        cwd.mkdir()
        run = subprocess.run(
            [sys.executable, "-c", OPEN_AND_COUNT], cwd=cwd, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        seen.append(run.stdout.strip())
        assert list(cwd.iterdir()) == []  # nothing stored beside the caller
    assert seen == ["['CC-A']", "['CC-A']"]  # the second folder opened the same instance
    assert (home / "history").is_dir()  # runs.db, under DAGSTER_HOME


def test_a_sigkilled_run_frees_its_pool_slot_for_the_next_run(tmp_path, monkeypatch):
    """A real instance (temp DAGSTER_HOME, the shipped dagster.yaml): a run holds the one
    `dedup_index` slot, its worker process is SIGKILLed, and one sensor tick later the next run
    gets the slot."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        dead = instance.add_run(
            DagsterRun(job_name="main", run_id=make_new_run_id(), status=DagsterRunStatus.STARTED)
        )
        instance.report_engine_event(
            f"Started process for run (pid: {worker.pid}).",
            dead,
            EngineEventData.in_process(worker.pid),
        )
        storage = instance.event_log_storage
        storage.set_concurrency_slots("dedup_index", 1)
        assert storage.claim_concurrency_slot("dedup_index", dead.run_id, "cleaned_text").is_claimed
        sensor_context = dg.build_sensor_context(instance=instance)
        assert reap_dead_runs(instance) == []  # alive: left alone
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        following = make_new_run_id()
        assert not storage.claim_concurrency_slot(
            "dedup_index", following, "cleaned_text"
        ).is_claimed
        dead_runs_sensor(sensor_context)
        assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
        assert storage.claim_concurrency_slot("dedup_index", following, "cleaned_text").is_claimed
