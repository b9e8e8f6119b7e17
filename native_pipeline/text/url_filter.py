"""RefinedWeb's URL filtering (Penedo et al. 2023, section G.1): a page is removed when its
domain is on a blocklist, or its URL holds a banned word, or enough "soft" banned words.

The blocklist is the configured domains plus a file of them, one per line (`#` comments), e.g.
the UT1 lists RefinedWeb and datatrove's `URLFilter` use. A domain blocks itself and every
subdomain; no public-suffix list is needed for that. URL words are the lowercase runs of letters
and digits of the percent-decoded URL, so an Arabic path's words count too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from native_pipeline.text.blocks import AtLeastOne, Document, Filter

_URL_WORD = re.compile(r"[^\W_]+")


def _words(values: Iterable[str]) -> frozenset[str]:
    return frozenset(w.lower() for w in values)


def read_domains(path: Path) -> set[str]:
    """Domains of a blocklist file, one per line, blank lines and `#` comments skipped."""
    with path.open(encoding="utf-8") as lines:
        return {d.strip().lower() for d in lines if d.strip() and not d.startswith("#")}


class URLBlocklist(Filter):
    """Remove pages whose host is (under) a blocked domain or whose URL holds banned words.
    A document without a URL has nothing to judge and is kept."""

    name = "url_blocklist"

    def __init__(
        self,
        domains: Sequence[str] = (),
        domains_file: Path | None = None,
        banned_words: Sequence[str] = (),
        soft_banned_words: Sequence[str] = (),
        soft_word_threshold: AtLeastOne = 2,
    ) -> None:
        super().__init__()
        self.domains = {d.lower() for d in domains}
        if domains_file is not None:
            self.domains |= read_domains(Path(domains_file))
        self.banned_words = _words(banned_words)
        self.soft_banned_words = _words(soft_banned_words)
        self.soft_word_threshold = soft_word_threshold

    def _blocked_domain(self, host: str) -> bool:
        labels = host.split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(len(labels)))

    def reject(self, doc: Document) -> tuple[str, float | None] | None:
        url = doc.meta.get("url")
        if not url:
            return None
        host = urlsplit(url).hostname or ""
        if self._blocked_domain(host):
            return "url_blocklist:domain", None
        words = set(_URL_WORD.findall(unquote(url).lower()))
        if words & self.banned_words:
            return "url_blocklist:banned_word", None
        soft = len(words & self.soft_banned_words)
        if soft >= self.soft_word_threshold:
            return "url_blocklist:soft_banned_words", float(soft)
        return None
