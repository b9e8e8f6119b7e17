from __future__ import annotations

import pickle

import pytest

from native_pipeline.text.blocks import Block, Document
from native_pipeline.text.quality import (
    C4Filter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    RefinedWebLineFilter,
)

ARTICLE = "\n\n".join(
    [
        (
            "أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد في مدينة الرياض، ويضم المستشفى "
            "أكثر من مئتي سرير وعددا من الأقسام المتخصصة في أمراض القلب والأطفال والطوارئ. "
            "وقال الوزير في مؤتمر صحفي إن المشروع يأتي ضمن خطة الحكومة لتحسين الخدمات الصحية "
            "في جميع المناطق."
        ),
        (
            "وأضاف أن المستشفى سيعمل بكامل طاقته خلال الأشهر الثلاثة المقبلة، بعد أن يكتمل "
            "تدريب الكوادر الطبية على الأجهزة الحديثة التي تم توريدها من عدة دول. كما أشار "
            "إلى أن الوزارة تعمل على إنشاء مراكز رعاية أولية في القرى البعيدة عن المدن "
            "الكبرى."
        ),
        (
            "من جهتهم، رحب سكان المدينة بهذه الخطوة، مؤكدين أنها ستخفف الضغط على المستشفيات "
            "القائمة التي كانت تعاني من الازدحام الشديد. وقالت إحدى المواطنات إن الانتظار في "
            "أقسام الطوارئ كان يستغرق ساعات طويلة، وإنها تأمل أن يتغير ذلك قريبا."
        ),
        (
            "ويرى خبراء في القطاع الصحي أن نجاح هذه المشاريع يعتمد على توفير عدد كاف من "
            "الأطباء والممرضين، وعلى تطوير أنظمة المواعيد الإلكترونية. ودعوا إلى زيادة "
            "الاستثمار في التعليم الطبي حتى تتمكن الجامعات من تخريج المزيد من الكفاءات "
            "الوطنية خلال السنوات القادمة."
        ),
    ]
)

FILTERS: list[type[Block]] = [
    GopherQualityFilter,
    GopherRepetitionFilter,
    C4Filter,
    FineWebQualityFilter,
]


def run(block: Block, text: str) -> tuple[list[Document], str | None, float | None]:
    """Kept docs, and the reason/score of the one decision recorded (if any)."""
    kept = block([Document("d", text)])
    decisions, _ = block.drain()
    assert len(decisions) <= 1
    return kept, *((decisions[0].reason, decisions[0].score) if decisions else (None, None))


@pytest.mark.parametrize("cls", FILTERS)
def test_clean_article_passes_unchanged(cls: type[Block]) -> None:
    block = pickle.loads(pickle.dumps(cls()))
    kept, reason, _ = run(block, ARTICLE)
    assert reason is None
    assert [d.text for d in kept] == [ARTICLE]


def test_stop_words_count_with_diacritics_and_joined_conjunction() -> None:
    block = GopherQualityFilter(min_words=3)
    assert run(block, "وَفِي البيتِ حديقةٌ ومِنْ أزهارها الورد.")[1] is None
    assert run(block, "البيت حديقة أزهارها الورد.")[1:] == (
        "gopher_quality:too_few_stop_words",
        0,
    )


KEYWORDS = " ".join(
    f"{item} {city}"
    for item in ("شقق", "فلل", "أراضي", "مكاتب", "محلات", "استراحات")
    for city in ("الرياض", "جدة", "الدمام", "مكة", "المدينة", "أبها", "تبوك", "حائل", "جازان")
)


