"""Extractor: Arabic pages in, article text out, every removal recorded."""

from __future__ import annotations

import pickle

import pytest

from native_pipeline.text import boilerplate
from native_pipeline.text.blocks import Document
from native_pipeline.text.extract import LIBRARIES, Extracted, Extractor, Options
from native_pipeline.text.extract_score import token_prf

ARTICLE = [
    "أعلنت وزارة التعليم اليوم عن إطلاق برنامج وطني جديد لتطوير مهارات القراءة لدى طلاب "
    "المرحلة الابتدائية، ويشمل البرنامج أكثر من ثلاثة آلاف مدرسة في مختلف المحافظات.",
    "وقال الوزير في مؤتمر صحفي إن البرنامج يعتمد على مكتبات صفية صغيرة وحصص أسبوعية للقراءة "
    "الحرة، إلى جانب تدريب المعلمين على أساليب حديثة في تعليم اللغة العربية.",
    "وأضاف أن الوزارة ستقيس أثر البرنامج عبر اختبارات دورية في نهاية كل فصل دراسي، وستنشر "
    "النتائج للعموم حتى يطلع أولياء الأمور على تقدم أبنائهم.",
    "ورحب عدد من التربويين بالخطوة، مؤكدين أن ضعف القراءة من أكبر التحديات التي تواجه "
    "المدارس، وأن الاستثمار في الكتاب أجدى من أي استثمار آخر في التعليم.",
]
NAV = "الرئيسية أخبار محلية رياضة اقتصاد ثقافة اتصل بنا"
COOKIE = "نستخدم ملفات تعريف الارتباط لتحسين تجربتك على موقعنا. موافق"
AD = "إعلان: احصل على خصم خمسين بالمئة على جميع المنتجات اليوم فقط"
FOOTER = "جميع الحقوق محفوظة لموقع الأخبار اليومية ٢٠٢٤ سياسة الخصوصية شروط الاستخدام"
BOILERPLATE = [NAV, COOKIE, AD, FOOTER]

