from __future__ import annotations

import pytest

from native_pipeline.text.blocks import Document
from native_pipeline.text.url_filter import URLBlocklist


def _verdict(block: URLBlocklist, url: str | None) -> str | None:
    verdict = block.reject(Document("d", "نص", {"url": url}))
    return verdict[0] if verdict else None


@pytest.fixture
def block(tmp_path) -> URLBlocklist:
    listed = tmp_path / "domains"
    listed.write_text("# UT1 adult\nbad.example\n\nlisted.example\n")
    return URLBlocklist(
        domains=["casino.example"],
        domains_file=listed,
        banned_words=["porn", "قمار"],
        soft_banned_words=["bet", "poker", "مراهنات"],
        soft_word_threshold=2,
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://casino.example/a", "url_blocklist:domain"),
        ("https://www.m.bad.example/a", "url_blocklist:domain"),  # a subdomain of a file's entry
        ("https://listed.example", "url_blocklist:domain"),
        ("https://notbad.example/a", None),  # a longer name is another domain
        ("https://news.example/porn-video", "url_blocklist:banned_word"),
        ("https://news.example/pornography", None),  # words, not substrings
        ("https://news.example/%D9%82%D9%85%D8%A7%D8%B1-1", "url_blocklist:banned_word"),  # قمار
        ("https://news.example/bet", None),  # one soft word is not enough
        ("https://news.example/bet/poker", "url_blocklist:soft_banned_words"),
        ("https://news.example/bet?q=مراهنات", "url_blocklist:soft_banned_words"),
        (None, None),  # nothing to judge: kept
    ],
)
def test_blocked_domains_and_banned_url_words(block, url, reason):
    assert _verdict(block, url) == reason


def test_removals_are_decisions_with_their_reason(block):
    docs = [
        Document(f"d{i}", "نص", {"url": u})
        for i, u in enumerate(["https://bad.example", "https://ok.example"])
    ]
    assert [d.doc_id for d in block(docs)] == ["d1"]
    decisions, stats = block.drain()
    assert [(d.doc_id, d.reason) for d in decisions] == [("d0", "url_blocklist:domain")]
