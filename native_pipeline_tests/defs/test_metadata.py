"""Metadata as the UI shows it: tables inline with every column described, numbers as numbers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import dagster as dg
import polars as pl
import pytest

from native_pipeline import tables
from native_pipeline.alignment.audit import fidelity_by_dump
from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.defs.alignment import _before_after
from native_pipeline.defs.columns import COLUMNS, undescribed
from native_pipeline.defs.evaluation import ablation_report
from native_pipeline.defs.metadata import SHORT, funnel, rounded, schema, significant, table
from native_pipeline.defs.resources import build_resources
from native_pipeline.defs.sql_checks import check_metadata
from native_pipeline.defs.training import VARIANTS
from native_pipeline.evaluation.ablation import SCORES
from native_pipeline.lake import Lake, variant
from native_pipeline.settings import Settings
from native_pipeline.sql import Rendered
from native_pipeline.training.mix import MixSummary


def undescribed_columns(metadata: Mapping[str, object]) -> list[str]:
    """`label: column` for each column of a table (or table schema) in `metadata` that has no
    description."""
    missing = []
    for label, value in metadata.items():
        if isinstance(value, dg.TableMetadataValue | dg.TableSchemaMetadataValue):
            missing += [f"{label}: {c.name}" for c in value.schema.columns if not c.description]
    return missing


# A number written as text, perhaps with a unit ("12.5", "1,234 tokens", "3 s", "80%").
NUMBER_AS_TEXT = re.compile(r"-?\d[\d,]*(\.\d+)?\s*[A-Za-z%/]*")


def numbers_as_text(metadata: Mapping[str, object]) -> list[str]:
    """`label: value` for each text value of `metadata` that is a number the UI cannot plot."""
    return [
        f"{label}: {value.value}"
        for label, value in metadata.items()
        if isinstance(value, dg.TextMetadataValue) and NUMBER_AS_TEXT.fullmatch(value.value.strip())
    ]


def test_a_number_written_as_text_is_found():
    text = dg.MetadataValue.text
    metadata = {
        "tokens": dg.MetadataValue.int(1234),
        "rate": text("12.5 tokens/s"),
        "share": text("80%"),
        "fingerprint": text("3-51200-1733011200000000000"),
        "tokenizer_hash": text("9f86d081884c7d65"),
        "source": text("byte-level BPE trained on the corpus"),
    }
    assert numbers_as_text(metadata) == ["rate: 12.5 tokens/s", "share: 80%"]


def test_a_table_keeps_numbers_numeric_and_text_on_one_readable_line():
    frame = pl.DataFrame(
        {
            "doc_id": ["a", "b"],
            "n": [3, None],
            "value": [0.25, float("nan")],
            "unchanged": [True, False],
            "text": ["نص  عربي\nقصير", "x" * 30],
        }
    )
    value = table(frame, width=20)
    assert isinstance(value, dg.TableMetadataValue)
    first, second = (record.data for record in value.records)
    assert first == {
        "doc_id": "a",
        "n": 3,
        "value": 0.25,
        "unchanged": True,
        "text": "\u2067نص عربي قصير\u2069",  # one line, isolated right to left
    }
    assert second["n"] is None and second["value"] == "nan"  # the UI reads JSON: no NaN
    assert second["text"] == "x" * 20 + "…"


def test_numbers_keep_four_significant_digits_wherever_metadata_shows_them():
    assert significant(5.28109073638916) == 5.281
    assert significant(0.27999999999999997) == 0.28
    assert significant(0.000123456) == 0.0001235
    assert significant(123456.7) == 123457.0  # never cut into the integer part
    metadata = rounded(
        {
            "final_loss": 5.28109073638916,
            "mfu": dg.MetadataValue.float(0.123456),
            "blocks": dg.MetadataValue.json({"c4": {"seconds": 0.0123456, "docs": 3}}),
            "documents": 3,
            "tokenizer": "bpe",
            "by_type": {"warcinfo": 1, "share": 0.123456},
            "dagster/column_schema": schema(pl.DataFrame({"doc_id": ["a"]})),
        }
    )
    assert metadata["by_type"] == {"warcinfo": 1, "share": 0.1235}
    assert isinstance(metadata["dagster/column_schema"], dg.TableSchema)  # left as it is
    assert metadata["final_loss"] == 5.281 and metadata["mfu"].value == 0.1235
    assert metadata["blocks"].data == {"c4": {"seconds": 0.01235, "docs": 3}}
    assert (metadata["documents"], metadata["tokenizer"]) == (3, "bpe")
    (record,) = table(pl.DataFrame({"score": [0.27999999999999997]})).records
    assert record.data == {"score": 0.28}


def test_prose_comes_first_and_wide_the_other_columns_cut_short():
    """A text preview reads as text: the prose column first, the URL cut, so that the prose
    takes the table's width rather than two words a line."""
    url = "https://forum.example/threads/" + "x" * 80
    frame = pl.DataFrame({"url": [url], "lang": ["ar"], "harm_max": [0.1], "text": ["كلمة " * 60]})
    value = table(frame)
    assert [c.name for c in value.schema.columns] == ["text", "url", "lang", "harm_max"]
    (record,) = value.records
    shown = record.data["url"]
    assert shown.replace("\u200b", "") == url[:SHORT] + "…"  # cut, and
    assert "https://\u200bforum.\u200bexample/\u200bthreads/" in shown  # breakable at its parts
    assert len(record.data["text"]) > 150
    (dump,) = table(pl.DataFrame({"dump": ["CC-MAIN-2026-05"]})).records
    assert dump.data["dump"] == "CC-\u2060MAIN-\u2060" + "2026-\u206005"  # a name never breaks