@pytest.mark.parametrize(
    ("text", "reason", "score"),
    [
        ("مرحبا بكم في موقعنا الرسمي.", "gopher_quality:too_few_words", 5),
        (
            "تسجيل الدخول\nاسم المستخدم\nكلمة المرور\nتذكرني على هذا الجهاز\n"
            "نسيت كلمة المرور؟ أنشئ حسابا جديدا في الموقع الآن مجانا من هنا",
            "gopher_quality:too_few_words",
            22,
        ),
        (KEYWORDS, "gopher_quality:too_few_stop_words", 0),
        (
            ARTICLE + "\n" + " ".join(f"#وسم{i}" for i in range(40)),
            "gopher_quality:symbol_word_ratio",
            None,
        ),
        (
            " ".join(["الرئيسية", "|", "★★★", "|", "الأخبار", "|", "►", "|", "→"] * 20) + " في من",
            "gopher_quality:alpha_words",
            None,
        ),
        (
            "\n".join(f"• بند رقم {i} في القائمة" for i in range(60)),
            "gopher_quality:bullet_lines",
            1.0,
        ),
        (
            "\n".join(
                f"خبر عاجل رقم {i} عن الأحداث الجارية في المنطقة الشرقية اليوم..."
                for i in range(20)
            ),
            "gopher_quality:ellipsis_lines",
            1.0,
        ),
    ],
)
def test_gopher_quality_rejects(text: str, reason: str, score: float | None) -> None:
    kept, got_reason, got_score = run(GopherQualityFilter(), text)
    assert kept == []
    assert got_reason == reason
    if score is not None:
        assert got_score == pytest.approx(score)


INTERVIEW = "\n".join(
    [
        "* كيف بدأت رحلتك مع الكتابة الروائية؟",
        "- بدأت أكتب القصص القصيرة في المرحلة الثانوية، ثم نشرت أول رواية بعد تخرجي بعامين.",
        "* ما الذي يشغلك في أعمالك الأخيرة؟",
        "- تشغلني أسئلة الهجرة والذاكرة، وكيف يحمل الناس مدنهم معهم إلى المنافي البعيدة.",
        "* هل تفكر في كتابة سيرتك الذاتية؟",
        "- ربما في يوم ما، لكنني أشعر أن الروايات تقول عني أكثر مما تقوله أي سيرة.",
    ]
)


def test_gopher_takes_bulleted_questions_and_answers_as_prose() -> None:
    """An interview set as "* question / - answer" is not a list of links."""
    assert run(GopherQualityFilter(), INTERVIEW)[1] is None
    items = "\n".join(f"- {city} شقق وفلل وأراضي للبيع بأسعار مناسبة" for city in CITIES)
    assert run(GopherQualityFilter(), items)[1] == "gopher_quality:bullet_lines"


CITIES = ("الرياض", "جدة", "الدمام", "مكة", "المدينة", "أبها", "تبوك", "حائل", "جازان")

STOCK_REPORT = (
    "أغلق مؤشر السوق الرئيسي تداولات اليوم على ارتفاع بنسبة 1.25% عند مستوى 11,482.36 "
    "نقطة، بتداولات بلغت قيمتها 6.4 مليار ريال. وارتفع سهم الشركة الأولى 2.1% إلى 34.50 "
    "ريال، وسهم الثانية 0.8% إلى 87.20 ريال، فيما تراجع سهم الثالثة 1.4% إلى 112.60 "
    "ريال. وبلغ عدد الصفقات المنفذة 412,356 صفقة، ارتفعت فيها أسعار 143 شركة وتراجعت 61. "
    "وسجل مؤشر الأسواق الموازية 24,118.05 نقطة بتغير قدره 0.35%."
)


def test_gopher_does_not_count_figures_against_the_alphabetic_words() -> None:
    assert run(GopherQualityFilter(), STOCK_REPORT)[1] is None


BRIEF = (
    "أعلنت هيئة الأرصاد الجوية أن موجة من الأمطار الغزيرة ستضرب المناطق الجنوبية ابتداء من "
    "مساء الغد. ودعت المواطنين إلى تجنب الأودية ومجاري السيول والالتزام بتعليمات الدفاع "
    "المدني حتى نهاية الأسبوع."
)