PAGE = f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head><meta charset="utf-8"><title>برنامج وطني لتطوير القراءة</title>
<style>.ad {{ float: left }}</style><script>var tracker = 1;</script></head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>{COOKIE}</p><button>موافق</button></div>
<header><nav class="menu"><ul>{
    "".join(f'<li><a href="/{i}">{w}</a></li>' for i, w in enumerate(NAV.split()))
}</ul></nav></header>
<aside class="sidebar ad"><div class="advert"><a href="/promo">{AD}</a></div></aside>
<main><article>
<h1>برنامج وطني لتطوير القراءة</h1>
{"".join(f"<p>{p}</p>" for p in ARTICLE)}
</article></main>
<footer class="site-footer"><p>{FOOTER}</p></footer>
</body></html>"""


# An old CMS: the article sits in a layout table, paragraphs split by <br><br>
LEGACY = f"""<html dir="rtl"><head><meta charset="windows-1256"></head><body>
<table width="780"><tr><td class="menu">{" | ".join(NAV.split())}</td></tr>
<tr><td class="text"><font face="Tahoma">{"<br><br>".join(ARTICLE)}</font></td></tr>
<tr><td class="footer">{FOOTER}</td></tr></table></body></html>"""


def _run(block: Extractor, *docs: Document) -> list[Document]:
    return block(list(docs))


def _html(text: str, content_type: str = "text/html") -> Document:
    return Document("d1", text, {"content_type": content_type})


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_article_kept_and_boilerplate_gone(library: str) -> None:
    block = Extractor(library=library)
    [doc] = _run(block, _html(PAGE))
    for paragraph in ARTICLE:
        assert paragraph in doc.text.split("\n")
    for phrase in BOILERPLATE:
        assert phrase not in doc.text
    assert "<" not in doc.text and "tracker" not in doc.text
    if library != "trafilatura":  # trafilatura only finds titles with its slow metadata pass
        assert doc.meta["title"] == "برنامج وطني لتطوير القراءة"
    assert block.decisions == []  # extraction is every page's normal change, not a decision


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_article_in_layout_table_kept(library: str) -> None:
    [doc] = _run(Extractor(library=library), _html(LEGACY))
    words = doc.text.split()
    for paragraph in ARTICLE:
        assert " ".join(paragraph.split()) in " ".join(words)


def test_plain_text_passes_through_unchanged() -> None:
    text = "<p>نص عادي من سجل WET</p>\n\nسطر ثان"
    block = Extractor()
    [doc] = _run(block, _html(text, "text/plain"))
    assert doc.text == text
    assert block.decisions == []


@pytest.mark.parametrize("library", sorted(LIBRARIES))
@pytest.mark.parametrize(
    "html",
    ["", "<html><body></body></html>", "<html><body><script>x()</script></body></html>"],
)
def test_empty_page_removed(library: str, html: str) -> None:
    block = Extractor(library=library)
    assert _run(block, _html(html)) == []
    [decision] = block.decisions
    assert (decision.action, decision.reason) == ("removed", "no_main_text")


def test_library_failure_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(html: str, opts: Options) -> Extracted:
        raise RecursionError("tree too deep")

    monkeypatch.setitem(LIBRARIES, "resiliparse", broken)
    block = Extractor(library="resiliparse")
    assert _run(block, _html(PAGE), _html(PAGE)) == []
    assert [(d.reason, d.detail) for d in block.decisions] == [
        ("extraction_error", "RecursionError")
    ] * 2


def test_other_media_type_removed() -> None:
    block = Extractor()
    assert _run(block, _html("%PDF-1.7", "application/pdf")) == []
    [decision] = block.decisions
    assert (decision.reason, decision.detail) == ("unsupported_content_type", "application/pdf")


def test_batch_keeps_order_and_counts() -> None:
    block = Extractor()
    docs = [
        Document("a", PAGE, {"content_type": "application/xhtml+xml"}),
        Document("b", "", {"content_type": "text/html"}),
        Document("c", "نص", {"content_type": "text/plain"}),
    ]
    assert [d.doc_id for d in block(docs)] == ["a", "c"]
    assert block.stats.docs_in == 3 and block.stats.docs_out == 2
    assert block.stats.reasons == {"no_main_text": 1}


def test_picklable_for_worker_processes() -> None:
    block = pickle.loads(pickle.dumps(Extractor(library="trafilatura", favor="recall")))
    assert (block.library, block.options.favor) == ("trafilatura", "recall")


def test_unknown_library_rejected() -> None:
    with pytest.raises(ValueError, match="unknown library"):
        Extractor(library="boilerpipe")


# ---- Pages where resiliparse alone (the old default) kept boilerplate or lost the article ----
# Each test fails with library="resiliparse": the headlines, similar threads, related products
# or the "about us" box come through, or the article is gone.

TITLE = "افتتاح مستشفى جديد للأطفال في العاصمة"
NEWS = [
    "أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد للأطفال في العاصمة، بطاقة استيعابية تبلغ "
    "ثلاثمئة سرير، وذلك ضمن خطة لتوسيع الخدمات الطبية في المدن الكبرى.",
    "وقال المتحدث باسم الوزارة إن المستشفى مجهز بأحدث الأجهزة الطبية، وإنه سيستقبل المرضى من "
    "مختلف المحافظات ابتداء من الشهر المقبل.",
    "وأضاف أن الوزارة تعمل على تدريب الكوادر التمريضية قبل الافتتاح، وأن عدد العاملين في "
    "المستشفى سيصل إلى ألف موظف في العام الأول.",
]
# Headlines of other articles end in "." like sentences, so C4's line filter keeps them
HEADLINES = [
    "ارتفاع أسعار الذهب في الأسواق المحلية مع نهاية الأسبوع.",
    "المنتخب الوطني يفوز على ضيفه بثلاثة أهداف في مباراة ودية.",
    "انطلاق معرض الكتاب الدولي بمشاركة أكثر من خمسمئة دار نشر.",
    "الأرصاد تتوقع أمطارا غزيرة على المناطق الشمالية غدا.",
    "البنك المركزي يبقي على أسعار الفائدة دون تغيير.",
    "وزير الخارجية يستقبل نظيره الأردني لبحث العلاقات الثنائية.",
]


def _cards(headlines: list[str]) -> str:
    """Teaser cards as many sites write them: the link wraps the card, not the headline text."""
    return "".join(
        f'<a href="/n/{i}"><div class="item"><h3>{h}</h3></div></a>'
        for i, h in enumerate(headlines)
    )


def _page(body: str, title: str = TITLE) -> str:
    return (
        f'<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body>{body}</body></html>"
    )


ARTICLE_WITH_HEADLINES = _page(
    f"<main><h1>{TITLE}</h1>{''.join(f'<p>{p}</p>' for p in NEWS)}"
    f"<section><h2>اقرأ أيضا</h2>{_cards(HEADLINES)}</section></main>"
)

POSTS = [
    "السلام عليكم، عندي سيارة موديل ٢٠١٥ وصار فيها صوت غريب عند التشغيل في الصباح، هل أحد مر "
    "بنفس المشكلة؟",
    "وعليكم السلام، غالبا المشكلة في سير المكينة، غيرته عندي قبل شهرين واختفى الصوت تماما.",
    "أنصحك تروح للوكالة وتفحصها قبل لا تكبر المشكلة، الفحص ما يكلف كثير.",
]
SIMILAR_THREADS = [
    "أفضل زيت محرك للسيارات في الصيف؟",
    "كم تكلفة تغيير سير المكينة عند الوكالة؟",
    "صوت طقطقة من الكفرات عند الدوران، ما السبب؟",
    "هل تنصحون بشراء سيارة مستعملة من المعارض؟",
]
FORUM_THREAD = _page(
    '<div class="navbar"><a href="/">الرئيسية</a> &gt; <a href="/f/3">منتدى السيارات</a></div>'
    + "".join(
        f'<div class="postbit"><div class="userinfo"><a href="/u/{i}">عضو{i}</a><br>'
        f'المشاركات: {100 + i}</div><div class="postbody">{post}'
        f'<div class="signature">__________<br>سبحان الله وبحمده</div></div>'
        f'<div class="postfoot"><a href="/reply/{i}">رد مع اقتباس</a></div></div>'
        for i, post in enumerate(POSTS)
    )
    + '<div class="similar"><h3>مواضيع مشابهة</h3><table>'
    + "".join(
        f'<tr><td><a href="/t/{i}">{t}</a></td><td>عضو{i}</td><td>{i + 3} ردود</td></tr>'
        for i, t in enumerate(SIMILAR_THREADS)
    )
    + "</table></div>",
    title="صوت غريب في السيارة - منتدى السيارات",
)

DESCRIPTION = [
    "غلاية كهربائية من الفولاذ المقاوم للصدأ بسعة لترين، تغلي الماء في أقل من أربع دقائق "
    "وتفصل تلقائيا عند الغليان.",
    "تأتي الغلاية بقاعدة دوارة بزاوية كاملة ومؤشر لمستوى الماء، وهي مناسبة للاستخدام اليومي في "
    "المنزل والمكتب.",
]
RELATED_PRODUCTS = [
    ("مكواة بخار خفيفة", "تنعيم سريع للملابس بضغط بخار قوي."),
    ("محمصة خبز بفتحتين", "سبع درجات للتحميص مع درج للفتات."),
    ("خلاط يدوي متعدد السرعات", "ملحقات للخفق والفرم في علبة واحدة."),
    ("ماكينة قهوة صغيرة", "تحضر فنجانا كاملا في دقيقة واحدة."),
]
PRODUCT_PAGE = _page(
    '<div class="breadcrumb"><a href="/">الرئيسية</a> / <a href="/kitchen">أجهزة المطبخ</a></div>'
    '<main><h1>غلاية كهربائية ٢ لتر</h1><div class="price">١٤٩ ريال</div>'
    f"<button>أضف إلى السلة</button><h2>وصف المنتج</h2>"
    f"{''.join(f'<p>{d}</p>' for d in DESCRIPTION)}"
    "<table><tr><td>السعة</td><td>٢ لتر</td></tr><tr><td>القدرة</td><td>٢٢٠٠ واط</td></tr></table>"
    "<section><h2>منتجات قد تعجبك</h2>"
    + "".join(
        f'<a href="/p/{i}"><div class="tile"><h4>{name}</h4><p>{pitch}</p>'
        f"<span>{99 + i} ريال</span></div></a>"
        for i, (name, pitch) in enumerate(RELATED_PRODUCTS)
    )
    + "</section></main>",
    title="غلاية كهربائية ٢ لتر",
)

BRIEF = (
    "أعلنت بلدية المدينة إغلاق شارع الجامعة يوم الجمعة المقبل من الساعة الثامنة صباحا حتى "
    "الظهر، لإجراء أعمال صيانة في شبكة المياه، ودعت السائقين إلى استخدام الطرق البديلة."
)
ABOUT_US = (
    "جريدة المدينة صحيفة يومية مستقلة تأسست عام ألف وتسعمئة وخمسة وتسعين، وتهتم بأخبار المدينة "
    "والمحافظات المجاورة، ويعمل فيها فريق من الصحفيين والمراسلين في مختلف المناطق، وتصدر "
    "نسختها الورقية كل صباح إلى جانب موقعها الإلكتروني."
)
# The article is shorter than the site's "about us" box, which is prose too
SHORT_ARTICLE = _page(
    '<div class="wrap"><div class="story"><h1>إغلاق شارع الجامعة يوم الجمعة</h1>'
    f'<div class="date">الخميس ١٢ مارس</div><p>{BRIEF}</p></div>'
    f'<div class="latest"><h2>آخر الأخبار</h2>{_cards(HEADLINES)}</div>'
    f'<div class="about"><h3>من نحن</h3><p>{ABOUT_US}</p></div></div>',
    title="إغلاق شارع الجامعة",
)

# resiliparse's class rules drop the element holding the article ("print-" is a print box)
ARTICLE_IN_DROPPED_ELEMENT = _page(
    f'<div class="wrap"><div class="x"><div class="print-area"><h1>{TITLE}</h1>'
    f"{''.join(f'<p>{p}</p>' for p in NEWS)}</div></div></div>"
    '<div class="foot"><a href="/">الرئيسية</a></div>'
)

# A site's hub page: an introduction, then linked titles each with a sentence about it.
# resiliparse's main-content pass reads the list as navigation and keeps the introduction only.
GUIDES = [
    (
        "دليل الكتابة من اليمين إلى اليسار",
        "كيف تعرض الصفحة النصوص العربية والعبرية في اتجاهها الصحيح؟",
    ),
    ("ترميز الحروف", "ما الترميز الذي نختاره للصفحات، ولماذا يوصى باستخدام الترميز الموحد؟"),
    ("اللغة في الصفحات", "كيف نصرح بلغة المحتوى حتى تختار المتصفحات الخطوط والقواعد المناسبة له؟"),
    ("الأسماء الشخصية", "كيف تختلف الأسماء بين البلدان، وما أثر ذلك على تصميم الاستمارات؟"),
    ("التواريخ والأوقات", "ما المفاهيم التي يحتاجها من يتعامل مع المناطق الزمنية في التطبيقات؟"),
    ("حجم النصوص", "لماذا تحتاج النصوص المترجمة إلى مساحة أكبر من النص الأصلي في التصميم؟"),
    ("الخطوط العربية", "كيف نختار خطا يعرض الحروف العربية وعلامات التشكيل بوضوح على الشاشات؟"),
    ("الأرقام", "متى نكتب الأرقام العربية ومتى نكتب الأرقام الهندية في الصفحات العربية؟"),
    ("القوائم المنسدلة", "كيف نعرض قائمة اللغات حتى يجد كل زائر لغته بسهولة في الموقع؟"),
]
HUB_INTRO = "موارد لمن يبدأ في تدويل مواقع الويب، مرتبة من المفاهيم إلى التطبيق."
HUB_PAGE = _page(
    f'<div class="main"><h1>دليل البداية في التدويل</h1><p>{HUB_INTRO}</p><ul>'
    + "".join(f'<li><a href="/g/{i}">{t}</a><br>{d}</li>' for i, (t, d) in enumerate(GUIDES))
    + "</ul></div>",
    title="دليل البداية في التدويل",
)

# Related stories as a WordPress news theme writes them (JNews on elbaladtv.net, 2020): a linked
# heading, a linked date, a pitch in prose and a "read more" link per story, in plain <div>s
# that resiliparse's class rules keep. The pitches are prose, so they split the headings into
# runs too short to be a headline list.
RELATED_STORIES = [
    (
        "ارتفاع أسعار الذهب في الأسواق المحلية مع نهاية الأسبوع",
        "شهدت أسعار الذهب في الأسواق المحلية ارتفاعا ملحوظا مع نهاية تعاملات الأسبوع، وسط إقبال "
        "من المواطنين على الشراء قبل موسم الأعياد",
    ),
    (
        "المنتخب الوطني يفوز على ضيفه بثلاثة أهداف في مباراة ودية",
        "حقق المنتخب الوطني فوزا كبيرا على ضيفه في المباراة الودية التي أقيمت مساء أمس على الملعب "
        "الرئيسي في العاصمة أمام جمهور غفير",
    ),
    (
        "انطلاق معرض الكتاب الدولي بمشاركة أكثر من خمسمئة دار نشر",
        "انطلقت اليوم فعاليات معرض الكتاب الدولي في دورته الجديدة، بمشاركة واسعة من دور النشر "
        "العربية والأجنبية وبرنامج ثقافي حافل",
    ),
    (
        "الأرصاد تتوقع أمطارا غزيرة على المناطق الشمالية غدا",
        "توقعت هيئة الأرصاد الجوية أن تشهد المناطق الشمالية أمطارا غزيرة خلال الساعات المقبلة، "
        "ودعت المواطنين إلى توخي الحذر على الطرق",
    ),
]
ARTICLE_WITH_RELATED_STORIES = _page(
    '<div class="jeg_header"><a href="/">الرئيسية</a><a href="/news">أخبار</a></div>'
    f'<div class="jeg_main"><div class="entry-header"><h1 class="jeg_post_title">{TITLE}</h1>'
    f'</div><div class="content-inner">{"".join(f"<p>{p}</p>" for p in NEWS)}</div>'
    '<div class="box"><div class="boxTitle"><h3><span>أخبار ذات صلة</span></h3></div>'
    + "".join(
        f'<div class="item"><div class="img"><a href="/p/{i}"><div class="thumb"></div></a></div>'
        f'<div class="body"><h3 class="t"><a href="/p/{i}">{headline}</a></h3>'
        f'<div class="m"><div class="d"><a href="/p/{i}">ديسمبر 25, 2020</a></div></div>'
        f'<div class="txt"><p>{pitch}</p><a href="/p/{i}" class="btn">اقرأ المزيد</a></div>'
        "</div></div>"
        for i, (headline, pitch) in enumerate(RELATED_STORIES)
    )
    + "</div></div>"
)


def _extract(html: str) -> str:
    [doc] = _run(Extractor(library="scored"), _html(html))
    return doc.text


def test_headline_cards_beside_an_article_dropped() -> None:
    text = _extract(ARTICLE_WITH_HEADLINES)
    assert token_prf(text, "\n".join([TITLE, *NEWS])) == (1.0, 1.0, 1.0)


def test_forum_thread_keeps_posts_not_similar_threads() -> None:
    lines = _extract(FORUM_THREAD).split("\n")
    assert all(post in lines for post in POSTS)
    assert not any(thread in line for thread in SIMILAR_THREADS for line in lines)


def test_product_page_keeps_description_not_related_products() -> None:
    text = _extract(PRODUCT_PAGE)
    assert all(d in text.split("\n") for d in DESCRIPTION)
    assert not any(pitch in text for _, pitch in RELATED_PRODUCTS)


def test_short_article_chosen_over_longer_boilerplate_prose() -> None:
    text = _extract(SHORT_ARTICLE)
    assert BRIEF in text.split("\n")
    assert ABOUT_US not in text and not any(h in text for h in HEADLINES)


def test_article_found_when_main_content_pass_drops_it() -> None:
    text = _extract(ARTICLE_IN_DROPPED_ELEMENT)
    assert token_prf(text, "\n".join(NEWS))[1] == 1.0


def test_related_stories_with_prose_pitches_dropped() -> None:
    text = _extract(ARTICLE_WITH_RELATED_STORIES)
    assert token_prf(text, "\n".join([TITLE, *NEWS])) == (1.0, 1.0, 1.0)


def test_one_read_also_link_before_a_paragraph_keeps_the_paragraph() -> None:
    weights = boilerplate.Weights()
    read_also = "".join(f'<h3><a href="/n/{i}">{h}</a></h3>\n' for i, h in enumerate(HEADLINES))
    page = boilerplate.blocks(f"<p>{NEWS[0]}</p>\n{read_also}<p>{NEWS[1]}</p>\n<p>{NEWS[2]}</p>")
    links = [boilerplate.is_link_block(b, weights) for b in page]
    prose = [
        not link and boilerplate.is_prose(b, weights) for b, link in zip(page, links, strict=True)
    ]
    listed = boilerplate.headline_lists(page, prose, links, weights)
    assert listed == set(range(1, 1 + len(HEADLINES)))  # the headlines, not the paragraphs


def test_talk_page_headings_that_name_a_page_keep_their_messages() -> None:
    """A user talk page's bot notices: a heading that holds a link ("speedy deletion of <the
    page>"), then one paragraph, again and again. Those headings are not other pages' titles."""
    weights = boilerplate.Weights()
    notices = "\n".join(
        f'<h2>إشعار بشأن <a href="/wiki/{i}">{h}</a></h2>\n<p>{NEWS[i % 3]}</p>'
        for i, h in enumerate(HEADLINES[:4])
    )
    page = boilerplate.blocks(notices)
    links = [boilerplate.is_link_block(b, weights) for b in page]
    prose = [
        not link and boilerplate.is_prose(b, weights) for b, link in zip(page, links, strict=True)
    ]
    listed = boilerplate.headline_lists(page, prose, links, weights)
    assert not listed & {i for i, is_prose in enumerate(prose) if is_prose}


