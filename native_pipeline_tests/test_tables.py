"""Every table has one schema, so that an empty partition still has typed columns."""

from __future__ import annotations

import polars as pl

from native_pipeline.tables import ALIGNED, DECISIONS, SEGMENTS, STAGES, frame, stages_frame
from native_pipeline.text.blocks import BlockStats, Decision


def test_an_empty_frame_has_every_typed_column():
    for schema in (DECISIONS, SEGMENTS, ALIGNED, STAGES):
        empty = frame([], schema)
        assert empty.height == 0 and empty.schema == pl.Schema(schema)


def test_dataclass_rows_and_dicts_give_the_same_frame():
    decision = Decision("d1", "c4", "removed", "too_few_sentences", 2.0, None)
    as_dict = {
        "doc_id": "d1",
        "stage": "c4",
        "action": "removed",
        "reason": "too_few_sentences",
        "score": 2.0,
        "detail": None,
    }
    assert frame([decision], DECISIONS).equals(frame([as_dict], DECISIONS))


def test_stages_are_numbered_in_pipeline_order():
    stats = {"extract": BlockStats(docs_in=3, docs_out=2), "language": BlockStats(docs_in=2)}
    stages = stages_frame(stats)
    assert stages.select("step", "stage", "docs_in", "docs_out").rows() == [
        (0, "extract", 3, 2),
        (1, "language", 2, 0),
    ]
    assert stages.schema == pl.Schema(STAGES)
