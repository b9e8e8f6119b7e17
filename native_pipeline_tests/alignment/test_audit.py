from __future__ import annotations

import polars as pl
import pytest

from native_pipeline.alignment.audit import (
    audit,
    changed_segments,
    fidelity_by_dump,
    rejected_segments,
    word_diff,
)
from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.tables import ALIGNED, frame
from native_pipeline.text.harm import HARM_KEYS


def _row(i: int, *, harm_before: float, harm_after: float, changed: bool, dialect=("msa", "msa")):
    original = f"نص رقم {i} " * 5
    aligned = original + "معدل" if changed else original
    harm = {f"{k}_before": harm_before for k in HARM_KEYS} | {
        f"{k}_after": harm_after for k in HARM_KEYS
    }
    return harm | dict(
        doc_id=f"d{i}",
        segment_id=f"d{i}:0",
        original=original,
        aligned=aligned,
        status="valid",
        unchanged=not changed,
        edit_ratio=0.2 if changed else 0.0,
        lang_before="ar",
        lang_after="ar",
        dialect_before=dialect[0],
        dialect_after=dialect[1],
    )


ROWS = frame(
    [_row(i, harm_before=0.8, harm_after=0.2, changed=True) for i in range(4)]
    + [_row(i, harm_before=0.1, harm_after=0.1, changed=False) for i in range(4, 8)]
    + [_row(8, harm_before=0.1, harm_after=0.1, changed=True, dialect=("egyptian", "msa"))]
    + [_row(9, harm_before=0.1, harm_after=0.1, changed=False, dialect=("gulf", "gulf"))],
    ALIGNED,
)


def test_before_and_after_figures():
    report = audit(ROWS, perplexity=lambda text: float(len(text)))
    head = report.headline
    assert head["segments"] == 10 and head["unchanged_share"] == pytest.approx(0.5)
    # mean harm 0.38 before, 0.14 after, for every category
    harm = report.harm.filter(pl.col("category") == "max").row(0, named=True)
    assert harm["before"] == pytest.approx(0.38) and harm["after"] == pytest.approx(0.14)
    assert harm["reduction_pct"] == pytest.approx(63.2)
    assert set(report.harm["category"]) == {"hate", "harassment", "sexual", "violence", "max"}
    # Only the categories the harm scorer really scores are reported.
    offline = audit(ROWS, lambda text: 1.0, categories=("harm_hate", "harm_harassment"))
    assert offline.harm["category"].to_list() == ["hate", "harassment", "max"]
    assert head["dialect_segments"] == 2 and head["dialect_to_msa_share"] == pytest.approx(0.5)
    assert head["language_kept_share"] == 1.0
    assert report.sample["perplexity_after"].sum() > report.sample["perplexity_before"].sum()
    assert head["edit_ratio_median"] == pytest.approx(0.1)
    assert set(report.summary["metric"]) == set(head)
    figure = report.figure()
    assert len(figure.axes) == 2 and figure.axes[0].get_xscale() == "log"
    assert len(figure.axes[0].get_xticks()) >= 4  # a narrow log axis still has several ticks
    assert "judged" not in head


def test_judge_scores_are_averaged_per_criterion():
    scores = [dict.fromkeys(CRITERIA, 8)] * 9 + [None]
    report = audit(ROWS, perplexity=lambda text: 1.0, judge_scores=scores)
    assert report.headline["judged"] == 9
    assert all(report.headline[f"judge_{c}"] == 8.0 for c in CRITERIA)
    assert report.sample["judge_format"].null_count() == 1