def test_trafilatura_switch_keeps_the_forum_posts_as_trafilatura_does() -> None:
    """The switch asks trafilatura for what its own defaults give (comments aside): with
    favor_precision it returned only the similar-threads table of this thread."""
    [doc] = _run(Extractor(library="trafilatura"), _html(FORUM_THREAD))
    lines = doc.text.split("\n")
    assert all(post in lines for post in POSTS)


def test_hub_page_keeps_the_descriptions_of_its_links() -> None:
    lines = _extract(HUB_PAGE).split("\n")
    assert HUB_INTRO in lines
    assert all(description in lines for _, description in GUIDES)


# ---- The block scorer's parts ----


def test_link_density_counts_links_that_wrap_blocks() -> None:
    marked = (
        '<p>نص <a href="/a">رابط واحد</a> في فقرة</p>\n'
        '<a href="/b">\n'  # resiliparse writes a card's link with no end tag after its text
        "<h3>عنوان خبر آخر.</h3>\n"
        "<p>فقرة بلا روابط.</p>"
    )
    inline, wrapped, plain = boilerplate.blocks(marked)
    assert 0.3 < inline.link_density < 0.7 and inline.tag == "p"
    assert wrapped.link_density == 1.0 and wrapped.tag == "h3"
    assert plain.link_density == 0.0 and plain.ends_sentence


