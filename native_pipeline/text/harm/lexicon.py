"""Written harm rules (lexicon.yaml), scored beside whichever backend the config chooses.

A learned scorer knows what its training data held; the rules say in writing what the policy
never lets through whatever the model thinks: dehumanising a group, threats and incitement,
insults aimed at the reader, sexual content. A rule that matches a text scores its category
`score`; the backend's own score stands where it is higher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]

import yaml

from native_pipeline.text.normalize import fold

BUNDLED = Path(__file__).with_name("lexicon.yaml")
# `<`: a word starts, after the usual clitics (و ف, then ب ل ك with or without ال, or لل).
_OPEN = r"(?<!\w)(?:[وف]?(?:[بلك]?ال|لل|[بلك])?)"
_CLOSE = r"(?!\w)"
_ARABIC_RUN = re.compile(r"[^\x00-\x7f]+")


class LexiconError(ValueError):
    """A lexicon file that does not load: its path and what is wrong."""


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    # Every match holds one of these strings: a text holding none is not searched at all, which
    # keeps the rules cheap on the great majority of texts that match nothing.
    anchors: tuple[str, ...]

    def search(self, folded: str) -> re.Match[str] | None:
        if self.anchors and not any(anchor in folded for anchor in self.anchors):
            return None
        return self.pattern.search(folded)


def _language(items: list, cap: int = 256) -> set[str] | None:
    """Every string a run of parsed regex items can match, when they are finitely many literals
    (letters, sets of letters, groups and alternations of them); None otherwise."""
    out = {""}
    for op, value in items:
        if op is sre.LITERAL:
            part: set[str] | None = {chr(value)}
        elif op is sre.IN and all(kind is sre.LITERAL for kind, _ in value):
            part = {chr(code) for _, code in value}  # [ab], or (a|b) as the parser writes it
        elif op is sre.SUBPATTERN:
            part = _language(list(value[3]), cap)
        elif op is sre.BRANCH:
            options = [_language(list(alternative), cap) for alternative in value[1]]
            part = None if None in options else set().union(*options)
        else:
            return None
        if part is None or len(out) * len(part) > cap:
            return None
        out = {a + b for a in out for b in part}
    return out


def anchors(pattern: str, shortest: int = 3) -> tuple[str, ...]:
    """A small set of literals one of which every match of `pattern` holds: of the finite runs
    of top-level items whose strings all have `shortest` letters or more, the one with the
    fewest strings (the gate is one substring test per string); () when there is none (the
    rule is then always searched)."""
    candidates: list[set[str]] = []
    run: set[str] = {""}
    for item in _parser.parse(pattern):
        part = _language([item])
        if part is None:
            run = {""}
            continue
        run = {a + b for a in run for b in part} if len(run) * len(part) <= 256 else part
        candidates += [c for c in (run, part) if min(map(len, c)) >= shortest]
    if not candidates:
        return ()
    return tuple(sorted(min(candidates, key=lambda c: (len(c), -min(map(len, c))))))


def _compile(source: str) -> Rule:
    # Only the Arabic is folded: the regular expression syntax stays as written.
    folded = _ARABIC_RUN.sub(lambda m: fold(m.group()), source)
    expanded = folded.replace("<", _OPEN).replace(">", _CLOSE)
    return Rule(re.compile(expanded), anchors(expanded))


def load(path: Path = BUNDLED) -> dict[str, tuple[Rule, ...]]:
    """Category -> its rules. Loaded once per scorer (make_scorer keeps the scorer)."""
    from native_pipeline.text.harm import CATEGORIES

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or set(raw) - set(CATEGORIES):
        raise LexiconError(f"{path}: top-level keys must be among {CATEGORIES}, not {list(raw)}")
    rules: dict[str, tuple[Rule, ...]] = {}
    for category, patterns in raw.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise LexiconError(f"{path}: {category} must be a list of patterns")
        try:
            rules[category] = tuple(_compile(p) for p in patterns)
        except re.error as error:
            raise LexiconError(f"{path}: {category}: {error}") from None
    return rules


def matches(text: str, rules: dict[str, tuple[Rule, ...]]) -> dict[str, str]:
    """Category -> the first matching span of the folded text, for the categories that match."""
    folded = fold(text)
    found = {}
    for category, category_rules in rules.items():
        for rule in category_rules:
            hit = rule.search(folded)
            if hit:
                found[category] = hit.group()
                break
    return found
