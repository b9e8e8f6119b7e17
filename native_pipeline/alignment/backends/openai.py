"""The alignment expert behind an OpenAI-compatible chat-completions endpoint.

One client for a hosted GPT-4-class model and for a self-hosted `vllm serve`. A bad request never
raises: after its retries the completion carries an `error` and the caller keeps the original
segment. Successful completions go to an on-disk cache, so a re-run never pays twice.

The API key is read from the environment at request time and only ever goes into the
Authorization header: error bodies (which may echo part of the key) are never logged or kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import partial
from http.client import HTTPException, HTTPMessage
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from native_pipeline.alignment.backends.base import Completion, Sampling
from native_pipeline.alignment.conduct import Message

log = logging.getLogger("native_pipeline.alignment")

MAX_WAIT_S = 60.0  # cap on one backoff or Retry-After wait, so one server cannot stall a run


@dataclass
class Usage:
    """What the backend has spent since it was created."""

    requests: int = 0  # HTTP requests sent, retries included
    cache_hits: int = 0  # conversations served from the cache, nothing paid
    retries: int = 0
    failures: int = 0  # conversations that came back with an error
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def as_metadata(self) -> dict[str, int | float]:
        return {**asdict(self), "cost_usd": round(self.cost_usd, 6)}


class _Retry(Exception):
    """A transient failure: worth another attempt, after `wait_s` if the server named one."""

    def __init__(self, reason: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait_s = wait_s


class _Fatal(Exception):
    """A failure another attempt would repeat (a 4xx other than 429)."""


class AuthenticationError(RuntimeError):
    """The endpoint refused the key (401) or the model (403): every request would fail, so the
    step stops instead of keeping every original as a failed rewrite."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect would carry the Authorization header to wherever it points


_OPENER = urllib.request.build_opener(_NoRedirect)


def redact_url(url: str) -> str:
    """The URL without user, password, query or fragment: where keys hide in a URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(model: str, messages: list[Message], sampling: Sampling) -> str:
    """The model, the system prompt, the rest of the chat (the segment) and the sampling."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    parts = [model, _sha(json.dumps(system)), _sha(json.dumps(rest)), asdict(sampling)]
    return _sha(json.dumps(parts, sort_keys=True))


