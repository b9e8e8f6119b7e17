from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from native_pipeline.api_client import StepFailure
from native_pipeline.text.blocks import Block, Document, Filter
from native_pipeline.text.pipeline import LIMITS, Pipeline


class Upper(Block):
    name = "upper"

    def process(self, docs: list[Document]) -> list[Document]:
        for doc in docs:
            doc.text = doc.text.upper()
            self.modify(doc, "uppercased")
        return docs


class DropOdd(Filter):
    name = "drop_odd"

    def reject(self, doc: Document) -> tuple[str, float] | None:
        return ("odd", float(doc.meta["n"])) if doc.meta["n"] % 2 else None


class FirstSeen(Block):
    """Stateful: removes a text seen in an earlier batch, so it must run in one process."""

    name = "first_seen"

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def process(self, docs: list[Document]) -> list[Document]:
        kept = []
        for doc in docs:
            if doc.text in self.seen:
                self.remove(doc, "seen")
            else:
                self.seen.add(doc.text)
                kept.append(doc)
        return kept


def _batches() -> list[list[Document]]:
    texts = ["a", "b", "a", "c", "b", "d", "e", "a"]
    docs = [Document(f"d{i}", t, {"n": i}) for i, t in enumerate(texts * 2)]
    return [docs[i : i + 3] for i in range(0, len(docs), 3)]


def _run(workers: int) -> tuple[list[list[str]], list[tuple[str, str, str]], Pipeline]:
    pipeline = Pipeline([Upper(), DropOdd()], [FirstSeen()], workers=workers)
    kept, decisions = [], []
    for docs, batch_decisions in pipeline.run(_batches()):
        kept.append([d.doc_id for d in docs])
        decisions += [(d.doc_id, d.stage, d.reason) for d in batch_decisions]
    return kept, decisions, pipeline


def test_parallel_run_equals_serial_run_in_order():
    serial = _run(workers=1)
    parallel = _run(workers=2)
    assert serial[:2] == parallel[:2]
    kept = [doc for batch in serial[0] for doc in batch]
    assert kept == ["d0", "d4", "d6"]  # even n, and the first of each text
    assert serial[2].stats["first_seen"].reasons == {"seen": 5}
    for name in ("upper", "drop_odd", "first_seen"):
        assert serial[2].stats[name].as_dict() | {"seconds": 0} == parallel[2].stats[
            name
        ].as_dict() | {"seconds": 0}


def test_every_document_is_kept_or_has_a_removal():
    kept, decisions, pipeline = _run(workers=1)
    removed = {doc_id for doc_id, _, reason in decisions if reason in ("odd", "seen")}
    kept_ids = {doc for batch in kept for doc in batch}
    assert len(removed) + len(kept_ids) == 16 and not removed & kept_ids
    assert pipeline.stats["upper"].docs_in == 16
    assert pipeline.stats["drop_odd"].docs_out == 8


class Hostile(Block):
    """Kills its worker, hangs or raises on the documents whose text says so."""

    name = "hostile"

    def process(self, docs: list[Document]) -> list[Document]:
        for doc in docs:
            if doc.text == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            if doc.text == "hang":
                time.sleep(3600)
            if doc.text == "raise":
                raise ValueError("a bug on one page")
        return docs


def test_a_document_that_kills_hangs_or_breaks_its_worker_costs_itself_alone():
    texts = ["a", "die", "b", "hang", "c", "raise", "d", "e"]
    docs = [Document(f"d{i}", t, {"n": i}) for i, t in enumerate(texts)]
    pipeline = Pipeline([Hostile(), Upper()], [FirstSeen()], workers=2, doc_timeout_s=2)
    kept, decisions = [], []
    for batch_kept, batch_decisions in pipeline.run([docs[:4], docs[4:]]):
        kept += [d.doc_id for d in batch_kept]
        decisions += [
            (d.doc_id, d.stage, d.reason) for d in batch_decisions if d.action == "removed"
        ]
    assert kept == ["d0", "d2", "d4", "d6", "d7"]
    assert decisions == [
        ("d1", LIMITS, "worker_died"),
        ("d3", LIMITS, "timeout"),
        ("d5", LIMITS, "block_error"),
    ]
    limits = pipeline.stats[LIMITS]
    assert (limits.docs_in, limits.docs_out) == (8, 5)
    assert pipeline.stats["hostile"].docs_in == 5  # the funnel goes on from what passed


class Broken(Block):
    """Fails every document the same way (a broken configuration), or with a StepFailure."""

    name = "broken"

    def process(self, docs: list[Document]) -> list[Document]:
        if any(doc.text == "refused" for doc in docs):
            raise StepFailure("http 401: check the key in $KEY")
        if any(doc.text == "mine" for doc in docs):
            raise ValueError(f"a bug on {docs[0].doc_id}")  # about each document: not the step
        raise RuntimeError("backend misconfigured")


@pytest.mark.parametrize(
    "text, message",
    [
        ("refused", "cleaning stopped: StepFailure: http 401: check the key in \\$KEY"),
        ("any", "all 3 documents of a batch failed with: RuntimeError: backend misconfigured"),
    ],
)
def test_a_failure_not_about_one_document_stops_the_step_on_workers(text, message):
    docs = [Document(f"d{i}", text) for i in range(3)]
    with pytest.raises(StepFailure, match=message):
        list(Pipeline([Broken()], [], workers=2, doc_timeout_s=30).run([docs]))


def test_documents_failing_each_their_own_way_stay_quarantined():
    docs = [Document(f"d{i}", "mine") for i in range(3)]
    [(kept, decisions)] = Pipeline([Broken()], [], workers=2, doc_timeout_s=30).run([docs])
    assert kept == [] and [(d.reason, d.detail) for d in decisions] == [
        ("block_error", f"ValueError: a bug on d{i}") for i in range(3)
    ]


WORKERS_OF_A_KILLED_STEP = """
import sys, time
from native_pipeline.text.blocks import Document
from native_pipeline.text.pipeline import Pipeline
from native_pipeline_tests.text.test_pipeline import Hostile
docs = [[Document("x", "hang")], [Document("y", "hang")]]
for _ in Pipeline([Hostile()], [], workers=2, doc_timeout_s=3600).run(docs):
    pass
"""


def test_workers_die_with_their_parent(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", WORKERS_OF_A_KILLED_STEP])
    children: list[int] = []
    deadline = time.monotonic() + 120
    while len(children) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        found = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
        children = [int(pid) for pid in found]
    assert len(children) >= 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in children)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"
