from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from native_pipeline.defs.columns import undescribed
from native_pipeline.defs.resources import sql_variables
from native_pipeline.lake import Lake
from native_pipeline.settings import ConfigError, load_settings
from native_pipeline.sql import (
    Rendered,
    SqlFile,
    load_checks,
    load_models,
    measured,
    parse,
    query,
    render,
)
from native_pipeline.tables import ALIGNED, DECISIONS, QUARANTINE, SEGMENTS, STAGES, frame
from native_pipeline.text.harm import HARM_KEYS
from native_pipeline.text.pii import PII_PATTERNS, redact
from native_pipeline_tests.text.test_pii import VALID_IBAN

SETTINGS = load_settings()
VARIABLES = sql_variables(SETTINGS)
CHECKS = {(c.target, c.name): c for c in load_checks(SETTINGS.sql_dir)}
AR = "يتناول هذا المقال تاريخ المدينة القديمة وأسواقها الشعبية"


def _decision(doc_id: str, action: str = "removed") -> dict:
    return dict(doc_id=doc_id, stage="language", action=action, reason="r", score=None, detail=None)


def _stage(step: int, name: str, n_in: int, n_out: int) -> dict:
    return dict(
        step=step, stage=name, docs_in=n_in, docs_out=n_out, bytes_in=9, bytes_out=9, seconds=0.1
    )


def _segment(doc_id: str, text: str = AR, start: int = 0) -> dict:
    end = start + len(text)
    return dict(
        doc_id=doc_id,
        segment_id=f"{doc_id}:0",
        index=0,
        start=start,
        end=end,
        text=text,
        n_tokens=9,
    )


def _aligned(doc_id: str, aligned: str = AR, status: str = "valid", **changes) -> dict:
    row = {k: v for k, v in _segment(doc_id).items() if k != "text"}
    harm = {f"{k}_{when}": 0.1 for k in HARM_KEYS for when in ("before", "after")}
    return (
        row
        | harm
        | dict(original=AR, aligned=aligned, status=status, rejected="", attempts=1)
        | dict(unchanged=aligned == AR, edit_ratio=0.0, length_ratio=len(aligned) / len(AR))
        | changes
    )


RAW = pl.DataFrame({"doc_id": ["a", "b", "c"], "source_file": "f.warc", "offset": [0, 90, 180]})
GOOD = {
    ("raw_crawl", "data"): RAW,
    ("raw_crawl", "scanned"): pl.DataFrame(
        {"source_file": ["f.warc"] * 3, "offset": [0, 90, 180], "records": [1, 1, 1]}
    ),
    ("raw_crawl", "quarantine"): frame([], QUARANTINE),
    ("raw_crawl", "stages"): frame([_stage(0, "read", 3, 3)], STAGES),
    ("cleaned_text", "data"): pl.DataFrame(
        {"doc_id": ["a", "b"], "url": ["u1", "u2"], "text": [AR, AR], "lang": ["ar", "ar"]}
    ),
    ("cleaned_text", "decisions"): frame([_decision("c"), _decision("a", "modified")], DECISIONS),
    ("cleaned_text", "stages"): frame([_stage(0, "extract", 3, 2)], STAGES),
    ("rewrite_segments", "data"): frame([_segment("a"), _segment("b")], SEGMENTS),
    ("aligned_corpus", "data"): frame([_aligned("a"), _aligned("b", AR + " معدل")], ALIGNED),
    # a hybrid mix: document a in both forms
    ("corpus_mix", "documents"): pl.DataFrame(
        {
            "doc_id": ["a", "b", "a", "replay:wiki:0"],
            "source": ["original", "aligned", "aligned", "replay:wiki"],
            "segment_ids": [["a:0"], ["b:0"], ["a:0"], []],
            "text": [AR, AR + " معدل", AR + " مهذب", "نص عام"],
        }
    ),
    ("corpus_mix", "held_out"): pl.DataFrame(
        {"doc_id": ["h"], "original": ["نص محجوز"], "aligned": ["نص محجوز مهذب"]}
    ),
    ("token_shards", "documents"): pl.DataFrame(
        {
            "shard": ["shard-00000"] * 4,
            "index": [0, 1, 2, 3],
            "doc_id": ["a", "b", "a", "replay:wiki:0"],
            "source": ["original", "aligned", "aligned", "replay:wiki"],
            "n_tokens": [12, 13, 14, 3],
        }
    ),
    ("eval_scores", "scores"): pl.DataFrame(
        {
            "task": ["held_out_original", "exams", "exams", "harmlessness"],
            "metric": ["perplexity", "acc", "acc_norm", "harmful_rate"],
            "value": [812.5, 0.25, 0.5, 0.0],
            "n": [3, 24, 24, 20],
        }
    ),
}


