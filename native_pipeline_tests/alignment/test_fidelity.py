"""Knowledge preservation: each fidelity check on Arabic rewrites that keep and that change what
the text says."""

from __future__ import annotations

from collections import Counter

from native_pipeline.alignment.conduct import wrap
from native_pipeline.alignment.fidelity import compare, number_value, numbers
from native_pipeline.alignment.lexicon import stem
from native_pipeline.alignment.validate import Candidate, Limits, review

NEWS = (
    "ارتفع المؤشر العام لبورصة عمّان بنسبة 2.3 % في ختام تداولات يوم الأحد.\n"
    "وقال وزير المالية خالد الحمدان إن الاجتماع سيعقد في الرياض يوم 12 مايو المقبل.\n"
    "وبلغ حجم التداول 1,500 مليون دينار، بزيادة ثلاثة بالمئة عن الأسبوع الماضي.\n"
    "وأكد الخبراء أن الأسواق الخليجية تشهد تحسنا ملحوظا منذ بداية العام."
)
AD = "اشترك الآن في النشرة البريدية"
HARMFUL = "يا حقير يا تافه، أنت أوسخ عضو في هذا المكان، وجهك مقرف ولا أحد يطيقك."
QURAN = "قال تعالى: ﴿وَقُل رَّبِّ زِدْنِي عِلْمًا﴾ وهذه دعوة إلى طلب العلم في كل حين."
SPEECH = "وصرح المدير قائلا: «سنفتتح الفرع الجديد قبل نهاية الصيف» أمام الصحفيين."


def _review(original: str, rewrite: str, harmful: frozenset[str] = frozenset()):
    return review(Candidate(original, wrap(rewrite), "ar", harmful=harmful), Limits())


def _reason(original: str, rewrite: str, harmful: frozenset[str] = frozenset()) -> str:
    return _review(original, rewrite, harmful)[0]


def test_numbers_are_read_in_any_script_and_spelling():
    assert number_value("١٬٥٠٠") == number_value("1,500") == "1500"
    assert number_value("٢٫٣") == number_value("2,30") == number_value("2.3") == "2.3"
    assert numbers("في عام ٢٠٢٤ شارك ثلاثة فرق") == numbers("في عام 2024 شارك 3 فرق")
    assert numbers("الساعة 10:30") == Counter({"10": 1, "30": 1})
    assert stem("وبالرياض") == stem("الرياض") == stem("والرياض")


def test_faithful_rewrites_pass():
    # punctuation, spacing and a paragraph re-wrapped
    fixed = NEWS.replace(" %", "%").replace("\n", " ").replace("دينار،", "دينار ,")
    assert _reason(NEWS, fixed) == "valid"
    # Arabic-Indic digits and a number word written as a digit
    indic = NEWS.replace("2.3", "٢٫٣").replace("12", "١٢").replace("ثلاثة", "3")
    assert _reason(NEWS, indic) == "valid"
    # an ad line removed
    assert _reason(f"{NEWS}\n{AD}", NEWS) == "valid"
    # a harmful sentence removed, or replaced by a neutral one, once the scorer flagged it
    harmful = f"{NEWS}\n{HARMFUL}"
    flagged = frozenset({HARMFUL})
    assert _reason(harmful, NEWS, flagged) == "valid"
    # a harmful sentence edited in place keeps its facts
    edited = f"{NEWS}\n{HARMFUL.replace('يا حقير يا تافه، ', '')} في 3 مايو"
    assert _reason(edited + " عام 2020", edited, frozenset({edited + " عام 2020"})) != "valid"
    neutral = f"{NEWS}\nأرجو أن نحافظ على الاحترام المتبادل في النقاش بين الأعضاء جميعا."
    assert _reason(harmful, neutral, flagged) == "valid"
    # the scorer may flag a comment only as a whole line, not sentence by sentence
    comment = "أنت إنسان فاشل. . لا أحد يحترمك هنا. اخرج من المنتدى."
    assert _reason(f"{NEWS}\n{comment}", NEWS, frozenset({comment})) == "valid"
    # but a flagged paragraph does not excuse dropping a sentence of it that stays unflagged
    paragraph = NEWS.replace("\n", " ") + " " + comment
    kept_comment = NEWS.replace("\n", " ") + " " + comment.split(". ", 1)[1]
    assert _reason(paragraph, kept_comment, frozenset({paragraph})) != "valid"
    # a function word edited
    assert _reason(NEWS, NEWS.replace("منذ بداية", "من بداية")) == "valid"


