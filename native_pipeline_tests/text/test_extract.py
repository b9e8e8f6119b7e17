"""Extractor: Arabic pages in, article text out, every removal recorded."""

from __future__ import annotations

import pickle

import pytest

from native_pipeline.text.blocks import Document
from native_pipeline.text.extract import LIBRARIES, Extracted, Extractor, Options

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
    if library == "resiliparse":  # trafilatura only finds titles with its slow metadata pass
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


def test_a_page_over_the_cap_is_removed_unparsed() -> None:
    extractor = Extractor(max_html_bytes=1000)
    small = Document("s", "<html><body><p>" + ARTICLE[0] + "</p></body></html>")
    big = Document("b", "<html><body>" + "<p>نص</p>" * 200 + "</body></html>")
    for doc in (small, big):
        doc.meta["content_type"] = "text/html"
    assert [d.doc_id for d in extractor([small, big])] == ["s"]
    [decision] = extractor.drain()[0]
    assert (decision.doc_id, decision.reason) == ("b", "html_too_large")
