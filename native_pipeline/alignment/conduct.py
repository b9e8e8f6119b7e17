"""The code of conduct: the rewriting instruction, its cultural norms, and the output wrapper.

The instruction (`code_of_conduct.md`) and the cultural norms (`cultural_norms.yaml`) are files a
team replaces through the config. A rewrite must come back between `<aligned>` markers and
nothing else, so that the validator can tell a rewrite from chatter or a refusal. Crawled text is
data: marker strings inside a segment are defused before it enters the prompt, so a segment can
neither close its own frame nor forge a rewrite.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import yaml

HERE = Path(__file__).parent
DEFAULT_INSTRUCTION = HERE / "code_of_conduct.md"
DEFAULT_NORMS = HERE / "cultural_norms.yaml"

OPEN, CLOSE = "<aligned>", "</aligned>"
_USER_TEMPLATE = "<segment>\n{segment}\n</segment>"
# Chat-template control tokens such as "<|end|>" or "<|im_start|>", which a tokenizer would read
# as the real thing.
_CONTROL = r"\|[^<>|\s]{1,32}\|"
_WRAPPED = re.compile(r"\A\s*<aligned>\n?(.*?)\n?</aligned>\s*\Z", re.DOTALL)

Message = dict[str, str]


@cache
def _markers(names: tuple[str, ...]) -> re.Pattern[str]:
    # Any spelling of the markers, e.g. "</ Aligned >", and the control tokens.
    return re.compile(rf"<(\s*/?\s*(?:{'|'.join(names)})\s*|{_CONTROL})>", re.IGNORECASE)


def defuse(text: str, markers: tuple[str, ...] = ("aligned", "segment")) -> str:
    """The text with look-alikes (‹aligned›, ‹|end|›) in place of the markers that frame it in a
    prompt and of chat control tokens."""
    return _markers(markers).sub(r"‹\1›", text)


def wrap(text: str) -> str:
    return f"{OPEN}\n{text}\n{CLOSE}"


def unwrap(output: str) -> str | None:
    """The rewrite inside one pair of markers with nothing else around it, or None."""
    match = _WRAPPED.match(output)
    if match is None or OPEN in match.group(1) or CLOSE in match.group(1):
        return None
    return match.group(1)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CodeOfConduct:
    instruction: str
    norms: tuple[str, ...]

    @classmethod
    def load(
        cls, instruction: Path | str | None = None, norms: Path | str | None = None
    ) -> CodeOfConduct:
        text = Path(instruction or DEFAULT_INSTRUCTION).read_text(encoding="utf-8").strip()
        listed = yaml.safe_load(Path(norms or DEFAULT_NORMS).read_text(encoding="utf-8")) or {}
        if not isinstance(listed.get("norms", []), list):
            raise ValueError(f"{norms}: expected a list under 'norms'")
        return cls(text, tuple(str(n) for n in listed.get("norms", [])))

    @cached_property
    def system_prompt(self) -> str:
        norms = "\n".join(f"- {n}" for n in self.norms)
        return f"{self.instruction}\n\n## Cultural norms\n{norms}" if norms else self.instruction

    @cached_property
    def prompt_hash(self) -> str:
        """Names the prompt in every output row and in the expert cache key."""
        return _sha(self.system_prompt + _USER_TEMPLATE)

    def messages(self, segment: str) -> list[Message]:
        """The chat for one segment: the shared instruction first, so engines cache its prefix."""
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": _USER_TEMPLATE.format(segment=defuse(segment))},
        ]
