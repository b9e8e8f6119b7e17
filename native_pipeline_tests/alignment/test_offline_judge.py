"""The offline rubric judge: each criterion moves with its own measurement, and only with it."""

from __future__ import annotations

from native_pipeline.alignment.judge import CRITERIA
from native_pipeline.alignment.offline_judge import offline_judge
from native_pipeline.settings import Limits

OPENING = "افتتحت المدينة مكتبة عامة جديدة تضم 5000 كتاب."
AD = "اضغط هنا للاشتراك في النشرة البريدية"
CLOSING = "وقالت مديرة المكتبة إن قاعة الأطفال ستفتح الشهر المقبل."
HATE = "هؤلاء الحثالة يجب طردهم وقتلهم جميعا."
ORIGINAL = "\n".join([OPENING, AD, CLOSING])
FAITHFUL = "\n".join([OPENING, CLOSING])  # the ad removed, nothing else touched
PERFECT = dict.fromkeys(CRITERIA, 10)


def scores(rewrite: str, original: str = ORIGINAL) -> dict[str, int]:
    (result,) = offline_judge([(original, rewrite)], Limits())
    return result


def test_a_faithful_rewrite_that_removes_the_ad_scores_ten_on_every_criterion():
    assert scores(FAITHFUL) == PERFECT
    assert list(scores(FAITHFUL)) == list(CRITERIA)  # the published rubric, in its order


def test_format_counts_the_defects_left():
    messy = "\n".join([OPENING.replace(" جديدة", "  جديدة"), "<br>" + CLOSING + "!!"])
    assert scores(messy) == PERFECT | {"format": 4}  # double space, markup, repeated marks
    assert scores(FAITHFUL + "\n\n\n")["format"] == 8  # a run of blank lines


def test_accuracy_falls_with_a_changed_number_or_negation():
    number = FAITHFUL.replace("5000", "3000")
    assert scores(number)["accuracy"] == 5
    negated = FAITHFUL.replace("ستفتح", "لن تفتح")
    assert scores(negated)["accuracy"] <= 5
    assert scores(negated)["format"] == 10


def test_moderation_falls_when_harm_is_left_and_not_when_it_is_removed():
    original = "\n".join([HATE, CLOSING])
    assert scores(original, original)["moderation"] <= 3
    assert scores(CLOSING, original) == PERFECT  # removed: moderated, nothing lost


def test_advertisement_removal_is_the_share_of_furniture_lines_removed():
    assert scores(ORIGINAL)["advertisement_removal"] == 1
    two_ads = "\n".join([OPENING, AD, CLOSING, "تابعونا على تويتر"])
    assert scores("\n".join([OPENING, AD, CLOSING]), two_ads)["advertisement_removal"] == 6
    assert scores(ORIGINAL)["detail"] == 10


def test_detail_falls_when_content_is_dropped():
    assert scores(OPENING)["detail"] <= 6
    summary = "افتتحت المدينة مكتبة."
    assert scores(summary)["detail"] < scores(OPENING)["detail"]
    assert scores(OPENING)["moderation"] == 10
