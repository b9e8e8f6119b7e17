"""Arabic-aware boilerplate scoring on top of resiliparse's main-content pass.

resiliparse's `main_content` drops elements by tag, class and id, and link clusters by their
share of link text, but an Arabic news page's "most read" list, related headlines and teaser
cards often get through: their elements carry whitelisted classes ("content", "post"), their
links wrap the whole card, and its link-cluster test skips elements over 1,500 bytes (750
Arabic letters). Their headlines end in "." so C4's line filter keeps them too. So resiliparse
is asked for minimal HTML (paragraphs, headings and links marked), the output is cut into
blocks, each block is scored, and the page's main region is the run of blocks with the most
article text in it (boilerpipe's and jusText's idea, with Arabic features):

- link density: the share of a block's characters inside links (headline lists are all links);
- Arabic share: the share of its characters in Arabic script;
- stop-word share: running prose carries function words, headlines and menus few;
- sentence punctuation: prose ends sentences, menus and bylines do not;
- headline lists: headings or headline-long links in a row with no prose between them.

When the main-content pass leaves little article (resiliparse sometimes drops the element that
holds it, or a hub page's linked titles with their descriptions), the whole page is scored too,
and its region taken if it holds three times the article text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from native_pipeline.text.quality import (
    ARABIC_STOP_WORDS,
    STOP_WORDS_AS_WRITTEN,
    TERMINAL_PUNCTUATION,
)

_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>")
_OPEN_LINK_AT_END = re.compile(r"<a\b[^>]*>\s*$")
_BLOCK_TAG = re.compile(r"^<(h[1-6]|p)>")
_CLOSERS = "\"'»”’)]"
_ELLIPSES = ("...", "…")
# As written and folded, alone and with the conjunctions و/ف joined ("وفي", "فإن"), so words
# need no folding (a stop word with diacritics or punctuation attached is missed)
_STOP_WORDS = frozenset(
    prefix + word
    for word in ARABIC_STOP_WORDS | frozenset(STOP_WORDS_AS_WRITTEN)
    for prefix in ("", "و", "ف")
)
_NOT_ARABIC = re.compile(r"[^\u0600-\u06ff]+")


@dataclass(frozen=True, slots=True)
class Weights:
    """Thresholds of the block scorer; docs/benchmarks/extraction.md says how they were set."""

    max_link_density: float = 0.5  # a block with more of its letters in links is navigation
    min_prose_words: int = 10  # fewer words: a heading, byline or button, not a paragraph
    min_stop_share: float = 0.08  # prose: at least this share of function words
    min_arabic_share: float = 0.5  # prose: at least this share of its characters Arabic
    # Cost of crossing a link block, in article words: one per linked word past the first
    # two (a username or a "reply" button costs 1, a headline its length), capped so that an
    # inline "read also" list does not split an article
    free_link_words: int = 2
    max_link_penalty: float = 40.0
    min_region_words: int = 20  # less article text than this is no article
    # A shorter region is checked against the whole page's: resiliparse's rules can drop the
    # element holding the article, or read a list of linked titles with descriptions as
    # navigation (a site's hub page)
    recheck_region_words: int = 100
    min_list_headings: int = 3  # titles in a row, no prose between: a headline list
    min_headline_words: int = 4  # a link block this long is a headline (shorter: a button)
    title_bonus: float = 20.0  # an unlinked <h1> (the page's own title) pulls the region to it


@dataclass(slots=True)
class TextBlock:
    tag: str  # "p", "h1".."h6", or "" for text outside those elements (a list item, a cell)
    text: str
    n_words: int  # whitespace tokens: cheaper than normalize.words, close enough here
    letters: int  # characters of its words, punctuation included
    link_density: float  # share of those characters inside links

    @property
    def ends_sentence(self) -> bool:
        return self.text.rstrip(_CLOSERS).endswith(TERMINAL_PUNCTUATION)

    @property
    def arabic_share(self) -> float:
        """Share of its word characters in the Arabic Unicode block."""
        return len(_NOT_ARABIC.sub("", self.text)) / self.letters

    @property
    def stop_share(self) -> float:
        """Share of its words that are Arabic function words."""
        tokens = self.text.split()
        return sum(map(_STOP_WORDS.__contains__, tokens)) / len(tokens)


def _block(line: str, link_letters: int) -> TextBlock | None:
    match = _BLOCK_TAG.match(line) if line.startswith("<") else None
    # one paragraph may hold <br> breaks: keep them as lines of the block
    text = line.replace("<br>", "\n")
    if "<" in text:
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    if "\n" in text:
        text = "\n".join(part for part in (p.strip() for p in text.split("\n")) if part)
    tokens = text.split()
    if not tokens:
        return None
    letters = sum(map(len, tokens))
    return TextBlock(
        tag=match.group(1) if match else "",
        text=text.strip(),
        n_words=len(tokens),
        letters=letters,
        link_density=min(link_letters / letters, 1.0),
    )


def blocks(marked: str) -> list[TextBlock]:
    """resiliparse's minimal HTML, one block per line, tags gone and links measured.

    A link that wraps blocks (a teaser card's headline) comes out as an <a> ending a line
    with no end tag after its text; the next line counts as all link text."""
    page = []
    wrapped = False
    for line in marked.split("\n"):
        link_letters = 0
        if "<a" in line:
            linked = (w for link in _LINK.findall(line) for w in _TAG.sub("", link).split())
            link_letters = sum(map(len, linked))
        block = _block(line, link_letters)
        if block is not None:
            if wrapped:
                block.link_density = 1.0
            page.append(block)
            wrapped = False
        if "<a" in line and _OPEN_LINK_AT_END.search(line):
            wrapped = True
    return page


def is_link_block(block: TextBlock, weights: Weights) -> bool:
    return block.link_density > weights.max_link_density


def is_prose(block: TextBlock, weights: Weights) -> bool:
    """A paragraph of running Arabic text (if not a link block): long enough, function words
    in it, not a teaser cut short with an ellipsis, mostly Arabic script."""
    return (
        block.n_words >= weights.min_prose_words
        and block.stop_share >= weights.min_stop_share
        and not block.text.endswith(_ELLIPSES)
        and block.arabic_share >= weights.min_arabic_share
    )


def headline_lists(
    page: list[TextBlock], prose: list[bool], links: list[bool], weights: Weights
) -> set[int]:
    """Indices of the headings, links and short blocks of headline lists: runs of blocks with
    no prose between them that hold `min_list_headings` titles or more (headings, or link
    blocks of headline length).

    A teaser card (headline, date, one-line pitch) repeats without prose; an article's
    subheadings have paragraphs between them, and a forum thread's links between posts are
    usernames and buttons, not headlines. Related stories whose pitches are prose (a heading
    that is all link, then its pitch, `min_list_headings` times or more) are a list too,
    pitches included."""
    listed: set[int] = set()
    run: list[int] = []
    pitches: list[int] = []  # prose right under a heading of the run that is all link
    pitch_allowed = False  # such a heading came since the run's last prose block
    for i in range(len(page) + 1):
        if i < len(page) and (not prose[i] or pitch_allowed):
            run.append(i)
            if prose[i]:
                pitches.append(i)
            # all link: another page's title ("deletion of <page>" names a page, not its title)
            headline = page[i].tag[:1] == "h" and page[i].link_density == 1.0
            pitch_allowed = headline or (pitch_allowed and not prose[i])
            continue
        titles = sum(
            page[j].tag[:1] == "h" or (links[j] and page[j].n_words >= weights.min_headline_words)
            for j in run
        )
        if titles >= weights.min_list_headings:
            # a long paragraph is not a teaser, even without function words (Urdu, dialect)
            listed.update(
                j
                for j in run
                if page[j].tag[:1] == "h" or links[j] or page[j].n_words < weights.min_prose_words
            )
        # Headings that are all link, each with a pitch under it, again and again: related
        # stories, whose pitches copy the linked pages' ledes. An article's subheadings are not
        # links, a talk page's headings only hold some, and an inline "read also" list before a
        # paragraph makes one such pair, not a list.
        if len(pitches) >= weights.min_list_headings:
            listed.update(pitches)
        run, pitches, pitch_allowed = [], [], False
    return listed


def scores(page: list[TextBlock], weights: Weights) -> tuple[list[float], list[bool]]:
    """What keeping each block is worth, and whether it is boilerplate whatever the region.

    Worth: its words if prose; half its words if a short sentence (a forum post, a one-line
    paragraph); a bonus if the page title; a cost if a link block or a heading of a headline
    list; else nothing. Boilerplate: link blocks and every block of a headline list."""
    links = [is_link_block(b, weights) for b in page]
    prose = [not link and is_prose(b, weights) for b, link in zip(page, links, strict=True)]
    listed = headline_lists(page, prose, links, weights)
    values = []
    for i, block in enumerate(page):
        if links[i] or (i in listed and block.tag[:1] == "h"):
            cost = max(block.n_words - weights.free_link_words, 1)
            value = -min(cost, weights.max_link_penalty)
        elif i in listed:
            value = 0.0  # a teaser's date or pitch
        elif block.tag == "h1":
            value = weights.title_bonus
        elif prose[i]:
            value = float(block.n_words)
        elif block.ends_sentence:
            value = block.n_words / 2
        else:
            value = 0.0
        values.append(value)
    return values, [link or i in listed for i, link in enumerate(links)]


def main_region(values: list[float]) -> tuple[int, int, float]:
    """The run of blocks [start, end) with the most article text net of navigation crossed
    (the maximum-sum segment of the block scores), and that sum."""
    best = (0, 0, 0.0)
    start, total = 0, 0.0
    for i, value in enumerate(values):
        if total <= 0:
            start, total = i, 0.0
        total += value
        if total > best[2]:
            best = (start, i + 1, total)
    return best


def select(page: list[TextBlock], weights: Weights) -> tuple[list[TextBlock], float]:
    """The main region's blocks less the boilerplate inside it, and the region's score."""
    values, dropped = scores(page, weights)
    start, end, total = main_region(values)
    return [page[i] for i in range(start, end) if not dropped[i]], total


def _marked(tree: HTMLTree, main_content: bool) -> str:
    return extract_plain_text(
        tree,
        preserve_formatting="minimal_html",
        main_content=main_content,
        links=True,  # link density is the strongest sign of navigation
        list_bullets=False,  # list items still come one a line
        alt_texts=False,
        comments=False,
    )


def extract(tree: HTMLTree, weights: Weights) -> str:
    """Main text of a parsed page, one paragraph a line."""
    kept, total = select(blocks(_marked(tree, main_content=True)), weights)
    if total < weights.recheck_region_words:
        whole, whole_total = select(blocks(_marked(tree, main_content=False)), weights)
        # a short article the pass did find is not traded for boilerplate prose it removed
        if whole_total >= max(weights.min_region_words, 3 * total):
            kept = whole
    return "\n".join(b.text for b in kept)
