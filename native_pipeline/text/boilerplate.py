"""Arabic-aware boilerplate scoring on top of resiliparse's main-content pass.

resiliparse's `main_content` drops elements by tag, class and id, but an Arabic news page's
"most read" list, related headlines and teaser boxes often sit in elements it whitelists
(a class holding "content" or "post"), and its headlines end in "." so C4's line filter keeps
them too. So resiliparse is asked for minimal HTML (paragraphs, headings, list items and links
kept), the output is cut into blocks, each block is scored, and the page's main region is the
run of blocks with the most article text in it (boilerpipe's and jusText's idea, with Arabic
features):

- link density: the share of a block's letters inside links (headline lists are all links);
- Arabic text density: Arabic letters per block;
- stop-word share: running prose carries function words, headlines and menus few;
- sentence punctuation: prose ends sentences, menus and bylines do not.

When the main-content pass leaves no article (resiliparse sometimes drops the element that
holds it), the whole page is scored instead.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from native_pipeline.text.normalize import fold, words
from native_pipeline.text.quality import ARABIC_STOP_WORDS, TERMINAL_PUNCTUATION

_ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0660-\u0669\u066E-\u06D3\u06FA-\u06FF]")
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.S)
_BLOCK_TAG = re.compile(r"^\s*<(h[1-6]|li|p)>")
_BR = re.compile(r"<br>")
_CLOSERS = "\"'»”’)]"


@dataclass(frozen=True, slots=True)
class Weights:
    """Thresholds of the block scorer; docs/benchmarks/extraction.md says how they were set."""

    max_link_density: float = 0.5  # a block with more of its letters in links is navigation
    min_prose_words: int = 10  # fewer words: a heading, byline or button, not a paragraph
    min_stop_share: float = 0.08  # prose: at least this share of function words
    link_penalty: float = 1.0  # cost of crossing a link block, in article words per linked word
    max_link_penalty: float = (
        40.0  # ...capped so an inline "read also" list does not split an article
    )
    min_region_words: int = 20  # less article text than this: score the whole page instead


@dataclass(slots=True)
class TextBlock:
    tag: str  # "p", "h1".."h6", "li", or "" for text outside those elements
    text: str
    n_words: int
    link_density: float
    arabic_letters: int
    stop_share: float
    ends_sentence: bool


def _block(line: str) -> TextBlock | None:
    match = _BLOCK_TAG.match(line)
    tag = match.group(1) if match else ""
    # one paragraph may hold <br> breaks: keep them as lines of the block
    text = html.unescape(_TAG.sub("", _BR.sub("\n", line)))
    text = "\n".join(part for part in (p.strip() for p in text.split("\n")) if part)
    if not text:
        return None
    letters = sum(ch.isalpha() for ch in text) or 1
    link_letters = sum(
        ch.isalpha() for link in _LINK.findall(line) for ch in html.unescape(_TAG.sub("", link))
    )
    tokens = words(text)
    stops = sum(_is_stop(fold(w)) for w in tokens)
    return TextBlock(
        tag=tag,
        text=text,
        n_words=len(tokens),
        link_density=min(link_letters / letters, 1.0),
        arabic_letters=len(_ARABIC_LETTER.findall(text)),
        stop_share=stops / len(tokens) if tokens else 0.0,
        ends_sentence=text.rstrip(_CLOSERS).endswith(TERMINAL_PUNCTUATION),
    )


def _is_stop(word: str) -> bool:
    # the conjunctions و/ف are written joined to the next word ("وفي", "فإن")
    return word in ARABIC_STOP_WORDS or (word[:1] in "وف" and word[1:] in ARABIC_STOP_WORDS)


def blocks(marked: str) -> list[TextBlock]:
    """resiliparse's minimal HTML, one block per line, tags gone and links measured."""
    return [b for b in map(_block, marked.split("\n")) if b is not None]


def is_link_block(block: TextBlock, weights: Weights) -> bool:
    return block.link_density > weights.max_link_density


def is_prose(block: TextBlock, weights: Weights) -> bool:
    """A paragraph of running Arabic text: long enough, few links, function words in it."""
    return (
        not is_link_block(block, weights)
        and block.n_words >= weights.min_prose_words
        and block.stop_share >= weights.min_stop_share
        and block.arabic_letters * 2 >= sum(ch.isalpha() for ch in block.text)
    )


def _score(block: TextBlock, weights: Weights) -> float:
    """What keeping a block is worth: its words if prose, a cost if navigation, half its
    words if a short sentence (a forum post, a one-line paragraph), else nothing."""
    if is_link_block(block, weights):
        return -min(weights.link_penalty * block.n_words, weights.max_link_penalty)
    if is_prose(block, weights):
        return float(block.n_words)
    if block.ends_sentence:
        return block.n_words / 2
    return 0.0


def main_region(page: list[TextBlock], weights: Weights) -> tuple[int, int, float]:
    """The run of blocks [start, end) with the most article text net of navigation crossed
    (the maximum-sum segment of the block scores), and that sum."""
    best = (0, 0, 0.0)
    start, total = 0, 0.0
    for i, block in enumerate(page):
        if total <= 0:
            start, total = i, 0.0
        total += _score(block, weights)
        if total > best[2]:
            best = (start, i + 1, total)
    return best


def select(page: list[TextBlock], weights: Weights) -> list[TextBlock]:
    """The main region's blocks, less the navigation inside it."""
    start, end, _ = main_region(page, weights)
    return [b for b in page[start:end] if not is_link_block(b, weights)]


def _marked(tree: HTMLTree, main_content: bool) -> str:
    return extract_plain_text(
        tree,
        preserve_formatting="minimal_html",
        main_content=main_content,
        links=True,  # link density is the strongest sign of navigation
        list_bullets=True,  # keeps <li> so headline lists are seen as lists
        alt_texts=False,
        comments=False,
    )


def extract(tree: HTMLTree, weights: Weights) -> str:
    """Main text of a parsed page, one paragraph a line."""
    page = blocks(_marked(tree, main_content=True))
    if main_region(page, weights)[2] < weights.min_region_words:
        whole = blocks(_marked(tree, main_content=False))
        if main_region(whole, weights)[2] >= weights.min_region_words:
            page = whole
    return "\n".join(b.text for b in select(page, weights))
