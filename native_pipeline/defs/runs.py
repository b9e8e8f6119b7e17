"""Runs whose process died: failed, and their pool slots given back.

Dagster's run monitoring cannot see that a local run lost its process: the default launcher has
no health check, and `dg launch` runs the job inside its own process with no launcher at all. A
SIGKILLed or OOM-killed run stays STARTED and keeps its `dedup_index` or `gpu` slot, and the next
run would wait for it forever. So every run records its process id when it starts
(`RunGuard`), and dead runs are failed and their slots freed:

- when a run that takes a pool starts, whoever starts it (`dg launch`, the UI, a sensor):
  `RunGuard`, a resource of the pooled steps, set up before any step claims its slot; it logs
  which dead run held which slot, then waits for a slot a live run holds, asleep between looks
  and stopped at once by Ctrl-C or SIGTERM;
- every 30 s under the daemon (`dead_runs_sensor`), so that a slot comes back even when no run
  asks for it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._core.launcher import DefaultRunLauncher

STARTED = ("Started process for run", "Run process started")  # the launcher's, and ours


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's process, from the launcher's or RunGuard's engine event."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False, limit=50
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None and event.message and event.message.startswith(STARTED):
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


def free_dead_runs(instance: dg.DagsterInstance, spare: str | None = None) -> dict[str, str]:
    """Fail every STARTED run whose process is gone, free the pool slots of those and of runs
    that ended still holding one: run id → what it held (`spare`: the caller's own run). Only
    under the local launcher: elsewhere a pid names a process on another machine, and the
    launcher's own monitoring does this."""
    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return {}
    storage = instance.event_log_storage
    holding = storage.get_concurrency_run_ids()
    started = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    candidates = {r.dagster_run.run_id for r in started} | holding
    slots = _slots_by_run(storage)
    freed = {}
    for run_id in sorted(candidates - {spare}):
        run = instance.get_run_by_id(run_id)
        pid = _worker_pid(instance, run_id)
        if run is not None and not run.is_finished:
            if pid is None or _alive(pid):
                continue
            instance.report_run_failed(run, f"its run process (pid {pid}) is gone: killed?")
        storage.free_concurrency_slots_for_run(run_id)
        held = ", ".join(slots.get(run_id, [])) or "no pool slot"
        freed[run_id] = f"run {run_id} (pid {pid}, its process gone) held {held}"
    return freed


def _slots_by_run(storage) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for pool in storage.get_concurrency_keys():
        for slot in storage.get_concurrency_info(pool).claimed_slots:
            found.setdefault(slot.run_id, []).append(f"a {pool} slot ({slot.step_key})")
    return found


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every STARTED run whose process is gone; return their ids."""
    return list(free_dead_runs(instance))


# Set by Ctrl-C or SIGTERM during a wait, for the rest of the process: a run stopped while
# waiting never waits again (Dagster may set its resources up once more to report the failure).
_STOP = threading.Event()


@contextmanager
def _stop_on_signal() -> Iterator[threading.Event]:
    """_STOP, set by Ctrl-C or SIGTERM while the block runs, which then reach their previous
    handler too (Dagster's, which marks the run interrupted). On the main thread only; elsewhere
    the signals keep their handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield _STOP
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def stop(signo: int, frame: object) -> None:
        _STOP.set()
        handler = previous[signo]
        if callable(handler) and handler is not signal.default_int_handler:
            handler(signo, frame)

    for sig in previous:
        signal.signal(sig, stop)
    try:
        yield _STOP
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_pool(
    instance: dg.DagsterInstance,
    run_id: str,
    pool: str,
    say: Callable[[str], None],
    poll_s: float = 2.0,
) -> None:
    """Return once `pool` has a free slot, freeing the slots of runs that die meanwhile;
    raise dg.Failure on Ctrl-C or SIGTERM. Asleep between looks: no core spent waiting."""
    storage = instance.event_log_storage
    with _stop_on_signal() as stop:
        told = None
        while True:
            info = storage.get_concurrency_info(pool)
            limit = info.limit if info.limit is not None else info.slot_count
            holders = sorted(info.active_run_ids - {run_id})
            if not limit or len(holders) < limit:
                return
            if holders != told:
                say(f"waiting for a {pool} slot: held by run(s) {', '.join(holders)}, alive")
                told = holders
            if stop.is_set() or stop.wait(poll_s):
                raise dg.Failure(f"stopped while waiting for a {pool} slot (Ctrl-C or SIGTERM)")
            for line in free_dead_runs(instance, spare=run_id).values():
                say(f"freed: {line}")


class RunGuard(dg.ConfigurableResource):
    """Set up when a run that needs `pool` starts, before any of its steps claims a slot:
    records the run's process id, frees the slots of dead runs (saying which), and waits for a
    slot that live runs hold."""

    pool: str = "dedup_index"
    poll_s: float = 2.0

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        instance, run = context.instance, context.run
        if instance is None or run is None:  # built outside a run (a test, a script)
            return
        pid = os.getpid()
        instance.report_engine_event(
            f"Run process started (pid: {pid}).", run, EngineEventData.in_process(pid)
        )
        for line in free_dead_runs(instance, spare=run.run_id).values():
            context.log.warning(f"freed: {line}")
        wait_for_pool(instance, run.run_id, self.pool, context.log.info, self.poll_s)


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs whose local process died (SIGKILL, OOM) and frees their pool slots, "
    "which the local run launcher's monitoring cannot detect.",
)
def dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    if not isinstance(context.instance.run_launcher, DefaultRunLauncher):
        return dg.SkipReason("runs are monitored by their launcher's health checks")
    freed = free_dead_runs(context.instance)
    return dg.SkipReason("; ".join(freed.values()) if freed else "no dead run")