def test_a_changed_number_date_or_amount_is_rejected():
    assert _reason(NEWS, NEWS.replace("2.3", "3.2")) == "numbers_changed"
    assert _reason(NEWS, NEWS.replace("12 مايو", "13 مايو")) == "numbers_changed"
    assert _reason(NEWS, NEWS.replace("1,500", "1,600")) == "numbers_changed"
    assert _reason(NEWS, NEWS.replace("ثلاثة", "أربعة")) == "numbers_changed"
    assert _reason(NEWS, NEWS.replace("ثلاثة بالمئة", "بالمئة")) == "numbers_changed"


def test_a_replaced_name_or_place_is_rejected_and_counted():
    reason, fidelity = _review(NEWS, NEWS.replace("الرياض", "جدة"))
    assert reason == "names_lost"
    assert fidelity is not None and fidelity.names_kept < 1 and fidelity.new_names == 1
    assert _reason(NEWS, NEWS.replace("خالد الحمدان", "سعيد الحمدان")) == "names_lost"
    assert _reason(NEWS, NEWS.replace("مايو", "يونيو")) == "numbers_changed"  # a date
    # a name said twice and changed once; a number said twice and changed once
    twice = "زار الوفد الرياض يوم 5 مارس، وبقي في الرياض حتى يوم 5 أبريل من العام الماضي."
    assert _reason(twice, twice.replace("الرياض", "جدة", 1)) == "names_lost"
    assert _reason(twice, twice.replace("5", "6", 1)) == "numbers_changed"


def test_a_quotation_is_kept_character_for_character():
    assert _reason(QURAN, QURAN.replace("﴿", "﴿ ")) == "valid"  # whitespace only
    assert _reason(QURAN, QURAN.replace("عِلْمًا", "علما")) == "quote_changed"
    assert _reason(SPEECH, SPEECH.replace("الجديد", "الجديدة")) == "quote_changed"
    assert _reason(SPEECH, SPEECH.replace("«", '"').replace("»", '"')) == "valid"
    # punctuation fixed inside reported speech is allowed, a word changed is not
    assert _reason(SPEECH, SPEECH.replace("الجديد", "الجديد ,")) == "valid"
    assert _reason(QURAN, QURAN.replace("زِدْنِي", "زدني")) == "quote_changed"


def test_a_dropped_sentence_needs_a_reason():
    lines = NEWS.split("\n")
    dropped = "\n".join(lines[:3])  # the last sentence, with no number and no name of its own
    reason, fidelity = _review(NEWS, dropped)
    assert reason in {"sentence_dropped", "names_lost"}
    assert fidelity is not None and fidelity.dropped == 1
    # the same sentence removed because the scorer found it harmful is allowed
    assert _reason(NEWS, dropped, frozenset({lines[3]})) == "valid"
    long = NEWS + "\nوتوقع المحللون أن تستمر موجة الصعود خلال الأسابيع القادمة."
    assert _review(long, NEWS)[1].dropped == 1  # type: ignore[union-attr]