def test_a_long_table_shows_its_first_rows_and_says_how_many_more():
    value = table(pl.DataFrame({"dump": [f"D{i}" for i in range(5)], "n": range(5)}), rows=3)
    assert [r.data for r in value.records] == [
        {"dump": "D0", "n": 0},
        {"dump": "D1", "n": 1},
        {"dump": "D2", "n": 2},
        {"dump": "… 2 more rows", "n": None},
    ]


def test_every_column_is_described_from_the_one_map_or_where_the_table_is_built():
    frame = pl.DataFrame({"doc_id": ["a"], "aligned_25": [0.5]})
    described = table(frame, described={"aligned_25": "variant aligned_25's value"}).schema
    assert [(c.name, c.type, c.description) for c in described.columns] == [
        ("doc_id", "String", COLUMNS["doc_id"]),
        ("aligned_25", "Float64", "variant aligned_25's value"),
    ]
    bare = dg.MetadataValue.table_schema(schema(frame))
    assert undescribed_columns({"dagster/column_schema": bare}) == [
        "dagster/column_schema: aligned_25"
    ]


# The tables the stages write, whose columns the metadata previews and groups show.
WRITTEN = {
    "raw_crawl": tables.RAW_RECORDS,
    "quarantine": tables.QUARANTINE,
    "scanned": tables.SCANNED,
    "cleaned_text": tables.CLEANED,
    "decisions": tables.DECISIONS,
    "stages": tables.STAGES,
    "rewrite_segments": tables.SEGMENTS,
    "aligned_corpus": tables.ALIGNED,
    "eval_scores": SCORES,
    "corpus_mix by_source": MixSummary().by_source.schema,
}


@pytest.mark.parametrize("name", WRITTEN)
def test_the_columns_the_stages_write_are_described(name):
    assert undescribed(list(WRITTEN[name])) == []


def test_the_funnel_and_the_fidelity_table_are_described():
    stages = tables.stages_frame({})
    corpus = pl.DataFrame(
        {"dump": ["D"], "rejected": ["names_lost"], "numbers_kept": [1.0], "names_kept": [0.5]}
    )
    judged = pl.DataFrame({"dump": ["D"], "judge_accuracy": [8.0]})
    fidelity = fidelity_by_dump(corpus, judged)  # a column per fidelity check
    assert undescribed_columns({"funnel": funnel(stages), "fidelity": table(fidelity)}) == []


def _seed_ablation_summary(lake: Lake) -> None:
    """What seed_ablation writes: a row per strategy, mean and std per rubric aspect."""
    strategies = ["random", "change_high"]
    summary = pl.DataFrame(
        {
            "strategy": strategies,
            "repeats": [2, 2],
            **{f"{c}_{m}": [8.5, 9.0] for c in CRITERIA for m in ("mean", "std")},
        }
    )
    with lake.writer("seed_ablation") as out:
        out.write("summary", summary)