def _lake(root: Path, changes: dict | None = None, dump: str = "D1") -> Lake:
    lake = Lake(root)
    tables = {**GOOD, **(changes or {})}
    for asset in {owner for owner, _ in tables}:
        with lake.writer(asset, dump) as out:
            for (owner, table), df in tables.items():
                if owner == asset:
                    out.write(table, df)
    return lake


def _offending(lake: Lake, check: SqlFile, partition: str | None = "D1") -> pl.DataFrame:
    text = render(check, lambda a, t: lake.table_glob(a, t, partition), VARIABLES)
    return query(text)


def test_every_check_passes_on_good_data(tmp_path):
    lake = _lake(tmp_path)
    for check in CHECKS.values():
        assert _offending(lake, check).is_empty(), check.name


def test_every_column_a_check_or_a_model_shows_is_described(tmp_path):
    """The offending rows and a model's result are tables in the metadata: defs/columns.py
    describes each of their columns."""
    lake = _lake(tmp_path)
    for sql_file in [*CHECKS.values(), *load_models(SETTINGS.sql_dir)]:
        assert undescribed(_offending(lake, sql_file).columns) == [], sql_file.name


BAD = {
    ("raw_crawl", "unique_doc_id"): {("raw_crawl", "data"): RAW.with_columns(doc_id=pl.lit("a"))},
    ("raw_crawl", "conservation"): {  # a record at offset 270 is neither read nor quarantined
        ("raw_crawl", "scanned"): pl.DataFrame(
            {"source_file": ["f.warc"] * 4, "offset": [0, 90, 180, 270], "records": [1] * 4}
        )
    },
    ("raw_crawl", "quarantine_rate"): {
        ("raw_crawl", "quarantine"): frame(
            [dict(source_file="f", offset=1, record_id=None, url=None, reason="x", detail="")] * 2,
            QUARANTINE,
        )
    },
    ("cleaned_text", "unique_doc_id"): {
        ("cleaned_text", "data"): GOOD[("cleaned_text", "data")].with_columns(doc_id=pl.lit("a"))
    },
    ("cleaned_text", "conservation"): {
        ("cleaned_text", "decisions"): frame([], DECISIONS)  # c vanished without a decision
    },
    ("cleaned_text", "block_error_rate"): {  # a block raised on one record in three
        ("cleaned_text", "decisions"): frame(
            [_decision("c") | {"stage": "limits", "reason": "block_error"}], DECISIONS
        )
    },
    ("cleaned_text", "no_empty_text"): {
        ("cleaned_text", "data"): GOOD[("cleaned_text", "data")].with_columns(text=pl.lit("  \n"))
    },
    ("cleaned_text", "no_pii_left"): {
        ("cleaned_text", "data"): GOOD[("cleaned_text", "data")].with_columns(
            text=pl.lit(AR + " للتواصل: ٠٥٥١٢٣٤٥٦٧")  # a Saudi mobile in Arabic-Indic digits
        )
    },
    ("cleaned_text", "arabic_share"): {
        ("cleaned_text", "data"): GOOD[("cleaned_text", "data")].with_columns(
            text=pl.lit("An English page slipped through the language filter"), lang=pl.lit("en")
        )
    },
    ("rewrite_segments", "segments_tile_documents"): {
        ("rewrite_segments", "data"): frame(
            [_segment("a", AR[:20]), _segment("a", AR[10:30], 10) | {"index": 1}], SEGMENTS
        )
    },
    ("aligned_corpus", "one_row_per_segment"): {
        ("aligned_corpus", "data"): frame([_aligned("a"), _aligned("a")], ALIGNED)
    },
    ("aligned_corpus", "nothing_invalid_emitted"): {
        ("aligned_corpus", "data"): frame(
            [_aligned("a", "I'm sorry, I can't help.", "refusal"), _aligned("b")], ALIGNED
        )
    },
    ("aligned_corpus", "failure_rate"): {
        ("aligned_corpus", "data"): frame(
            [_aligned("a", status="no_wrapper"), _aligned("b")], ALIGNED
        )
    },
    ("aligned_corpus", "translation_rate"): {
        ("aligned_corpus", "data"): frame(
            [_aligned("a", status="translated", rejected="translated,translated"), _aligned("b")],
            ALIGNED,
        )
    },
    ("aligned_corpus", "harm_not_increased"): {
        ("aligned_corpus", "data"): frame(
            [_aligned("a", harm_max_after=0.9), _aligned("b")], ALIGNED
        )
    },
    ("aligned_corpus", "length_ratio_within_bounds"): {
        ("aligned_corpus", "data"): frame([_aligned("a", AR[:10]), _aligned("b")], ALIGNED)
    },
    ("corpus_mix", "held_out_never_trained"): {
        ("corpus_mix", "held_out"): pl.DataFrame(
            {"doc_id": ["h"], "original": [AR], "aligned": ["نص"]}  # a's text, another doc_id
        )
    },
    ("corpus_mix", "documents_trace_to_crawl"): {
        ("corpus_mix", "documents"): GOOD[("corpus_mix", "documents")].with_columns(
            segment_ids=pl.lit(["a:0", "z:3"])
        )
    },
    ("token_shards", "every_document_tokenized"): {  # hybrid's aligned form of a is missing
        ("token_shards", "documents"): GOOD[("token_shards", "documents")].filter(
            ~((pl.col("doc_id") == "a") & (pl.col("source") == "aligned"))
        )
    },
    ("eval_scores", "scores_are_valid"): {
        ("eval_scores", "scores"): GOOD[("eval_scores", "scores")].with_columns(
            value=pl.Series([0.5, 0.25, 0.5, 0.0])  # a perplexity below 1 is impossible
        )
    },
}


