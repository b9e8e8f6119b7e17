"""Runs whose worker process died: failed, and their pool slots given back.

Dagster's run monitoring cannot see that a run launched by the default (local) launcher lost its
process: that launcher has no health check, so a SIGKILLed run stays STARTED and keeps its
`dedup_index` or `gpu` slot, and the next run waits for it forever. The local launcher records
the run worker's pid in an engine event; this sensor fails a STARTED run whose pid is gone and
frees its slots, so the next run starts within one sensor interval.
"""

import os

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's worker, from the launcher's "Started process for run" event."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False, limit=50
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None and event.message and "Started process for run" in event.message:
            return int(pid.value)
    return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, though os.kill finds it
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every STARTED run whose local worker process is gone; return their ids."""
    reaped = []
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    for record in records:
        run = record.dagster_run
        pid = _worker_pid(instance, run.run_id)
        if pid is None or _alive(pid):
            continue
        instance.report_run_failed(run, f"its run worker (pid {pid}) is gone: killed?")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs whose local worker process died (SIGKILL, OOM) and frees their "
    "pool slots, which the local run launcher's monitoring cannot detect.",
)
def dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    if not isinstance(context.instance.run_launcher, DefaultRunLauncher):
        return dg.SkipReason("runs are monitored by their launcher's health checks")
    reaped = reap_dead_runs(context.instance)
    return dg.SkipReason(f"failed dead runs {reaped}" if reaped else "no dead run")
