"""Written harm rules (lexicon.yaml), scored beside whichever backend the config chooses.

A learned scorer knows what its training data held; the rules say in writing what the policy
never lets through whatever the model thinks: dehumanising a group, threats and incitement,
insults aimed at the reader, sexual content. A rule that matches a text scores its category
`score`; the backend's own score stands where it is higher.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from native_pipeline.text.normalize import fold

BUNDLED = Path(__file__).with_name("lexicon.yaml")
# `<`: a word starts, after the usual clitics (و ف, then ب ل ك with or without ال, or لل).
_OPEN = r"(?<!\w)(?:[وف]?(?:[بلك]?ال|لل|[بلك])?)"
_CLOSE = r"(?!\w)"
_ARABIC_RUN = re.compile(r"[^\x00-\x7f]+")


class LexiconError(ValueError):
    """A lexicon file that does not load: its path and what is wrong."""


def _compile(source: str) -> re.Pattern[str]:
    # Only the Arabic is folded: the regular expression syntax stays as written.
    folded = _ARABIC_RUN.sub(lambda m: fold(m.group()), source)
    return re.compile(folded.replace("<", _OPEN).replace(">", _CLOSE))


def load(path: Path = BUNDLED) -> dict[str, tuple[re.Pattern[str], ...]]:
    """Category -> its rules. Loaded once per scorer (make_scorer keeps the scorer)."""
    from native_pipeline.text.harm import CATEGORIES

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or set(raw) - set(CATEGORIES):
        raise LexiconError(f"{path}: top-level keys must be among {CATEGORIES}, not {list(raw)}")
    rules: dict[str, tuple[re.Pattern[str], ...]] = {}
    for category, patterns in raw.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise LexiconError(f"{path}: {category} must be a list of patterns")
        try:
            rules[category] = tuple(_compile(p) for p in patterns)
        except re.error as error:
            raise LexiconError(f"{path}: {category}: {error}") from None
    return rules


def matches(text: str, rules: dict[str, tuple[re.Pattern[str], ...]]) -> dict[str, str]:
    """Category -> the first matching span of the folded text, for the categories that match."""
    folded = fold(text)
    found = {}
    for category, patterns in rules.items():
        for pattern in patterns:
            hit = pattern.search(folded)
            if hit:
                found[category] = hit.group()
                break
    return found