def test_short_news_briefs_pass_every_filter() -> None:
    assert 30 <= len(BRIEF.split()) < 50
    for cls in FILTERS:
        kept, reason, _ = run(cls(), BRIEF)
        assert reason is None, cls.name
        assert [d.text for d in kept] == [BRIEF]


def test_gopher_repetition_rejects_repeated_paragraphs() -> None:
    first = ARTICLE.split("\n\n")[0]
    kept, reason, score = run(GopherRepetitionFilter(), "\n\n".join([first] * 4))
    assert kept == []
    assert reason == "gopher_repetition:dup_para_frac"
    assert score == pytest.approx(0.75)


def test_gopher_repetition_rejects_repeated_lines_when_paragraph_rules_are_off() -> None:
    block = GopherRepetitionFilter(dup_para_frac=None, dup_para_char_frac=None)
    text = "\n".join(["اشترك الآن في قناتنا."] * 3 + ARTICLE.split("\n\n")[:1])
    _, reason, score = run(block, text)
    assert reason == "gopher_repetition:dup_line_frac"
    assert score == pytest.approx(0.5)


def test_gopher_repetition_rejects_top_ngram_spam() -> None:
    text = ARTICLE.split("\n\n")[0] + " " + " ".join(["اشتري الآن"] * 40)
    _, reason, score = run(GopherRepetitionFilter(), text)
    assert reason == "gopher_repetition:top_2_gram"
    assert score > 0.197


def test_gopher_repetition_rejects_duplicated_ngrams() -> None:
    sentence = "الأسعار في السوق المحلية ارتفعت كثيرا هذا الأسبوع بسبب نقص المعروض"
    text = ARTICLE.split("\n\n")[1] + " " + " ".join([sentence] * 4)
    block = GopherRepetitionFilter(top_n_grams=())
    _, reason, score = run(block, text)
    assert reason == "gopher_repetition:dup_5_gram"
    assert score > 0.165


def test_c4_removes_boilerplate_lines_and_records_modification() -> None:
    text = "\n".join(
        [
            "الرئيسية أخبار رياضة اقتصاد",
            ARTICLE,
            "يستخدم هذا الموقع ملفات تعريف الارتباط لتحسين تجربتك.",
            "يرجى تفعيل جافا سكريبت في متصفحك لعرض الصفحة.",
            "اقرأ سياسة الخصوصية قبل التسجيل.",
            "جميع الحقوق محفوظة © 2024.",
            "حسنا.",
        ]
    )
    kept, reason, score = run(C4Filter(), text)
    assert reason == "c4_lines_removed"
    n_lines = len([line for line in text.split("\n") if line.strip()])
    assert score == pytest.approx(6 / n_lines)
    assert kept[0].text == ARTICLE


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("هذا النص هو مثال لنص يمكن أن يستبدل في نفس المساحة.", "c4:lorem_ipsum"),
        ("Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "c4:lorem_ipsum"),
        ("function show() { return true; }", "c4:curly_bracket"),
    ],
)
def test_c4_removes_documents(extra: str, reason: str) -> None:
    kept, got, _ = run(C4Filter(), ARTICLE + "\n" + extra)
    assert kept == []
    assert got == reason


def test_c4_removes_documents_left_too_short() -> None:
    text = "الرئيسية\nأخبار\nاتصل بنا\nهذا خبر قصير جدا، وليس فيه سوى جملة واحدة."
    kept, reason, score = run(C4Filter(), text)
    assert kept == []
    assert (reason, score) == ("c4:too_few_sentences", 1.0)


# --- Arabic sentence ends ------------------------------------------------------------------


def test_c4_counts_sentences_at_arabic_full_stops_not_commas() -> None:
    """ "،" and "؛" join clauses: a long sentence full of them is still one sentence."""
    one = (
        "أكد وزير المالية، في مؤتمر صحفي عقده صباح اليوم في العاصمة، أن الميزانية الجديدة "
        "ستركز على التعليم والصحة؛ وأن العجز سينخفض خلال العامين المقبلين."
    )
    two = one + " وهل تكفي هذه الخطوات؟ يرى خبراء أنها بداية جيدة."
    assert run(C4Filter(min_sentences=2), one)[1:] == ("c4:too_few_sentences", 1.0)
    kept, reason, _ = run(C4Filter(min_sentences=3), two)
    assert reason is None
    assert kept[0].text == two