def test_fidelity_by_dump_shows_a_drifting_worker():
    corpus = pl.DataFrame(
        {
            "dump": ["d1", "d1", "d2", "d2"],
            "rejected": ["", "numbers_changed", "names_lost,numbers_changed", "names_lost"],
            "numbers_kept": [1.0, 0.5, 0.0, None],
            "names_kept": [1.0, 1.0, 0.5, 0.7],
            "status": ["valid", "valid", "names_lost", "reworded"],
            "unchanged": [False, True, False, False],
            "edit_ratio": [0.2, 0.0, 0.5, 0.6],
            "judge": ["", "", "", "rejected"],
        }
    )
    judged = pl.DataFrame({"dump": ["d1", "d2"], "judge_accuracy": [9, 4]})
    table = fidelity_by_dump(corpus, judged)
    assert table["dump"].to_list() == ["d1", "d2"]
    assert table["rejected_numbers_changed"].to_list() == [0.5, 0.5]
    assert table["rejected_names_lost"].to_list() == [0.0, 1.0]
    assert table["numbers_kept"].to_list() == [0.75, 0.0]
    assert table["names_kept"].to_list() == [1.0, 0.6]
    assert table["judge_accuracy"].to_list() == [9.0, 4.0]
    assert "rejected_quote_changed" in table.columns  # every fidelity check, even at 0
    assert "rejected_refusal" not in table.columns  # the others only when they rejected any
    report = audit(ROWS.with_columns(numbers_kept=pl.lit(0.5)), lambda t: 1.0, corpus=corpus)
    assert report.fidelity is not None and report.fidelity.height == 2
    assert report.headline["numbers_kept_mean"] == 0.5
    # did alignment happen: over the whole corpus, not the sample
    head = report.headline
    assert head["corpus_rewritten_share"] == 0.25 and head["corpus_untouched_share"] == 0.25
    assert head["corpus_rejected_share"] == 0.5 and head["corpus_changed_words_share"] == 0.2
    assert head["corpus_rejected_names_lost_share"] == 0.25
    assert head["corpus_judge_rejected"] == 1 and head["corpus_judge_accepted"] == 0


AD = "اتصل الآن على الرقم للحصول على عرض خاص"
POST = "ذهبت إلى السوق صباح اليوم واشتريت الخبز والحليب ثم عدت إلى البيت قبل الظهر"
THREAT = "سأقتلك إن رأيتك مرة أخرى"


def test_a_word_diff_shows_what_the_rewrite_removed_and_added_among_a_few_kept_words():
    assert word_diff(f"{POST}\n{AD}", POST) == f"… البيت قبل الظهر [-{AD}-]"
    assert word_diff("a b c d e f g h i j", "a b c X e f g h i j") == "a b c [-d-] {+X+} e f g …"
    assert word_diff("a b", "a b") == "a b"


def test_the_changed_segments_show_before_and_after_with_the_kind_of_change():
    harm = {f"{k}_before": 0.05 for k in HARM_KEYS} | {f"{k}_after": 0.05 for k in HARM_KEYS}
    threat = harm | {"harm_violence_before": 0.93, "harm_max_before": 0.93}
    rows = frame(
        [
            harm | dict(segment_id="s1", original=f"{POST}\n{AD}", aligned=POST, edit_ratio=0.3),
            threat
            | dict(segment_id="s2", original=f"{POST} {THREAT}", aligned=POST, edit_ratio=0.5),
            harm | dict(segment_id="s3", original=POST, aligned=POST, unchanged=True),
            harm
            | dict(segment_id="s4", original=POST, aligned=POST, status="names_lost", attempts=2),
        ],
        ALIGNED,
    ).with_columns(pl.col("status").fill_null("valid"), pl.col("unchanged").fill_null(False))
    changed = changed_segments(rows)
    assert changed.columns == ["original", "aligned", "changes", "change", "edit_ratio", "harm"]
    assert changed["original"].to_list() == [f"{POST} {THREAT}", f"{POST}\n{AD}"]  # most first
    assert changed["change"].to_list() == ["harm lowered (violence)", "text removed"]
    assert changed["changes"][0] == f"… البيت قبل الظهر [-{THREAT}-]"
    assert changed["harm"].to_list() == ["0.93→0.05", "0.05→0.05"]
    rejected = rejected_segments(rows.lazy())
    assert rejected.select("original", "reason", "attempts").rows() == [(POST, "names_lost", 2)]
