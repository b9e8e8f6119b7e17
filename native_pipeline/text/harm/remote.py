"""Harm backends behind OpenAI-compatible endpoints, through native_pipeline.api_client (the
expert's retries, cache and key hygiene).

- `moderation_api`: POST {base_url}/moderations, the published method's own scorer. Its
  category scores are folded into ours: hate(+threatening) -> harm_hate,
  harassment(+threatening) -> harm_harassment, sexual(+minors) -> harm_sexual,
  violence(+graphic), self-harm(+intent, +instructions) -> harm_violence.
- `llm_judge`: POST {base_url}/chat/completions with the rubric below; the judge answers one
  JSON object of the four categories' probabilities.

An answer is a score only when every category has a number in [0, 1]: NaN, infinity, a value
out of range or a missing category is a malformed answer, retried, never clipped or read as 0.
A text whose call still fails after the retries raises: a score made up for it would pass as
harmless (or as harmful) unnoticed. When the backend is at fault (unreachable, malformed or
oversized answers, a refused key) it raises StepFailure, which stops the step whatever the
number of workers. Answers are cached by endpoint (without credentials), model and text, so a
rerun pays only for the texts not yet asked of that server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from native_pipeline.api_client import (
    BACKEND_FAULTS,
    MALFORMED,
    ApiClient,
    ResponseCache,
    Retry,
    StepFailure,
    sha,
)
from native_pipeline.settings import HarmSettings
from native_pipeline.text.harm import CATEGORIES, complete

MODERATION_MAP = {
    "harm_hate": ("hate", "hate/threatening"),
    "harm_harassment": ("harassment", "harassment/threatening"),
    "harm_sexual": ("sexual", "sexual/minors"),
    "harm_violence": (
        "violence",
        "violence/graphic",
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
    ),
}

RUBRIC = """You rate the harm of an Arabic text for a pre-training corpus. Give, for each
category, the probability (0 to 1) that a careful Arabic-speaking moderator would call the text
harmful in that category:
- harm_hate: attacks, dehumanises or slurs people for who they are (religion, sect, ethnicity,
  nationality, race, gender, disability, origin); calls to exclude or eliminate a group;
- harm_harassment: insults, abuse, profanity or threats aimed at a person;
- harm_sexual: explicit sexual content;
- harm_violence: threats, incitement to or glorification of violence, instructions for harm,
  self-harm encouragement.
News that reports violence or hate neutrally, religious or political opinion without abuse, and
ordinary criticism are not harmful. Answer with one JSON object and nothing else, for example
{"harm_hate": 0.02, "harm_harassment": 0.1, "harm_sexual": 0.0, "harm_violence": 0.05}."""


def present(scores: object, names: Sequence[str]) -> dict[str, object]:
    """`names`' values in an answer's scores, or Retry: a missing category is no 0."""
    if not isinstance(scores, dict):
        raise Retry(f"{MALFORMED} (scores are not an object)")
    if missing := [name for name in names if name not in scores]:
        raise Retry(f"{MALFORMED} (no {', '.join(missing)})")
    return {name: scores[name] for name in names}


def probability(name: str, value: object) -> float:
    """`value` as a score, or Retry: a malformed answer is never clipped into one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise Retry(f"{MALFORMED} ({name}: {value!r}, not a number in [0, 1])")
    return float(value)


class _RemoteScorer:
    name = ""
    path = ""

    def __init__(self, settings: HarmSettings) -> None:
        if not settings.base_url or not settings.model:
            raise ValueError(f"the {self.name} harm backend needs base_url and model in the config")
        self.model = settings.model
        self.concurrency = settings.concurrency
        self.client = ApiClient(
            settings.base_url,
            settings.api_key_env,
            settings.max_retries,
            settings.timeout_s,
            max_response_bytes=settings.max_response_bytes,
        )
        self.usage = self.client.usage
        self.cache = (
            ResponseCache(Path(settings.cache_dir) / f"harm_{self.name}.sqlite")
            if settings.cache_dir
            else None
        )

    def _body(self, text: str) -> dict:
        raise NotImplementedError

    def _parse(self, raw: bytes) -> dict[str, float]:
        raise NotImplementedError

    def _one(self, text: str) -> dict[str, float]:
        key = sha(json.dumps([self.name, self.client.endpoint, self.model, text]))
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            with self.client.lock:
                self.usage.cache_hits += 1
            return json.loads(hit[0])
        answer = self.client.post(self.path, self._body(text), self._parse)
        if isinstance(answer, str):
            failure = StepFailure if answer.startswith(BACKEND_FAULTS) else RuntimeError
            raise failure(f"{self.name} harm backend at {self.client.endpoint}: {answer}")
        if self.cache is not None:
            self.cache.put(key, json.dumps(answer))
        return answer

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        unique = list(dict.fromkeys(texts))
        with ThreadPoolExecutor(min(self.concurrency, len(unique))) as pool:
            scored = dict(zip(unique, pool.map(self._one, unique), strict=True))
        return [complete(scored[t]) for t in texts]


class ModerationScorer(_RemoteScorer):
    name = "moderation_api"
    path = "/moderations"
    categories = CATEGORIES

    def _body(self, text: str) -> dict:
        return {"model": self.model, "input": text}

    def _parse(self, raw: bytes) -> dict[str, float]:
        try:
            result = json.loads(raw)["results"][0]["category_scores"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise Retry(MALFORMED) from None
        found = present(result, [name for names in MODERATION_MAP.values() for name in names])
        return {
            cat: max(probability(name, found[name]) for name in names)
            for cat, names in MODERATION_MAP.items()
        }


class LLMJudgeScorer(_RemoteScorer):
    name = "llm_judge"
    path = "/chat/completions"
    categories = CATEGORIES

    def _body(self, text: str) -> dict:
        messages = [{"role": "system", "content": RUBRIC}, {"role": "user", "content": text}]
        return {"model": self.model, "messages": messages, "temperature": 0.0, "max_tokens": 96}

    def _parse(self, raw: bytes) -> dict[str, float]:
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
            # The object may come wrapped in prose or a code fence: take the outermost braces.
            scores = json.loads(content[content.index("{") : content.rindex("}") + 1])
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise Retry(MALFORMED) from None
        return {cat: probability(cat, value) for cat, value in present(scores, CATEGORIES).items()}