def test_c4_keeps_the_complete_sentences_of_a_line_with_an_unpunctuated_tail() -> None:
    """A whole article on one line loses only its outlet tag, not everything."""
    body = (
        "افتتحت بلدية المدينة صباح اليوم حديقة عامة جديدة على مساحة عشرين ألف متر مربع. "
        "وتضم الحديقة ممرات للمشي وملاعب للأطفال ومكتبة صغيرة. "
        "وقال رئيس البلدية إن المشروع استغرق عامين من العمل المتواصل."
    )
    kept, reason, score = run(C4Filter(), body + " تابعونا على صفحتنا لمزيد من الأخبار")
    assert reason == "c4_lines_removed"
    assert score == 1.0  # one line of one was changed
    assert kept[0].text == body


def test_c4_drops_a_line_without_any_complete_sentence() -> None:
    text = ARTICLE + "\nاقرأ أيضا أخبار الرياضة والاقتصاد والثقافة اليوم"
    kept, reason, _ = run(C4Filter(), text)
    assert reason == "c4_lines_removed"
    assert kept[0].text == ARTICLE


def test_c4_keeps_a_lead_in_line_only_before_what_it_introduces() -> None:
    quote = "وقال المتحدث باسم الوزارة في بيانه:\n«سنعمل على إعادة فتح الطريق خلال أيام.»"
    kept, reason, _ = run(C4Filter(), ARTICLE + "\n" + quote)
    assert reason is None
    assert kept[0].text == ARTICLE + "\n" + quote
    share = "شارك هذا الخبر عبر حساباتك على:\nفيسبوك تويتر واتساب"
    kept, reason, _ = run(C4Filter(), ARTICLE + "\n" + share)
    assert reason == "c4_lines_removed"
    assert kept[0].text == ARTICLE


# --- Arabic quotation marks ---------------------------------------------------------------


def test_c4_takes_braces_around_arabic_words_as_quotation_marks() -> None:
    text = (
        ARTICLE
        + "\nوأعلن تنظيم {داعش} مسؤوليته عن الهجوم في بيان نشره على مواقعه."
        + "\nواستشهد الخطيب بقوله تعالى: {وَتَعَاوَنُوا عَلَى الْبِرِّ وَالتَّقْوَى}"
        + "\nوختم بقوله تعالى: ﴿إِنَّ مَعَ الْعُسْرِ يُسْرًا﴾"
        + "\nوأشار أحد المحررين إلى القالب {{مستخدم أوب}} في رده على الاقتراح."
    )
    kept, reason, _ = run(C4Filter(), text)
    assert reason is None
    assert kept[0].text == text


@pytest.mark.parametrize(
    "code",
    [
        ".header { color: #333; margin: 0 auto; }",
        "if (window.innerWidth < 600) { menu.hide(); }",
        "var config = {",
        "مرحبا {{user_name}}، لديك رسائل جديدة في صندوق الوارد.",
        "انظر المصدر {{استشهاد ويب|مسار=https://a.example|عنوان=الخبر}} للمزيد.",
    ],
)
def test_c4_still_removes_code_braces(code: str) -> None:
    kept, reason, _ = run(C4Filter(), ARTICLE + "\n" + code)
    assert kept == []
    assert reason == "c4:curly_bracket"


def test_c4_a_quoted_verse_or_quotation_ends_its_line() -> None:
    verse = "قال تعالى في محكم تنزيله: ﴿وَقُل رَّبِّ زِدْنِي عِلْمًا﴾"
    quote = "وقال المدرب بعد المباراة: «لعبنا بروح عالية وسنواصل العمل.»"
    kept, reason, _ = run(C4Filter(), "\n".join([ARTICLE, verse, quote]))
    assert reason is None
    assert kept[0].text.endswith(verse + "\n" + quote)