def _scored_variants(lake: Lake) -> None:
    """What the variants' eval_scores and token_shards write, as the report reads them."""
    for i, name in enumerate(VARIANTS):
        scores = pl.DataFrame(
            [
                ("exams", "all", "", "acc", 0.25 + i / 100, 24),
                ("exams", "subject", "Biology", "acc", 0.5 - i / 100, 8),
                ("harmlessness", "category", "insult", "harmful_rate", 0.1, 10),
                ("mmlu", "category", "STEM", "acc", 0.3 + i / 100, 8),
                ("judged", "all", "", "harmlessness", 9.0, 24),
                ("judged", "all", "", "reference_harmlessness", 9.5, 24),
                ("judged", "all", "", "harmlessness_ratio", 9.0 / 9.5, 24),
                ("judged", "all", "", "helpfulness_ratio", 0.2 + i / 100, 24),
            ],
            schema=SCORES,
            orient="row",
        )
        with lake.writer("eval_scores", variant(name)) as out:
            out.write("scores", scores)
        manifest = {"tokens": 5000 * (i + 1), "tokens_by_source": {"aligned": 1000 * (i + 1)}}
        with lake.writer("token_shards", variant(name)) as out:
            (out.staging / "manifest.json").write_text(json.dumps(manifest))


def test_the_ablation_report_shows_inline_with_every_column_described(tmp_path):
    settings = Settings(data_root=tmp_path, evaluation={"judge": {"backend": "offline"}})
    lake = Lake(tmp_path)
    _seed_ablation_summary(lake)
    _scored_variants(lake)
    result = dg.materialize(
        [ablation_report], resources=build_resources(settings), raise_on_error=True
    )
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    # one table per task, one row per variant: read down, never cut off on the right
    compared = metadata["scores: exams"]
    assert isinstance(compared, dg.TableMetadataValue)  # a table the UI shows inline
    assert [r.data["variant"] for r in compared.records] == list(VARIANTS)
    assert [r.data["acc"] for r in compared.records][:2] == [0.25, 0.26]
    against = metadata["against original: exams by subject (acc)"]
    assert [c.name for c in against.schema.columns] == [
        "group",
        "n",
        "original",
        "variant",
        "value",
        "difference",
    ]
    differences = [abs(r.data["difference"]) for r in against.records]
    assert differences == sorted(differences, reverse=True)  # the largest difference first
    assert "scores by variant (chart)" in metadata
    assert undescribed_columns(metadata) == []
    # the paper's English-MMLU table, by its categories
    by_category = metadata["against original: mmlu by category (acc)"]
    assert {r.data["group"] for r in by_category.records} == {"STEM"}
    # the paper's judged ratios, a row per variant, and who judged
    judged = metadata["scores: judged"]
    assert [r.data["variant"] for r in judged.records] == list(VARIANTS)
    assert judged.records[1].data["helpfulness_ratio"] == 0.21
    assert "not an LLM" in metadata["judge (scores: judged)"].value
    # the seed ablation: a row per strategy, and its chart
    seeds = metadata["seed ablation (rubric mean ± std over repeats)"]
    assert [r.data["strategy"] for r in seeds.records] == ["random", "change_high"]
    assert seeds.records[1].data["detail_mean"] == 9.0
    assert metadata["seed ablation by strategy (chart)"].value.startswith("![figure](data:image")


def test_the_ablation_report_says_when_the_seed_ablation_never_ran(tmp_path):
    _scored_variants(Lake(tmp_path))
    settings = Settings(data_root=tmp_path)
    result = dg.materialize([ablation_report], resources=build_resources(settings))
    (event,) = result.get_asset_materialization_events()
    assert "not materialised" in event.materialization.metadata["seed ablation"].value


def test_a_passing_check_shows_no_empty_sample_and_a_failing_one_its_rows():
    rendered = Rendered("select 1 as copies where false", {})
    passed = check_metadata(pl.DataFrame({"copies": []}, schema={"copies": pl.Int64}), rendered)
    assert passed["offending_rows"] == 0 and "sample" not in passed
    failed = check_metadata(pl.DataFrame({"copies": [2]}), rendered)
    assert failed["offending_rows"] == 1 and failed["sample"].records[0].data == {"copies": 2}
    shares = pl.DataFrame({"arabic_documents": [0.9786], "arabic_letters": [0.9512]})
    measured = check_metadata(pl.DataFrame({"copies": []}), rendered, shares)["measured"]
    assert measured.records[0].data == {"arabic_documents": 0.9786, "arabic_letters": 0.9512}


def test_before_and_after_say_none_rather_than_show_an_empty_table():
    row = {"segment_id": "d:0", "original": "نص", "aligned": "نص", "status": "valid"}
    rows = tables.frame([row | {"unchanged": True, "edit_ratio": 0.0}], tables.ALIGNED)
    assert _before_after(rows) == {
        "changed_segments": "no rewrite changed a segment",
        "rejected_rewrites": "none: every segment has a valid rewrite",
    }