class _Cache:
    """Successful completions in SQLite: one shared connection behind a lock, WAL journal."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "expert_cache.sqlite"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        # Opened on first use, so building a backend touches no disk.
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # No fsync per row: a power cut may lose the last rows, never corrupt the file.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
                " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL)"
            )
            conn.commit()
            self._conn = conn
        return self._conn

    def get(self, key: str) -> Completion | None:
        query = "SELECT text, input_tokens, output_tokens FROM completions WHERE key = ?"
        with self._lock:
            row = self._connect().execute(query, (key,)).fetchone()
        return None if row is None else Completion(row[0], row[1], row[2], cached=True)

    def put(self, key: str, completion: Completion) -> None:
        with self._lock:
            conn = self._connect()
            with conn:  # one transaction: the row is written whole or not at all
                conn.execute(
                    "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)",
                    (key, completion.text, completion.input_tokens, completion.output_tokens),
                )


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
    ) -> None:
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) endpoint: {redact_url(base_url)}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env  # the variable's name; the key itself is never stored
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.price_input_per_mtok = price_input_per_mtok
        self.price_output_per_mtok = price_output_per_mtok
        self.cache = _Cache(Path(cache_dir)) if cache_dir is not None else None
        self.usage = Usage()
        self._endpoint = redact_url(self.base_url)
        self._lock = threading.Lock()  # guards self.usage across the worker threads

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(base_url={self._endpoint!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r}, concurrency={self.concurrency})"
        )

    def identity(self) -> dict[str, str]:
        return {"backend": "openai", "model": self.model, "checkpoint": self._endpoint}

    def chat(self, conversations: Sequence[list[Message]], sampling: Sampling) -> list[Completion]:
        if not conversations:
            return []
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
        if self.cache is None:
            return self._request_with_retries(messages, sampling)
        if (hit := self.cache.get(key)) is not None:
            with self._lock:
                self.usage.cache_hits += 1
            return hit
        completion = self._request_with_retries(messages, sampling)
        if completion.error is None:
            self.cache.put(key, completion)
        return completion

    def _request_with_retries(self, messages: list[Message], sampling: Sampling) -> Completion:
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                self.usage.requests += 1
            try:
                completion = self._request(messages, sampling)
            except _Fatal as fatal:
                return self._failed(f"{fatal} (not retried)")
            except _Retry as retry:
                if attempt > self.max_retries:
                    return self._failed(f"{retry.reason} after {attempt} attempts")
                wait = self._wait_s(attempt, retry.wait_s)
                log.info(
                    "%s: %s, retry %d/%d in %.2fs",
                    self._endpoint,
                    retry.reason,
                    attempt,
                    self.max_retries,
                    wait,
                )
                with self._lock:
                    self.usage.retries += 1
                time.sleep(wait)
                continue
            log.debug(
                "%s: %d input, %d output tokens",
                self._endpoint,
                completion.input_tokens,
                completion.output_tokens,
            )
            with self._lock:
                self.usage.input_tokens += completion.input_tokens
                self.usage.output_tokens += completion.output_tokens
                self.usage.cost_usd += (
                    completion.input_tokens * self.price_input_per_mtok
                    + completion.output_tokens * self.price_output_per_mtok
                ) / 1e6
            return completion

    def _wait_s(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when it sent one, else exponential backoff with jitter."""
        if retry_after is not None:
            return min(retry_after, MAX_WAIT_S)
        # Jitter spreads the retries of concurrent workers that failed at the same moment.
        return min(self.backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5), MAX_WAIT_S)

    def _failed(self, reason: str) -> Completion:
        log.warning("%s: request failed: %s", self._endpoint, reason)
        with self._lock:
            self.usage.failures += 1
        return Completion("", error=reason)

    def _request(self, messages: list[Message], sampling: Sampling) -> Completion:
        """One POST; raises _Retry or _Fatal with a short reason that holds no secret."""
        body = {"model": self.model, "messages": messages, **asdict(sampling)}
        headers = {"Content-Type": "application/json"}
        if api_key := os.environ.get(self.api_key_env):
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=json.dumps(body).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            error.close()  # its body may echo the key: never read
            if error.code in (401, 403):
                raise AuthenticationError(
                    f"{self._endpoint}: http {error.code}: check the key in ${self.api_key_env} "
                    f"and access to model {self.model!r}"
                ) from None
            if error.code == 429 or error.code >= 500:
                raise _Retry(f"http {error.code}", _retry_after(error.headers)) from None
            raise _Fatal(f"http {error.code}") from None
        except (OSError, HTTPException) as error:  # URLError, timeouts, resets, bad status lines
            reason = getattr(error, "reason", error)
            kind = "timeout" if isinstance(reason, TimeoutError) else "connection error"
            raise _Retry(f"{kind} ({type(reason).__name__})") from None
        return _parse(raw)


def _retry_after(headers: HTTPMessage) -> float | None:
    """Retry-After in seconds; the HTTP-date form is rare enough to fall back to backoff."""
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None


def _parse(raw: bytes) -> Completion:
    try:
        data = json.loads(raw)
        text = data["choices"][0]["message"]["content"]
        usage = data.get("usage") or {}
        input_tokens = int(usage.get("prompt_tokens") or 0)
        output_tokens = int(usage.get("completion_tokens") or 0)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise _Retry("malformed body") from None
    if not isinstance(text, str):  # e.g. null content from a refusal or a tool call
        raise _Retry("malformed body")
    return Completion(text, input_tokens=input_tokens, output_tokens=output_tokens)