def test_subheadings_between_paragraphs_are_not_a_headline_list() -> None:
    weights = boilerplate.Weights()
    paragraph = f"<p>{NEWS[0]}</p>"
    article = boilerplate.blocks(
        "\n".join(["<h2>أولا</h2>", paragraph, "<h2>ثانيا</h2>", paragraph])
    )
    listing = boilerplate.blocks("\n".join(f"<h3>{h}</h3>" for h in HEADLINES))
    prose_article = [boilerplate.is_prose(b, weights) for b in article]
    assert boilerplate.headline_lists(article, prose_article, [False] * 4, weights) == set()
    n = len(listing)
    assert boilerplate.headline_lists(listing, [False] * n, [False] * n, weights) == set(range(n))


def test_usernames_and_buttons_between_short_posts_are_not_a_headline_list() -> None:
    weights = boilerplate.Weights()
    thread = boilerplate.blocks(
        "\n".join(
            f'<a href="/u/{i}">عضو{i}</a>\n{post}\n<a href="/r">رد مع اقتباس</a>'
            for i, post in enumerate(POSTS)
        )
    )
    links = [boilerplate.is_link_block(b, weights) for b in thread]
    assert boilerplate.headline_lists(thread, [False] * len(thread), links, weights) == set()


def test_main_region_is_the_best_run_net_of_navigation() -> None:
    # article (10 + 20), a short menu between (-5), a long link list (-40), a sidebar teaser (15)
    assert boilerplate.main_region([10.0, -5.0, 20.0, -40.0, 15.0]) == (0, 3, 25.0)
    assert boilerplate.main_region([-3.0, 0.0]) == (0, 0, 0.0)


