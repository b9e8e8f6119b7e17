"""One HTTP client for OpenAI-compatible endpoints: the expert's chat completions and the harm
scorers' moderations and judge calls.

Retries transient failures (429, 5xx, timeouts, resets, malformed bodies) with the server's
Retry-After or exponential backoff with jitter; never follows redirects (they would carry the
Authorization header elsewhere). Each request has a deadline for the whole exchange (a server
that trickles its answer a byte at a time never trips a per-read timeout), and an answer larger
than `max_response_bytes` is refused before it is read whole. The API key is read from the
environment at request time and only ever goes into that header. A refused request's message
is kept (vLLM says why: "prompt contains at least 513 input tokens") with the key, bearer tokens
and URL credentials blanked out, since error bodies may echo part of the key. Answers can be
cached in SQLite, so that a re-run never pays twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import re
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from http.client import HTTPConnection, HTTPException, HTTPMessage, HTTPResponse, HTTPSConnection
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger("native_pipeline.api")

MAX_WAIT_S = 60.0  # cap on one backoff or Retry-After wait, so one server cannot stall a run
MAX_ERROR_CHARS = 300  # of a server's error message, kept in the log and the metadata
CHUNK = 1 << 16
# Failure reasons that say the backend, not the input, is at fault (see StepFailure).
UNREACHABLE, MALFORMED, TOO_LARGE = "connection error", "malformed body", "answer over"
BACKEND_FAULTS = (UNREACHABLE, MALFORMED, TOO_LARGE)
T = TypeVar("T")


@dataclass
class Usage:
    """What a client has spent since it was created."""

    requests: int = 0  # HTTP requests sent, retries included
    cache_hits: int = 0  # answers served from the cache, nothing paid
    retries: int = 0
    failures: int = 0  # calls that came back with an error
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    truncated: int = 0  # answers cut off at max_tokens (paid for, not cached)
    errors: Counter[str] = field(default_factory=Counter)  # failure reasons, redacted

    def _combine(self, other: Usage, sign: int) -> Usage:
        return Usage(
            **{
                f.name: getattr(self, f.name) + sign * getattr(other, f.name)
                for f in fields(self)
                if f.name != "errors"
            },
            errors=self.errors + other.errors if sign > 0 else self.errors - other.errors,
        )

    def __add__(self, other: Usage) -> Usage:
        return self._combine(other, 1)

    def __sub__(self, other: Usage) -> Usage:
        """What was spent between `other`, an earlier copy, and now."""
        return self._combine(other, -1)

    def as_metadata(self) -> dict[str, object]:
        return {
            **asdict(self),
            "cost_usd": round(self.cost_usd, 6),
            "errors": dict(self.errors.most_common(10)),
        }


class Retry(Exception):
    """A transient failure: worth another attempt, after `wait_s` if the server named one."""

    def __init__(self, reason: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait_s = wait_s


class Fatal(Exception):
    """A failure another attempt would repeat (a 4xx other than 429)."""


class StepFailure(RuntimeError):
    """A failure that is not about one input (a refused key, an unreachable backend, a broken
    configuration): every document would fail the same way, so the step stops with this reason
    instead of removing or keeping each document as a failure of its own."""


class AuthenticationError(StepFailure):
    """The endpoint refused the key (401) or the model (403): every request would fail, so the
    step stops instead of keeping every original as a failed rewrite."""


class _Deadline:
    """Shuts a request's socket down once the whole exchange has taken `seconds`: a socket
    timeout bounds each read, not the request."""

    def __init__(self, seconds: float) -> None:
        self.sock: socket.socket | None = None
        self.expired = False
        self.timer = threading.Timer(seconds, self._cut)
        self.timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        """The request's socket, once connected."""
        self.sock = sock
        if self.expired:
            self._cut()

    def _cut(self) -> None:
        self.expired = True
        if self.sock is not None:
            with contextlib.suppress(OSError):  # already closed
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the read blocked on it

    def __enter__(self) -> _Deadline:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect would carry the Authorization header to wherever it points


