"""The alignment expert behind an OpenAI-compatible chat-completions endpoint.

One client for a hosted GPT-4-class model and for a self-hosted vLLM server. A bad request never
raises: after its retries the completion carries an `error` and the caller keeps the original
segment. Successful completions go to an on-disk cache, so a re-run never pays twice; an output
cut off at max_tokens (`finish_reason: "length"`) is marked `truncated` and not cached. Retries,
redirects, the cache, error messages and the API key's hygiene are native_pipeline.api_client's.

With the model's tokenizer (`tokenizer`), a prompt that cannot fit the model's context with
max_tokens is failed before it is sent; the context comes from `context_tokens` or from the
server's /models (vLLM reports `max_model_len`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

from native_pipeline.alignment.backends.base import Completion, Sampling
from native_pipeline.alignment.conduct import Message
from native_pipeline.api_client import ApiClient, ResponseCache, Retry, Usage, sha

log = logging.getLogger("native_pipeline.alignment")


def cache_key(model: str, messages: list[Message], sampling: Sampling) -> str:
    """The model, the system prompt, the rest of the chat (the segment) and the sampling."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    parts = [model, sha(json.dumps(system)), sha(json.dumps(rest)), sampling.model_dump()]
    return sha(json.dumps(parts, sort_keys=True))


class OpenAIBackend:
    """A ChatBackend over HTTP: POST {base_url}/chat/completions."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = 60.0,
        backoff_s: float = 1.0,
        cache_dir: Path | str | None = None,
        price_input_per_mtok: float = 0.0,
        price_output_per_mtok: float = 0.0,
        tokenizer: Path | str | None = None,
        context_tokens: int | None = None,
        max_response_bytes: int = 4 << 20,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.client = ApiClient(
            base_url, api_key_env, max_retries, timeout_s, backoff_s, max_response_bytes
        )
        self.model = model
        self.concurrency = concurrency
        self.price_input_per_mtok = price_input_per_mtok
        self.price_output_per_mtok = price_output_per_mtok
        self.cache = (
            ResponseCache(Path(cache_dir) / "expert_cache.sqlite")
            if cache_dir is not None
            else None
        )
        self.usage: Usage = self.client.usage
        self._lock = self.client.lock
        self.tokenizer = tokenizer
        self.context_tokens = context_tokens
        self._count: Callable[[list[Message]], int] | None = None

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(base_url={self.client.endpoint!r}, model={self.model!r}, "
            f"api_key_env={self.client.api_key_env!r}, concurrency={self.concurrency})"
        )

    def identity(self) -> dict[str, str]:
        return {"backend": "openai", "model": self.model, "checkpoint": self.client.endpoint}

    def _prompt_counter(self) -> Callable[[list[Message]], int] | None:
        """Counts a conversation's prompt tokens with the model's chat template, when the
        tokenizer and the context are known (loaded and asked once)."""
        if self.tokenizer is None or self._count is not None:
            return self._count
        from transformers import AutoTokenizer

        if self.context_tokens is None:
            self.context_tokens = self._served_context()
        if self.context_tokens is None:
            log.warning("%s: context length unknown, prompts are not checked", self.client.endpoint)
            self.tokenizer = None
            return None
        tokenizer = AutoTokenizer.from_pretrained(str(self.tokenizer))

        def count(messages: list[Message]) -> int:
            # Rendered as text, then tokenized as the server does (the template holds the BOS).
            text = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

        self._count = count
        return count

    def _served_context(self) -> int | None:
        """max_model_len of this model from the server's /models (vLLM), if it says."""
        answer = self.client.get_json("/models")
        models = answer.get("data", []) if isinstance(answer, dict) else []
        for model in models:
            if isinstance(model, dict) and model.get("id") == self.model:
                value = model.get("max_model_len")
                return value if isinstance(value, int) else None
        return None

    def chat(self, conversations: Sequence[list[Message]], sampling: Sampling) -> list[Completion]:
        if not conversations:
            return []
        self._prompt_counter()  # loaded here, before the worker threads share it
        # A conversation repeated in the batch (boilerplate that survived cleaning) is asked once.
        keys = [cache_key(self.model, messages, sampling) for messages in conversations]
        unique = dict(zip(keys, conversations, strict=True))
        workers = min(self.concurrency, len(unique))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai") as pool:
            answers = pool.map(partial(self._complete, sampling=sampling), unique, unique.values())
            first = dict(zip(unique, answers, strict=True))
        completions, seen = [], set()
        for key in keys:
            answer = first[key]
            if key in seen and answer.error is None:
                answer = replace(answer, cached=True)
                with self._lock:
                    self.usage.cache_hits += 1
            seen.add(key)
            completions.append(answer)
        return completions

    def _complete(self, key: str, messages: list[Message], sampling: Sampling) -> Completion:
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            with self._lock:
                self.usage.cache_hits += 1
            return Completion(*hit, cached=True)
        if (count := self._count) is not None and self.context_tokens is not None:
            prompt = count(messages)
            if prompt + sampling.max_tokens > self.context_tokens:
                return Completion(
                    "",
                    error=self.client.failed(
                        f"prompt of {prompt} tokens + max_tokens {sampling.max_tokens} exceeds "
                        f"the model's context of {self.context_tokens} tokens (not sent)"
                    ),
                )
        completion = self._request(messages, sampling)
        if self.cache is not None and completion.error is None and not completion.truncated:
            self.cache.put(key, completion.text, completion.input_tokens, completion.output_tokens)
        return completion

    def _request(self, messages: list[Message], sampling: Sampling) -> Completion:
        body = {"model": self.model, "messages": messages, **sampling.model_dump()}
        answer = self.client.post("/chat/completions", body, _parse)
        if isinstance(answer, str):
            return Completion("", error=answer)
        log.debug(
            "%s: %d input, %d output tokens",
            self.client.endpoint,
            answer.input_tokens,
            answer.output_tokens,
        )
        with self._lock:
            self.usage.truncated += answer.truncated
            self.usage.input_tokens += answer.input_tokens
            self.usage.output_tokens += answer.output_tokens
            self.usage.cost_usd += (
                answer.input_tokens * self.price_input_per_mtok
                + answer.output_tokens * self.price_output_per_mtok
            ) / 1e6
        return answer


def _parse(raw: bytes) -> Completion:
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        text = choice["message"]["content"]
        truncated = choice.get("finish_reason") == "length"
        usage = data.get("usage") or {}
        input_tokens = int(usage.get("prompt_tokens") or 0)
        output_tokens = int(usage.get("completion_tokens") or 0)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise Retry("malformed body") from None
    if not isinstance(text, str):  # e.g. null content from a refusal or a tool call
        raise Retry("malformed body")
    return Completion(
        text, input_tokens=input_tokens, output_tokens=output_tokens, truncated=truncated
    )
