"""Main-text extraction: decoded HTML in, the page's article text out.

Three extractors sit behind one dict so the config can switch between them: resiliparse
alone, resiliparse followed by Arabic-aware block scoring (`text/boilerplate.py`), and
trafilatura; see docs/benchmarks/extraction.md for why the default is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree
from trafilatura import bare_extraction

from native_pipeline.text import boilerplate
from native_pipeline.text.blocks import AtLeastOne, Block, Document
from native_pipeline.text.warc import HTML_TYPES, TEXT_TYPES

FAVORS = ("precision", "balanced", "recall")


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    title: str | None


@dataclass(frozen=True, slots=True)
class Options:
    """What each library is asked for; options of the other library are ignored."""

    # trafilatura: one of FAVORS. Its own default, "balanced": "precision" also turns off the
    # retry with recall settings of a short extract, and lost whole articles and forum posts
    # (docs/benchmarks/extraction.md)
    favor: str = "balanced"
    include_tables: bool = True  # trafilatura: old Arabic CMSs and forums put articles in tables
    fast: bool = False  # trafilatura: skip the readability/jusText fallbacks
    main_content: bool = True  # resiliparse: drop nav, footers, sidebars by heuristics


def _paragraphs(text: str) -> str:
    """One paragraph a line: strip lines and drop the blank ones both libraries emit."""
    return "\n".join(line for line in (ln.strip() for ln in text.splitlines()) if line)


def _resiliparse(html: str, opts: Options) -> Extracted:
    tree = HTMLTree.parse(html)
    text = extract_plain_text(
        tree,
        preserve_formatting=True,
        main_content=opts.main_content,
        list_bullets=False,  # bullets are not text the page's author wrote
        alt_texts=False,  # image captions in alt attributes are mostly file names or SEO
        comments=False,  # reader comments are not the article
    )
    title = tree.title.strip() if tree.title else None
    return Extracted(_paragraphs(text), title or None)


def _scored(html: str, opts: Options) -> Extracted:
    tree = HTMLTree.parse(html)
    title = tree.title.strip() if tree.title else None
    return Extracted(boilerplate.extract(tree, boilerplate.Weights()), title or None)


def _trafilatura(html: str, opts: Options) -> Extracted:
    doc = bare_extraction(
        html,
        favor_precision=opts.favor == "precision",
        favor_recall=opts.favor == "recall",
        fast=opts.fast,
        include_comments=False,  # trafilatura's default is True: comments are not the page's text
        include_tables=opts.include_tables,
        # dedup off: trafilatura's cache is per process, so results would depend on batching
        deduplicate=False,
        # no title: with_metadata would also run date/author extraction, 2.5x slower per page
    )
    return Extracted(_paragraphs(doc.text or "") if doc else "", None)


LIBRARIES: dict[str, Callable[[str, Options], Extracted]] = {
    "resiliparse": _resiliparse,
    "scored": _scored,
    "trafilatura": _trafilatura,
}


class Extractor(Block):
    """Replace a page's HTML with its main text; text/plain records pass through unchanged.

    Pages with no main text, pages the library fails on, pages over `max_html_bytes` (what a
    parser may be handed at most) and records of another media type are removed with a reason,
    so nothing is lost silently.
    """

    name = "extract"

    def __init__(
        self,
        library: str = "scored",
        favor: str = "balanced",
        include_tables: bool = True,
        fast: bool = False,
        main_content: bool = True,
        max_html_bytes: AtLeastOne = 4 << 20,
    ) -> None:
        super().__init__()
        if library not in LIBRARIES:
            raise ValueError(f"unknown library {library!r}; choose from {sorted(LIBRARIES)}")
        if favor not in FAVORS:
            raise ValueError(f"favor must be one of {FAVORS}, not {favor!r}")
        self.library = library
        self.options = Options(favor, include_tables, fast, main_content)
        self.max_html_bytes = max_html_bytes

    def process(self, docs: list[Document]) -> list[Document]:
        return [doc for doc in docs if self._extract(doc)]

    def _extract(self, doc: Document) -> bool:
        """Extract in place; return whether the document is kept."""
        media_type = doc.meta.get("content_type", "")  # the reader's media type, no parameters
        if media_type in TEXT_TYPES:
            return True
        if media_type not in HTML_TYPES:
            self.remove(doc, "unsupported_content_type", detail=media_type or None)
            return False
        # Characters bound the UTF-8 size from below: encode only the pages that might be over.
        if len(doc.text) * 4 > self.max_html_bytes:
            size = len(doc.text.encode("utf-8", "surrogatepass"))
            if size > self.max_html_bytes:
                self.remove(doc, "html_too_large", float(size), f"over {self.max_html_bytes} bytes")
                return False
        try:
            extracted = LIBRARIES[self.library](doc.text, self.options)
        except Exception as exc:  # a library bug on one page must not stop the batch
            self.remove(doc, "extraction_error", detail=type(exc).__name__)
            return False
        if not extracted.text:
            self.remove(doc, "no_main_text")
            return False
        doc.text = extracted.text
        if extracted.title:
            doc.meta["title"] = extracted.title
        return True