def test_a_harmful_segment_may_shrink_below_the_length_bound(tmp_path):
    shrunk = _aligned("a", AR[:10], harm_max_before=0.9)
    lake = _lake(tmp_path, {("aligned_corpus", "data"): frame([shrunk, _aligned("b")], ALIGNED)})
    assert _offending(lake, CHECKS[("aligned_corpus", "length_ratio_within_bounds")]).is_empty()


@pytest.mark.parametrize("key", sorted(CHECKS))
def test_every_check_fails_on_bad_data(tmp_path, key):
    assert key in BAD, f"write a bad case for {key}"
    offending = _offending(_lake(tmp_path, BAD[key]), CHECKS[key])
    assert offending.height > 0


def test_pii_check_covers_every_pattern_of_the_redactor():
    sql = CHECKS[("cleaned_text", "no_pii_left")].template
    assert all(f"var('pii_{kind}', 'text')" in sql for kind in PII_PATTERNS)


def test_conservation_catches_a_document_both_kept_and_removed(tmp_path):
    bad = {("cleaned_text", "decisions"): frame([_decision("c"), _decision("a")], DECISIONS)}
    rows = _offending(_lake(tmp_path, bad), CHECKS[("cleaned_text", "conservation")])
    assert rows["problem"].to_list() == ["kept and removed"]


def test_corpus_funnel_reads_every_dump(tmp_path):
    _lake(tmp_path, dump="D1")
    lake = _lake(tmp_path, dump="D2")
    (funnel,) = load_models(SETTINGS.sql_dir)
    rows = _offending(lake, funnel, partition="*")
    assert rows.select("dump", "stage").rows() == [
        ("D1", "read"),
        ("D1", "extract"),
        ("D2", "read"),
        ("D2", "extract"),
    ]
    assert rows["removed"].to_list() == [0, 1, 0, 1]


def test_header_refs_and_vars(tmp_path):
    path = tmp_path / "x.sql"
    path.write_text(
        "-- description: demo\n-- severity: warn\n-- blocking: true\n"
        "select * from {{ ref('a') }} join {{ ref('b', 'decisions') }} using (doc_id)"
        " where score > {{ var('limit', 'number') }}"
    )
    sql = parse(path, "a")
    assert (sql.description, sql.severity, sql.blocking) == ("demo", "warn", True)
    assert sql.upstream == ["a", "b"]
    rendered = render(sql, lambda a, t: f"/lake/{a}/{t}/*.parquet", {"limit": 0.5})
    assert "read_parquet($ref_a_data," in rendered.text and "score > $var_limit" in rendered.text
    assert rendered.params == {
        "ref_a_data": "/lake/a/data/*.parquet",
        "ref_b_decisions": "/lake/b/decisions/*.parquet",
        "var_limit": 0.5,
    }
    with pytest.raises(KeyError, match="limit"):
        render(sql, lambda a, t: "", {})


@pytest.mark.parametrize(
    "statement",
    ["copy (select 1) to '/tmp/x.csv'", "create table t as select 1", "select 1; select 2"],
)
def test_queries_are_read_only(statement):
    with pytest.raises(ValueError, match="one SELECT"):
        query(statement)