def test_a_summary_is_rejected_even_within_the_length_bounds():
    # the first sentence kept, the rest summed up in words of its own: within 0.5-2x of the length
    summary = (
        "ارتفع المؤشر العام لبورصة عمّان بنسبة 2.3 % في ختام تداولات يوم الأحد.\n"
        "وتحدث الوزير عن اجتماع قادم في الشهر المقبل وعن أرقام التداول في الأسبوع الماضي"
        " وعن تحسن الأسواق في المنطقة كلها منذ بداية العام."
    )
    assert len(summary) / len(NEWS) > Limits().length_ratio_min
    reason, fidelity = _review(NEWS, summary)
    assert reason == "numbers_changed"  # the first check it fails; each of the others fails too
    assert fidelity is not None and fidelity.dropped == 3
    no_numbers = "\n".join(line for line in NEWS.split("\n") if not any(c.isdigit() for c in line))
    assert compare(no_numbers, summary.split("\n")[1]).check(Limits()).reason == "names_lost"
    lenient = Limits(names_lost_max=100, new_names_max=100)
    assert compare(NEWS.replace("2.3 % ", ""), summary.replace("2.3 % ", "")).check(
        lenient
    ).reason in {"numbers_changed", "summarised"}


def test_invented_content_is_rejected():
    invented = NEWS + "\nوأعلنت الحكومة عن خطة جديدة لدعم المشاريع الصغيرة والمتوسطة في المحافظات."
    assert _reason(NEWS, invented) in {"content_added", "names_added"}
    # a few new names in a short insertion
    named = NEWS.replace("وأكد الخبراء", "وأكد الخبراء البريطانيون والكنديون والهولنديون")
    assert _reason(NEWS, named) == "names_added"


def test_a_faithful_rewrite_asks_the_harm_scorer_nothing():
    assert compare(NEWS, NEWS.replace("\n", " ")).questioned == []
    assert compare(f"{NEWS}\n{AD}", NEWS).questioned == []  # furniture needs no score
    assert compare(f"{NEWS}\n{HARMFUL}", NEWS).questioned == [HARMFUL]


# Rewrites of one real-style news sentence, each the way a polisher or a faulty worker edits.
REPORT = (
    "وقال المتحدث باسم الدفاع المدني إن الحريق اندلع قبل منتصف الليل في مستودع بالرياض.\n"
    "وأصيب 12 شخصا على بعد 40 كيلومترا من موقع الحريق، ولم يتم تسجيل أي وفيات.\n"
    "وارتفع عدد الفرق المشاركة في عمليات الإطفاء إلى خمس فرق بعدما امتدت النيران."
)


def test_polishing_passes():
    # a verb of saying swapped for a synonym, a connective paraphrased
    assert _reason(REPORT, REPORT.replace("وقال", "وذكر")) == "valid"
    assert _reason(REPORT, REPORT.replace("بعدما", "بعد أن")) == "valid"
    # two sentences in the other order, a clause put first
    a, b, c = REPORT.split("\n")
    assert _reason(REPORT, "\n".join([b, a, c])) == "valid"
    moved = b.replace("وأصيب 12 شخصا على بعد 40 كيلومترا من موقع الحريق، ", "")
    assert _reason(REPORT, f"{a}\nعلى بعد 40 كيلومترا من موقع الحريق أصيب 12 شخصا، {moved}\n{c}")
    # "غير أن" is "however", not a negation
    assert _reason(REPORT, REPORT.replace("ولم يتم", "غير أنه لم يتم")) == "valid"


def test_a_negation_added_or_removed_is_rejected():
    assert _reason(REPORT, REPORT.replace("وقال", "وما قال")) == "negation_changed"
    assert _reason(REPORT, REPORT.replace("ولم يتم تسجيل", "وتم تسجيل")) == "negation_changed"
    # the joined conjunction is cut: "ولا" is "لا"
    assert stem("ولا") == stem("لا") and stem("فلم") == stem("لم")
    plain = "ويمكن للسكان العودة إلى منازلهم مساء اليوم."
    assert _reason(plain, plain.replace("ويمكن", "ولا يمكن")) == "negation_changed"


def test_a_relation_word_swapped_is_rejected():
    assert _reason(REPORT, REPORT.replace("قبل منتصف", "بعد منتصف")) == "relation_changed"
    assert _reason(REPORT, REPORT.replace("وارتفع", "وانخفض")) == "relation_changed"


