"""Run blocks over batches of documents: stateless blocks on every core, stateful ones in order.

Stateless blocks (extraction, filters, redaction, scoring) see one batch at a time, so batches go
to worker processes. Stateful blocks (dedup) must see every document of the run in order, so
they run here, in the calling process, on what the workers kept.

The workers are guarded: a batch that takes longer than `doc_timeout_s`, kills its worker (out of
memory, a crash in native code) or raises is run again one document at a time, and a document
that fails alone is removed by the `limits` stage with the reason (`timeout`, `worker_died`,
`block_error`): it costs its own document, never the step. A failure that is not about one
document fails the step with its reason, as it does with one worker: a `StepFailure` (a refused
key, an unreachable backend) at once, and the same error raised by every document of a batch
alone (a broken configuration) once the batch has been tried one document at a time. Workers die
with their parent (Linux parent-death signal), so a killed step leaves no orphans.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection, wait

from native_pipeline.api_client import StepFailure
from native_pipeline.text.blocks import Block, BlockStats, Decision, Document, _size

BatchResult = tuple[list[Document], list[Decision], list[BlockStats]]
LIMITS = "limits"  # the stage that removes documents a worker could not finish
_WHOLE = -1  # piece key of a batch sent whole; its documents alone are keys 0..n-1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid != os.getppid():  # it died before the line above
        os._exit(1)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes started fresh (spawn), never forked: safe from a parent that runs
    threads, as a Dagster step does. They die with their parent."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent)


def _run_batch(blocks: list[Block], docs: list[Document]) -> BatchResult:
    decisions: list[Decision] = []
    stats: list[BlockStats] = []
    for block in blocks:
        docs = block(docs) if docs else docs
        block_decisions, block_stats = block.drain()
        decisions.extend(block_decisions)
        stats.append(block_stats)
    return docs, decisions, stats


def _serve(conn: Connection, blocks: list[Block]) -> None:
    """A worker: batches in, results (or the error) out, until told to stop."""
    die_with_parent()
    while (docs := conn.recv()) is not None:
        try:
            conn.send(("ok", _run_batch(blocks, docs)))
        except Exception as exc:  # one bad document must not end the worker
            for block in blocks:
                block.drain()
            status = "step_failure" if isinstance(exc, StepFailure) else "block_error"
            conn.send((status, f"{type(exc).__name__}: {exc}"[:300]))


class _Worker:
    def __init__(self, blocks: list[Block]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, blocks), daemon=True)
        self.process.start()
        child.close()
        self.task: tuple[int, int, list[Document]] | None = None
        self.deadline = 0.0

    def send(self, task: tuple[int, int, list[Document]], timeout: float) -> None:
        self.task, self.deadline = task, time.monotonic() + timeout
        self.conn.send(task[2])

    def stop(self, kill: bool = False) -> None:
        """Ask the worker to finish (or kill it, when it is hung or its batch is abandoned)."""
        if not kill:
            try:
                self.conn.send(None)
                self.process.join(10)
            except OSError:  # it is gone already
                pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class Pipeline:
    def __init__(
        self,
        parallel: list[Block],
        serial: list[Block],
        workers: int = 1,
        doc_timeout_s: float = 60.0,
    ) -> None:
        self.parallel = parallel
        self.serial = serial
        self.workers = workers
        self.doc_timeout_s = doc_timeout_s
        names = [LIMITS] + [b.name for b in parallel + serial]
        self.stats: dict[str, BlockStats] = {name: BlockStats() for name in names}

    def run(
        self, batches: Iterable[list[Document]]
    ) -> Iterator[tuple[list[Document], list[Decision]]]:
        """Yield (kept documents, decisions) per input batch, in input order."""
        for docs, decisions, stats in self._parallel_results(batches):
            docs, serial_decisions, serial_stats = _run_batch(self.serial, docs)
            for name, block_stats in zip(self.stats, stats + serial_stats, strict=True):
                self.stats[name].merge(block_stats)
            yield docs, decisions + serial_decisions

    def _parallel_results(self, batches: Iterable[list[Document]]) -> Iterator[BatchResult]:
        if self.workers <= 1:  # in this process: no time limit can be enforced
            for docs in batches:
                size = _size(docs)
                passed = BlockStats(len(docs), len(docs), size, size)
                kept, decisions, stats = _run_batch(self.parallel, docs)
                yield kept, decisions, [passed, *stats]
            return
        yield from self._guarded(iter(batches))

    def _guarded(self, source: Iterator[list[Document]]) -> Iterator[BatchResult]:
        """Batches on worker processes, a bounded window in flight (memory stays flat however
        large the dump is), results in input order."""
        workers = [_Worker(self.parallel) for _ in range(self.workers)]
        queue: deque[tuple[int, int, list[Document]]] = deque()
        inputs: dict[int, list[Document]] = {}
        pending: dict[int, set[int]] = {}
        results: dict[int, dict[int, BatchResult]] = {}
        taken = done = 0
        exhausted = False
        try:
            while True:
                while not exhausted and taken - done < 2 * self.workers:
                    docs = next(source, None)
                    if docs is None:
                        exhausted = True
                        break
                    inputs[taken], pending[taken], results[taken] = docs, {_WHOLE}, {}
                    queue.append((taken, _WHOLE, docs))
                    taken += 1
                while done < taken and not pending[done]:
                    yield self._merge(inputs.pop(done), results.pop(done))
                    del pending[done]
                    done += 1
                if exhausted and done == taken:
                    return
                for worker in workers:
                    if worker.task is None and queue:
                        worker.send(queue.popleft(), self.doc_timeout_s)
                busy = [w for w in workers if w.task is not None]
                if not busy:  # everything taken is done: take more
                    continue
                timeout = max(min(w.deadline for w in busy) - time.monotonic(), 0)
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
                for i, worker in enumerate(workers):
                    if worker.task is None:
                        continue
                    outcome = self._outcome(worker)
                    if outcome is None:
                        continue
                    (batch, piece, docs), worker.task = worker.task, None
                    if outcome[0] == "ok":
                        results[batch][piece] = outcome[1]
                        pending[batch].discard(piece)
                        continue
                    reason, detail = outcome
                    if reason == "step_failure":
                        raise StepFailure(f"cleaning stopped: {detail}")
                    if reason != "block_error":  # the worker is dead or hung: a fresh one
                        worker.stop(kill=True)
                        workers[i] = _Worker(self.parallel)
                    pending[batch].discard(piece)
                    if piece == _WHOLE and len(docs) > 1:  # find the culprit: one at a time
                        for j, doc in enumerate(docs):
                            pending[batch].add(j)
                            queue.appendleft((batch, j, [doc]))
                    else:
                        key = 0 if piece == _WHOLE else piece
                        decision = Decision(docs[0].doc_id, LIMITS, "removed", reason, None, detail)
                        results[batch][key] = ([], [decision], [])
        finally:
            for worker in workers:
                worker.stop(kill=worker.task is not None)

    def _outcome(self, worker: _Worker) -> tuple[str, object] | None:
        """("ok", result), (reason, detail) for a failure, or None while it is still working."""
        if worker.conn.poll():
            try:
                status, payload = worker.conn.recv()
            except (EOFError, OSError):
                return "worker_died", "the worker ended without an answer"
            return status, payload  # ok, block_error or step_failure
        if not worker.process.is_alive():
            return "worker_died", f"exit code {worker.process.exitcode}"
        if time.monotonic() >= worker.deadline:
            return "timeout", f"not done in {self.doc_timeout_s:g} s"
        return None

    def _merge(self, docs: list[Document], pieces: dict[int, BatchResult]) -> BatchResult:
        """One input batch's result from its pieces, in document order, with the limits stage."""
        kept: list[Document] = []
        decisions: list[Decision] = []
        stats = [BlockStats() for _ in self.parallel]
        for key in sorted(pieces):
            piece_docs, piece_decisions, piece_stats = pieces[key]
            kept += piece_docs
            decisions += piece_decisions
            for total, part in zip(stats, piece_stats, strict=False):
                total.merge(part)
        removed = {d.doc_id for d in decisions if d.stage == LIMITS}
        _refuse_a_batch_that_failed_whole(docs, decisions)
        limits = BlockStats(len(docs), len(docs) - len(removed), _size(docs))
        limits.bytes_out = _size(d for d in docs if d.doc_id not in removed)
        for decision in decisions:
            if decision.stage == LIMITS:
                limits.reasons[decision.reason] += 1
        return kept, decisions, [limits, *stats]


def _refuse_a_batch_that_failed_whole(docs: list[Document], decisions: list[Decision]) -> None:
    """Raise StepFailure when every document of a batch (two or more) raised the same error
    alone: that is the block or its backend failing, not the documents."""
    errors = [d.detail for d in decisions if d.stage == LIMITS and d.reason == "block_error"]
    if len(docs) > 1 and len(errors) == len(docs) and len(set(errors)) == 1:
        raise StepFailure(
            f"cleaning stopped: all {len(docs)} documents of a batch failed with: {errors[0]}"
        )