def test_no_pii_left_finds_pii_before_redaction_and_none_after(tmp_path):
    texts = [
        "a@b.co",
        "+966 50 123 4567",
        "٠٥٥١٢٣٤٥٦٧",
        "الهوية 1012345678",
        "29001011234567",
        VALID_IBAN,
        "10.0.0.1",
        "تأسست عام 1932 بسعر 1500000000 ريال.",  # no PII at all
    ]
    flagged = {}
    for column, values in (("raw", texts), ("clean", [redact(t)[0] for t in texts])):
        data = pl.DataFrame(
            {
                "doc_id": [str(i) for i in range(len(texts))],
                "url": "u",
                "text": values,
                "lang": "ar",
            }
        )
        lake = _lake(tmp_path / column, {("cleaned_text", "data"): data})
        flagged[column] = set(_offending(lake, CHECKS[("cleaned_text", "no_pii_left")])["doc_id"])
    rows = [(str(i) in flagged["raw"], str(i) in flagged["clean"]) for i in range(len(texts))]
    assert rows == [(True, False)] * (len(texts) - 1) + [(False, False)]


def _check(tmp_path: Path, sql: str) -> SqlFile:
    path = tmp_path / "c.sql"
    path.write_text(sql)
    return parse(path, "raw_crawl")


@pytest.mark.parametrize("value", [["/etc/passwd"], {"a": 1}, "0.5", True, None])
def test_a_var_of_the_wrong_type_is_refused_naming_it(tmp_path, value):
    check = _check(tmp_path, "select 1 where 2 > {{ var('limit', 'number') }}")
    with pytest.raises(TypeError, match=r"var\('limit'\) must be number"):
        render(check, lambda a, t: "", {"limit": value})


def test_a_var_must_declare_its_type(tmp_path):
    check = _check(tmp_path, "select {{ var('limit') }}")
    with pytest.raises(ValueError, match="must declare its type"):
        render(check, lambda a, t: "", {"limit": 1})


def test_a_text_var_is_a_value_never_sql(tmp_path):
    check = _check(tmp_path, "select {{ var('name', 'text') }} as v")
    hostile = "x' as v, (select count(*) from read_csv('/etc/passwd')) as leak --"
    assert query(render(check, lambda a, t: "", {"name": hostile})).rows() == [(hostile,)]


def test_a_path_with_sql_in_it_is_only_a_path(tmp_path):
    """A glob is a bound parameter: quotes and comments in a folder name change nothing."""
    hostile = tmp_path / "CC-X'||chr(42)||chr(47)||'data'||chr(47)||chr(42)) where false --"
    (hostile / "t").mkdir(parents=True)
    pl.DataFrame({"doc_id": ["a", "a"]}).write_parquet(hostile / "t" / "p.parquet")
    check = CHECKS[("raw_crawl", "unique_doc_id")]
    offending = query(render(check, lambda a, t: str(hostile / "t" / "*.parquet"), VARIABLES))
    assert offending.rows() == [("a", 2)]


@pytest.mark.parametrize(
    ("checks", "named"),
    [
        ({"arabic_share_min": 7}, "checks.arabic_share_min"),
        ({"quarantine_rate_max": -1}, "checks.quarantine_rate_max"),
        ({"failure_rate_max": "fifty"}, "checks.failure_rate_max"),
        ({"unknown_max": 0.1}, "checks.unknown_max"),
    ],
)
def test_check_thresholds_are_typed_and_ranged_when_the_config_loads(tmp_path, checks, named):
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"checks": checks}))
    with pytest.raises(ConfigError, match=f"^{path}: {named}:"):
        load_settings(path)


def test_a_check_shows_what_it_measured_whether_it_passes_or_not(tmp_path):
    """arabic_share names the CTE of its shares: they are shown, passing or not."""
    lake = _lake(tmp_path)
    check = CHECKS[("cleaned_text", "arabic_share")]
    assert check.shows == "shares"
    rendered = render(check, lambda a, t: lake.table_glob(a, t, "D1"), VARIABLES)
    assert query(rendered).is_empty()  # passes
    (shares,) = query(measured(rendered, check.shows)).rows(named=True)
    assert shares["arabic_documents"] == 1.0 and 0.5 < shares["arabic_letters"] <= 1.0
    with pytest.raises(ValueError, match="no top-level SELECT"):
        measured(Rendered("(select 1)", {}), "shares")