class _Watched:
    """A connection whose socket its deadline may cut, once connected."""

    deadline: _Deadline
    sock: socket.socket

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]  # HTTPConnection's, or HTTPSConnection's
        self.deadline.watch(self.sock)


class _WatchedHttp(_Watched, HTTPConnection):
    pass


class _WatchedHttps(_Watched, HTTPSConnection):
    pass


class _Http(urllib.request.HTTPHandler):
    """Opens each request on a connection its deadline watches."""

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def watched(self, kind: type[_Watched], *args: Any, **kwargs: Any) -> _Watched:
        connection = kind(*args, **kwargs)
        connection.deadline = self.deadline
        return connection

    def http_open(self, req: urllib.request.Request) -> HTTPResponse:
        return self.do_open(partial(self.watched, _WatchedHttp), req)


class _Https(_Http, urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> HTTPResponse:
        return self.do_open(partial(self.watched, _WatchedHttps), req, context=self._context)


def read_limited(response: HTTPResponse, limit: int) -> bytes:
    """The body, refused (Fatal) beyond `limit` bytes: by its Content-Length before reading it,
    or as soon as what came exceeds the limit."""
    length = response.getheader("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise Fatal(f"{TOO_LARGE} {limit} bytes (Content-Length {length})")
    chunks, size = [], 0
    while chunk := response.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise Fatal(f"{TOO_LARGE} {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def redact_url(url: str) -> str:
    """The URL without user, password, query or fragment: where keys hide in a URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


_SECRETS = (
    re.compile(r"(?i)bearer\s+\S+"),  # an echoed Authorization header
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),  # OpenAI-style keys
    re.compile(r"(://)[^/@\s]+(?=@)"),  # user:password@ in a URL
    re.compile(r"(?i)((?:api[-_]?key|token|key)=)[^&\s]+"),  # keys in a query string
)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """The text without the given secrets, bearer tokens, key-like strings or URL credentials."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


def error_message(body: bytes) -> str:
    """The message of an error body ({"error": {"message"}}, vLLM's {"message"}, or text)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            error = error.get("message") or error.get("detail") or data.get("message")
        if isinstance(error, str):
            return error
    return text


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseCache:
    """Successful answers in SQLite: one shared connection behind a lock, WAL journal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        # Opened on first use, so building a client touches no disk.
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

    def get(self, key: str) -> tuple[str, int, int] | None:
        query = "SELECT text, input_tokens, output_tokens FROM completions WHERE key = ?"
        with self._lock:
            row = self._connect().execute(query, (key,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def put(self, key: str, text: str, input_tokens: int = 0, output_tokens: int = 0) -> None:
        with self._lock:
            conn = self._connect()
            with conn:  # one transaction: the row is written whole or not at all
                conn.execute(
                    "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)",
                    (key, text, input_tokens, output_tokens),
                )


class ApiClient:
    """POST JSON to {base_url}{path} with retries; `parse` turns the body into a result or
    raises Retry (a malformed body is worth another attempt)."""

    def __init__(
        self,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_retries: int = 5,
        timeout_s: float = 60.0,
        backoff_s: float = 1.0,
        max_response_bytes: int = 16 << 20,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) endpoint: {redact_url(base_url)}")
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env  # the variable's name; the key itself is never stored
        self.max_retries = max_retries
        self.timeout_s = timeout_s  # the whole request's deadline: connect, wait and read
        self.backoff_s = backoff_s
        self.max_response_bytes = max_response_bytes
        self.endpoint = redact_url(self.base_url)
        self.usage = Usage()
        self.lock = threading.Lock()  # guards self.usage across worker threads

    def post(self, path: str, body: dict[str, Any], parse: Callable[[bytes], T]) -> T | str:
        """The parsed answer, or a short error (str) that holds no secret after the retries."""
        attempt = 0
        while True:
            attempt += 1
            with self.lock:
                self.usage.requests += 1
            try:
                return parse(self._post(path, body))
            except Fatal as fatal:
                return self.failed(f"{fatal} (not retried)")
            except Retry as retry:
                if attempt > self.max_retries:
                    return self.failed(f"{retry.reason} after {attempt} attempts")
                wait = self._wait_s(attempt, retry.wait_s)
                log.info(
                    "%s: %s, retry %d/%d in %.2fs",
                    self.endpoint,
                    retry.reason,
                    attempt,
                    self.max_retries,
                    wait,
                )
                with self.lock:
                    self.usage.retries += 1
                time.sleep(wait)

    def _wait_s(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when it sent one, else exponential backoff with jitter."""
        if retry_after is not None:
            return min(retry_after, MAX_WAIT_S)
        # Jitter spreads the retries of concurrent workers that failed at the same moment.
        return min(self.backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5), MAX_WAIT_S)

    def failed(self, reason: str) -> str:
        """Count and log a failure; the reason, redacted, for the caller to keep."""
        reason = redact(reason, [os.environ.get(self.api_key_env, "")])
        log.warning("%s: request failed: %s", self.endpoint, reason)
        with self.lock:
            self.usage.failures += 1
            self.usage.errors[reason] += 1
        return reason

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if api_key := os.environ.get(self.api_key_env):
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def get_json(self, path: str) -> Any:
        """GET {base_url}{path} once (e.g. /models); None when it fails."""
        try:
            status, _, body = self._exchange("GET", path, None)
            return json.loads(body) if status == 200 else None
        except (Retry, Fatal, ValueError):
            return None

    def _exchange(
        self, method: str, path: str, body: bytes | None
    ) -> tuple[int, HTTPMessage, bytes]:
        """One request within the deadline: (status, headers, body), through urllib (so the
        environment's proxies apply). An error's body is read only as far as its message;
        a redirect is an answer like any other, never followed."""
        deadline = _Deadline(self.timeout_s)
        opener = urllib.request.build_opener(_NoRedirect, _Http(deadline), _Https(deadline))
        url = f"{self.base_url}{path}"
        request = urllib.request.Request(url, data=body, headers=self.headers(), method=method)
        late = Retry(f"timeout (the {self.timeout_s:g} s deadline passed)")
        with deadline:
            try:
                with opener.open(request, timeout=self.timeout_s) as response:
                    status, headers = response.status, response.headers
                    payload = read_limited(response, self.max_response_bytes)
            except urllib.error.HTTPError as error:
                status, headers = error.code, error.headers
                try:
                    payload = error.read(4 * MAX_ERROR_CHARS)  # its message is enough
                except (OSError, HTTPException):
                    payload = b""
                finally:
                    error.close()
            except (OSError, HTTPException) as error:  # URLError, timeouts, resets, bad lines
                if deadline.expired:
                    raise late from None
                reason = getattr(error, "reason", error)
                what = "timeout" if isinstance(reason, TimeoutError) else UNREACHABLE
                raise Retry(f"{what} ({type(reason).__name__})") from None
        if deadline.expired:  # the cut socket ended the body early
            raise late
        return status, headers, payload

    def _post(self, path: str, body: dict[str, Any]) -> bytes:
        """One POST; raises Retry or Fatal with a short reason that holds no secret."""
        status, headers, payload = self._exchange("POST", path, json.dumps(body).encode())
        if status < 300:
            return payload
        if status in (401, 403):
            raise AuthenticationError(
                f"{self.endpoint}: http {status}: check the key in ${self.api_key_env} "
                f"and its access to the model"
            )
        if status == 429 or status >= 500:
            raise Retry(f"http {status}", _retry_after(headers))
        # The server's reason, redacted (the body may echo the key) and cut short.
        message = error_message(payload)
        message = redact(message, [os.environ.get(self.api_key_env, "")])[:MAX_ERROR_CHARS]
        raise Fatal(f"http {status}: {message}" if message else f"http {status}")


def _retry_after(headers: HTTPMessage) -> float | None:
    """Retry-After in seconds; the HTTP-date form is rare enough to fall back to backoff."""
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None
