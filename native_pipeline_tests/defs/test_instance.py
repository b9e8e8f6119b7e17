"""The shipped dagster.yaml: one instance under DAGSTER_HOME, whichever folder it is opened from."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
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


def _launch(home: Path, config: Path, *args: str) -> subprocess.Popen:
    """`dg launch` as the README runs it, in its own session (killed as a whole)."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "NATIVE_PIPELINE_CONFIG": str(config),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("NATIVE_PIPELINE_DATA_ROOT", None)
    dg_cli = Path(sys.executable).with_name("dg")
    return subprocess.Popen(
        [str(dg_cli), "launch", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _setup(tmp: Path, name: str, url: str) -> tuple[Path, Path, Path]:
    """A DAGSTER_HOME with the shipped dagster.yaml, and a config whose harm scorer is the
    fake endpoint: (home, config, data root)."""
    import yaml

    from native_pipeline.settings import DEFAULT_CONFIG

    home = tmp / name / "home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home)
    data = tmp / name / "data"
    config = yaml.safe_load(DEFAULT_CONFIG.read_text()) | {
        "data_root": str(data),
        "landing_zone": str(tmp / "landing"),
        "workers": 1,
    }
    config["harm"] |= {
        "backend": "moderation_api",
        "base_url": url,
        "model": "omni-moderation-latest",
        "api_key_env": "TEST_HOSTILE_KEY",
        "lexicon_score": 0,
    }
    path = tmp / name / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return home, path, data


def _finish(process: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:]
    return out


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cleaned(data: Path, dump: str) -> dict[str, list]:
    import polars as pl

    from native_pipeline.lake import Lake

    lake = Lake(data)
    kept = lake.scan("cleaned_text", "data", dump).collect().sort("doc_id")
    decisions = lake.scan("cleaned_text", "decisions", dump).collect().sort(pl.all())
    return {"kept": kept.rows(), "decisions": decisions.rows()}


@contextmanager
def _killed_at_the_end(processes: list[subprocess.Popen]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.slow
def test_a_killed_dg_launch_gives_its_slot_to_the_next_run_with_the_same_result(
    tmp_path, monkeypatch
):
    """Without a daemon: `dg launch` of ingest is SIGKILLed while cleaned_text holds the one
    dedup_index slot (its harm scorer waits on a slow endpoint). A run started meanwhile waits
    for the live holder without spending a core and stops at Ctrl-C; the run after the kill
    frees the dead run's slot, says so, and writes exactly what an uninterrupted run writes,
    leaving no temporary folder."""
    from native_pipeline.sample import SAMPLE_CRAWL
    from native_pipeline_tests.hostile.test_endpoints import endpoint

    monkeypatch.setenv("TEST_HOSTILE_KEY", "sk-test-run-guard-0123456789")
    dump = "CC-MAIN-2026-05"
    (tmp_path / "landing" / dump).mkdir(parents=True)
    first = sorted((SAMPLE_CRAWL / dump).glob("*.warc.gz"))[0]
    shutil.copy(first, tmp_path / "landing" / dump)
    (tmp_path / "landing" / dump / "_SUCCESS").touch()
    ingest = ("--job", "ingest", "--partition", dump)
    started: list[subprocess.Popen] = []
    with endpoint() as server, _killed_at_the_end(started):
        server.held = threading.Event()
        server.held.set()  # the reference run: answered at once
        runs = {name: _setup(tmp_path, name, server.url) for name in ("reference", "killed")}
        for home, config, _ in runs.values():
            _finish(_launch(home, config, "--job", "register_landing_dumps"))
        _finish(_launch(*runs["reference"][:2], *ingest))
        expected = _cleaned(runs["reference"][2], dump)

        home, config, data = runs["killed"]
        server.held.clear()  # from now on the harm scorer waits
        killed = _launch(home, config, *ingest)
        started.append(killed)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            storage = instance.event_log_storage
            deadline = time.monotonic() + 240
            while not storage.get_concurrency_run_ids() and time.monotonic() < deadline:
                time.sleep(0.5)
            (holder,) = storage.get_concurrency_run_ids()

            waiting = _launch(home, config, *ingest)
            started.append(waiting)
            lines = []
            # Killed if it never says so (Dagster's own wait is silent): readline then ends.
            watchdog = threading.Timer(180, os.killpg, (waiting.pid, signal.SIGKILL))
            watchdog.start()
            while not any("waiting for a dedup_index slot" in line for line in lines):
                line = waiting.stdout.readline()
                assert line, "".join(lines)[-3000:]
                lines.append(line)
            watchdog.cancel()
            assert holder in lines[-1]
            cpu = _cpu_s(waiting.pid)
            time.sleep(4)
            assert _cpu_s(waiting.pid) - cpu < 1.0  # asleep, not spinning
            waiting.send_signal(signal.SIGINT)
            try:
                out, _ = waiting.communicate(timeout=60)
            except subprocess.TimeoutExpired as late:
                raise AssertionError(f"still waiting after Ctrl-C: {late.output[-3000:]}") from None
            assert "stopped while waiting for a dedup_index slot" in out

            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait()
            server.held.set()
            out = _finish(_launch(home, config, *ingest))
            assert f"freed: run {holder} (pid {killed.pid}" in out
            assert "held a dedup_index slot (cleaned_text)" in out
            assert instance.get_run_by_id(holder).status == DagsterRunStatus.FAILURE
    assert _cleaned(data, dump) == expected
    leftovers = [
        p for p in data.rglob("*") if p.name.startswith((".tmp", ".old")) or p.suffix == ".tmp"
    ]
    assert leftovers == []