def test_token_f1_counts_arabic_words_as_bags() -> None:
    gold = "قال الوزير إن الخطة جاهزة، وإن التنفيذ يبدأ غدا."
    assert token_prf(gold, gold) == (1.0, 1.0, 1.0)
    assert token_prf("", gold) == (0.0, 0.0, 0.0)
    # order, line breaks, punctuation and Latin text do not count; repeated words do
    assert token_prf("غدا يبدأ التنفيذ\nوإن جاهزة الخطة إن الوزير قال (AFP)", gold) == (1.0,) * 3
    precision, recall, f1 = token_prf("قال الوزير قال الوزير", gold)
    assert (precision, recall) == (0.5, 2 / 9) and abs(
        f1 - 2 * 0.5 * (2 / 9) / (0.5 + 2 / 9)
    ) < 1e-12


def test_a_page_over_the_cap_is_removed_unparsed() -> None:
    extractor = Extractor(max_html_bytes=1000)
    small = Document("s", "<html><body><p>" + ARTICLE[0] + "</p></body></html>")
    big = Document("b", "<html><body>" + "<p>نص</p>" * 200 + "</body></html>")
    for doc in (small, big):
        doc.meta["content_type"] = "text/html"
    assert [d.doc_id for d in extractor([small, big])] == ["s"]
    [decision] = extractor.drain()[0]
    assert (decision.doc_id, decision.reason) == ("b", "html_too_large")
