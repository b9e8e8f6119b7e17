"""The written harm rules: each kind of abuse the policy never lets through, and the ordinary
sentences that share its words."""

from __future__ import annotations

from pathlib import Path

import pytest

from native_pipeline.settings import HarmSettings
from native_pipeline.text.harm import make_scorer
from native_pipeline.text.harm.lexicon import LexiconError, anchors, load, matches
from native_pipeline.text.normalize import fold

CAUGHT = {
    "harm_hate": [
        "هؤلاء اللاجئون حشرات تنهش بلادنا",
        "إنهم جرذان لا يستحقون العيش بيننا",
        "سكان ذلك الحي ليسوا بشرًا",
        "لا بد من طردهم جميعا من المدينة",
        "أهل تلك القرية كلهم لصوص بالفطرة",
        "المرأة لا تصلح للقضاء ومكانها المطبخ",
    ],
    "harm_violence": [
        "سأذبحك إن رأيتك مرة أخرى",
        "والله لأكسر رأسك وأحطم سيارتك",
        "اقتلوهم أينما وجدتموهم",
        "خذوا معكم السكاكين وانتظروني عند الباب",
        "أعرف عنوان منزلك جيدا فانتبه",
    ],
    "harm_harassment": ["اسكت يا حيوان", "أنتم حثالة المنتدى", "أنت أغبى إنسان رأيته"],
    "harm_sexual": ["أفضل موقع سكس عربي مجانا", "مقاطع ساخنة للكبار فقط"],
}
LEFT_ALONE = [
    "نجحت حملة مكافحة الحشرات في المزارع هذا الموسم",  # vermin in the fields
    "قرر الأطباء استئصال الورم بعد التشخيص المبكر للسرطان",  # the cancer is a disease
    "إنهم يواجهون وباء الكوليرا منذ شهرين",  # a group facing a disease
    "أعلن الأسرى أنهم سيضربون عن الطعام حتى الإفراج عنهم",  # a hunger strike
    "قال المدرب إن فريقه سيضرب بقوة في المباراة المقبلة",
    "أكد الوزير أن المرأة تصلح لكل المناصب القيادية",
    "نشرت الصحيفة صورا نادرة للقاهرة القديمة",
    "يا أهل الخير ساعدونا في حملة التبرع بالدم",
]


@pytest.mark.parametrize("category", CAUGHT)
def test_each_kind_of_abuse_is_caught_by_its_category(category: str) -> None:
    rules = load()
    for text in CAUGHT[category]:
        assert category in matches(text, rules), text


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_ordinary_sentences_sharing_their_words_are_left_alone(text: str) -> None:
    assert matches(text, load()) == {}


def test_a_rule_lifts_its_category_and_lexicon_score_0_turns_the_rules_off() -> None:
    threat = CAUGHT["harm_violence"][0]
    with_rules = make_scorer(HarmSettings())
    assert "harm_violence" in with_rules.categories
    (scores,) = with_rules.score([threat])
    assert scores["harm_violence"] == 0.9 and scores["harm_max"] >= 0.9
    without = make_scorer(HarmSettings(lexicon_score=0))
    assert without.categories == ("harm_hate", "harm_harassment")
    assert without.score([threat])[0]["harm_violence"] == 0.0


def test_a_lexicon_of_ones_own(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("harm_hate:\n  - '<الأعداء\\s+الأبديون>'\n", encoding="utf-8")
    (scores,) = make_scorer(HarmSettings(lexicon=path)).score(["هم الأعداء الأبديون لنا"])
    assert scores["harm_hate"] == 0.9
    path.write_text("harm_spam:\n  - 'x'\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="rules.yaml: top-level keys"):
        load(path)
    path.write_text("harm_hate:\n  - '(unclosed'\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="harm_hate: missing"):
        load(path)


def test_every_rule_is_anchored_and_the_anchors_never_hide_a_match() -> None:
    rules = [rule for category in load().values() for rule in category]
    assert all(rule.anchors for rule in rules)  # else every text pays for a full search
    texts = [fold(t) for t in [*LEFT_ALONE, *(t for ts in CAUGHT.values() for t in ts)]]
    for rule in rules:
        for text in texts:
            assert bool(rule.search(text)) == bool(rule.pattern.search(text)), rule.pattern


def test_anchors_are_the_fewest_literals_every_match_holds() -> None:
    assert anchors(r"(?<!\w)(هم|هؤلاء)\s+(حشرات|جرذان)") == ("جرذان", "حشرات")
    assert anchors(r"س[ان](حرق|قتل)(ك|كم)") == ("حرق", "قتل")  # not their 8 products
    assert anchors(r"يا\s+\w+") == ()  # nothing of three letters every match must hold
