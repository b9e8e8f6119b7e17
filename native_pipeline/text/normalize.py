"""Unicode clean-up of output text (`normalize`) and a lossy key for matching only (`fold`).

`normalize` keeps every letter as written: it only removes what carries no meaning (tatweel,
invisible controls) and tidies whitespace. `fold` throws spelling variation away so that
dedup, stop-word and lexicon matching see "إلى" and "الي" as one word; its output is never
written to the corpus.
"""

from __future__ import annotations

import re
import unicodedata

from native_pipeline.text.blocks import Block, Document

TATWEEL = "\u0640"

# Invisible format characters that only steer rendering, so dropping them loses nothing:
# soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width space, LRM/RLM,
# bidi embeddings/overrides (202A-202E), word joiner and invisible operators (2060-2064),
# bidi isolates (2066-2069) and the BOM / zero-width no-break space.
# Kept on purpose: ZWNJ (U+200C), which Persian and Urdu spell words with (می‌خواهم), and
# ZWJ (U+200D), which glues emoji sequences; both are harmless in Arabic text.
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200e\u200f"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2060, 0x2065)))
    + "".join(map(chr, range(0x2066, 0x206A)))
    + "\ufeff"
)
# C0/C1 controls except tab and newline (tab becomes a space below, \r is handled first).
_CONTROLS = "".join(
    chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n"
)
_DROP = str.maketrans("", "", TATWEEL + _INVISIBLE + _CONTROLS)

_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")
_SPACES = re.compile(r"[^\S\n]+")  # any whitespace but newline (NFKC already made NBSP a space)
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize(text: str) -> str:
    """NFKC, drop tatweel and invisible controls, collapse spaces, at most one blank line."""
    text = unicodedata.normalize("NFKC", text)
    text = _LINE_BREAKS.sub("\n", text).translate(_DROP)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# Marks removed by `fold`: Quranic annotation signs (0610-061A), harakat, tanwin, shadda,
# sukun and later extensions (064B-065F), superscript alef (0670), Quranic marks (06D6-06ED).
_DIACRITICS = [
    *range(0x0610, 0x061B),
    *range(0x064B, 0x0660),
    0x0670,
    *range(0x06D6, 0x06DD),
    *range(0x06DF, 0x06E9),
    *range(0x06EA, 0x06EE),
]
# Letter folds (the usual ones in Arabic IR): hamza-carrying alefs and wasla -> bare alef;
# alef maqsura -> yeh and ta marbuta -> heh, since writers confuse them at word ends; hamza on
# waw / yeh -> the bare carrier (spelling of hamza seats varies). The lone hamza ء stays: it is
# a letter of its own. Persian yeh/keheh -> Arabic yeh/kaf, since Arabic text typed on a
# Persian keyboard uses them. Arabic-Indic and Persian digits -> ASCII.
_LETTERS = {
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ى": "ي",
    "ة": "ه",
    "ؤ": "و",
    "ئ": "ي",
    "ی": "ي",
    "ک": "ك",
}
_DIGITS = {0x0660 + i: str(i) for i in range(10)} | {0x06F0 + i: str(i) for i in range(10)}
# What fold does, as one table (the tests hold `fold` to it).
FOLD_TABLE = str.maketrans(
    {
        **dict.fromkeys(_DIACRITICS),
        ord(TATWEEL): None,
        **{ord(k): v for k, v in _LETTERS.items()},
        **_DIGITS,
    }
)
# The same in C-speed passes: str.translate looks every non-Latin character up in a dict (an
# int object made per character), three times slower on Arabic than a regex that drops the
# marks and one str.replace per letter that is there; digits are rare, so they keep translate.
_MARKS = re.compile("[" + "".join(map(chr, [*_DIACRITICS, ord(TATWEEL)])) + "]")
_NON_ASCII_DIGIT = re.compile("[\u0660-\u0669\u06f0-\u06f9]")


def fold(text: str) -> str:
    """Matching key: no diacritics, folded alef/yeh/ta marbuta/hamza seats, lower case, ASCII
    digits. Lossy: use it to compare text, never as output."""
    text = _MARKS.sub("", text)
    for letter, folded in _LETTERS.items():
        if letter in text:
            text = text.replace(letter, folded)
    if _NON_ASCII_DIGIT.search(text):
        text = text.translate(_DIGITS)
    return text.lower()


# A word is a run of letters/digits; combining marks and ZWNJ stay inside it so that vocalised
# Arabic ("كَتَبَ") and Persian compounds are not cut into pieces. Punctuation splits words.
_WORD = re.compile(r"(?:\w|[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u200c])+")


def words(text: str) -> list[str]:
    """Split on whitespace and punctuation (Arabic punctuation included)."""
    return _WORD.findall(text)


class Normalizer(Block):
    """Apply `normalize` to every document; drop the ones that end up empty."""

    name = "normalize"

    def process(self, docs: list[Document]) -> list[Document]:
        kept = []
        for doc in docs:
            text = normalize(doc.text)  # what it removes shows in the block's bytes in and out
            if not text:
                self.remove(doc, "empty_after_normalization")
                continue
            doc.text = text
            kept.append(doc)
        return kept