LINK_LIST = "\n".join(
    ["الرئيسية", "أخبار محلية", "أخبار دولية", "رياضة", "اقتصاد", "ثقافة وفنون", "اتصل بنا"] * 3
)


def test_fineweb_rejects_link_lists() -> None:
    kept, reason, score = run(FineWebQualityFilter(), LINK_LIST)
    assert kept == []
    assert (reason, score) == ("fineweb_quality:line_punct_ratio", 0.0)


def test_fineweb_rejects_short_lines() -> None:
    text = "\n".join(f"الخبر رقم {i} هنا." for i in range(20)) + "\n" + ARTICLE
    _, reason, score = run(FineWebQualityFilter(), text)
    assert reason == "fineweb_quality:short_line_ratio"
    assert score >= 0.67


def test_fineweb_rejects_duplicated_lines() -> None:
    paragraphs = ARTICLE.split("\n\n")
    _, reason, score = run(FineWebQualityFilter(), "\n".join(paragraphs + paragraphs[:1]))
    assert reason == "fineweb_quality:char_dup_ratio"
    assert score >= 0.1


def test_fineweb_rejects_many_line_breaks() -> None:
    text = "\n".join(f"التقرير {i} للمحافظات الساحلية الجنوبية." for i in range(40))
    _, reason, score = run(FineWebQualityFilter(), text)
    assert reason == "fineweb_quality:new_line_ratio"
    assert score == pytest.approx(39 / 200)


def test_no_repeated_n_gram_means_no_longer_one() -> None:
    """GopherRepetitionFilter stops at the first n without a repeat; this is why it may."""
    import random

    from native_pipeline.text.quality import _duplicated_ngram_chars

    rng = random.Random(7)
    for _ in range(500):
        tokens = [rng.choice("ابتثجحخ") for _ in range(rng.randint(0, 40))]
        for n in range(2, 10):
            if _duplicated_ngram_chars(tokens, n) == 0:
                assert _duplicated_ngram_chars(tokens, n + 1) == 0


PROSE = "وقالت البلدية إن المكتبة الجديدة ستفتح أبوابها للجمهور كل يوم من أيام الأسبوع المقبل."


@pytest.mark.parametrize(
    "line",
    [
        "READ THE FULL STORY NOW",  # mostly upper case
        "١٢٣ ٤٥٦",  # only figures
        "١٢ تعليق",  # a counter, Arabic digits folded
        "3.5K likes",
        "الرئيسية",  # one word
        "اقرأ المزيد عن الخبر",  # a short line with a boilerplate phrase
    ],
)
def test_refinedweb_removes_the_lines_it_names(line):
    block = RefinedWebLineFilter(max_removed_words_ratio=1.0)
    doc = Document("d", f"{PROSE}\n{line}\n{PROSE}")
    assert block.reject(doc) is None
    assert doc.text == f"{PROSE}\n{PROSE}"
    assert block.decisions[0].reason == "refinedweb_lines:lines_removed"


def test_refinedweb_keeps_prose_and_removes_a_page_that_loses_too_much():
    keep = Document("d", f"{PROSE}\nإن شركة NASA أعلنت عن مهمة جديدة إلى القمر هذا العام.\n{PROSE}")
    assert RefinedWebLineFilter().reject(keep) is None and "NASA" in keep.text
    long_boilerplate = " ".join(["اقرأ المزيد"] + ["كلمة"] * 12)  # long: not a short line
    assert RefinedWebLineFilter().removes(long_boilerplate) is False
    page = Document("p", f"{PROSE}\nتسجيل الدخول\nسلة التسوق\n٣ مشاركات")
    reason, share = RefinedWebLineFilter(max_removed_words_ratio=0.05).reject(page)
    assert reason == "refinedweb_lines:removed_words" and share > 0.05