def test_numbers_or_names_that_trade_places_are_rejected():
    swapped = REPORT.replace("12 شخصا", "X شخصا").replace("40 كيلومترا", "12 كيلومترا")
    assert _reason(REPORT, swapped.replace("X", "40")) == "transposed"
    places = "وتمتد الرحلة من الرياض إلى الدمام عبر طريق سريع طوله 400 كيلومتر."
    back = places.replace("الرياض", "X").replace("الدمام", "الرياض").replace("X", "الدمام")
    assert _reason(places, back) == "transposed"


def test_common_words_may_be_swapped_within_the_budget_only():
    heavy = REPORT.replace("وقال", "وذكر").replace("اندلع", "شب").replace("مستودع", "مخزن")
    heavy = heavy.replace("المشاركة", "العاملة").replace("عمليات", "أعمال")
    assert _reason(REPORT, heavy) == "valid"
    tight = Limits(synonyms_max=1)
    assert _review(REPORT, heavy)[1].synonyms >= 4  # type: ignore[union-attr]
    assert review(Candidate(REPORT, wrap(heavy), "ar"), tight)[0] == "reworded"


def test_an_invented_clause_is_rejected():
    clause = REPORT.replace("من موقع الحريق،", "من موقع الحريق في ظروف غامضة،")
    assert _reason(REPORT, clause) == "content_added"


def test_speech_may_change_its_digits_and_vowels_scripture_may_not():
    speech = "وقال الوزير: «سنفتتح 3 مدارس جديدة في عام 2025» أمام الصحفيين."
    assert _reason(speech, speech.replace("3", "٣").replace("2025", "٢٠٢٥")) == "valid"
    voweled = speech.replace("سنفتتح", "سَنَفْتَتِحُ")
    assert _reason(voweled, speech) == "valid"
    assert _reason(speech, speech.replace("مدارس", "مستشفيات")) == "quote_changed"
    assert _reason(QURAN, QURAN.replace("رَّبِّ", "رب")) == "quote_changed"


def test_boilerplate_goes_by_what_the_line_is_not_by_a_word():
    for line in ("رابط القصة في ويكي الأخبار", "للمزيد: حريق في مستودع", "اقرأ أيضا: الطقس"):
        assert _reason(f"{REPORT}\n{line}", REPORT) == "valid"
    # a news sentence that mentions an announcement is news: dropping it is a lost fact
    news = "وجاء إعلان الوزارة بعد اجتماع طارئ عقده 30 مسؤولا في مقر الحكومة بالرياض."
    assert _reason(f"{REPORT}\n{news}", REPORT) != "valid"


def test_ali_is_a_name_where_the_text_tells_its_yeh_from_alef_maqsura():
    # fold makes "علي" (Ali) of "على" (on); a text that writes ى elsewhere means the name
    text = "وتولى محمد علي باشا حكم مصر عام 1805 بعد خروج الفرنسيين منها."
    assert _reason(text, text.replace("محمد علي", "علي محمد")) == "transposed"
    assert _reason(text, text.replace("علي", "رضا")) == "names_lost"
    # the name is kept when the rewrite fixes the spelling around it, or writes no ى at all
    assert _reason(text, text.replace("وتولى", "وتولّى")) == "valid"
    assert _reason(text, text.replace("وتولى", "وتولي")) == "valid"


def test_a_name_and_a_preposition_that_trade_places_are_rejected():
    # a text that writes every ى as ي: its "علي" is the preposition, and a name put in its place
    text = "استولي الجيش علي دمياط في الصيف ثم زحف نحو المنصورة في الخريف."
    swapped = text.replace("علي دمياط", "المنصورة دمياط").replace("نحو المنصورة", "نحو علي")
    assert _reason(text, swapped) == "transposed"


def test_a_name_said_twice_keeps_each_of_its_roles_once():
    # the second "أحمد" still stands before "يحيى": the first, moved, may not borrow its role
    text = (
        "ووصل العائد من العراق أحمد بن يحيى إلى صنعاء في الربيع.\n"
        "وبعد فشل الحركة أعدم أحمد يحيى الثلايا في ساحة المدينة."
    )
    swapped = text.replace("العراق أحمد", "أحمد العراق")
    assert _reason(text, swapped) == "transposed"
