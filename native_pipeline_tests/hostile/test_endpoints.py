"""Hostile and faulty endpoints on 127.0.0.1 behind the remote harm scorer, the expert and the
cleaning step: a refused key, a server error on every call, answers too large or trickled a byte
at a time, scores that are NaN, out of range or missing. None of them may read as a score, and
none that is about the backend rather than one document may end in a step that "succeeds" with
every document removed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from native_pipeline.alignment.backends.base import Sampling
from native_pipeline.alignment.backends.openai import OpenAIBackend
from native_pipeline.api_client import ApiClient, AuthenticationError, StepFailure
from native_pipeline.settings import HarmSettings
from native_pipeline.text.blocks import Document
from native_pipeline.text.harm import HarmScorer, make_scorer
from native_pipeline.text.harm.remote import MODERATION_MAP
from native_pipeline.text.pipeline import LIMITS, Pipeline

KEY = "sk-test-hostile-0123456789"
ENV = "TEST_HOSTILE_KEY"
ALL_SCORES = {name: 0.01 for names in MODERATION_MAP.values() for name in names}


@dataclass
class Endpoint:
    """What the fake server answers every request with."""

    status: int = 200
    scores: dict = field(default_factory=lambda: dict(ALL_SCORES))
    body: bytes | None = None  # sent as is
    size: int = 0  # an answer of this many bytes (streamed, with its Content-Length)
    trickle_s: float = 0.0  # a byte every trickle_s seconds
    length: bool = True  # send a Content-Length (else the body ends when the connection does)
    held: threading.Event | None = None  # answer only once this is set
    paths: list[str] = field(default_factory=list)  # as requested (absolute through a proxy)
    requests: int = 0
    sent: int = 0  # bytes of the body the server managed to send
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        if self.status != 200:
            return json.dumps({"error": {"message": f"refused, key {KEY}"}}).encode()
        return json.dumps({"results": [{"category_scores": self.scores}]}).encode()


@contextmanager
def endpoint(**answer: object) -> Iterator[Endpoint]:
    state = Endpoint(**answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.requests += 1
                state.paths.append(self.path)
            if state.held is not None:
                state.held.wait(600)
            payload = state.payload()
            size = state.size or len(payload)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            if state.length:
                self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                if state.size:  # a huge answer, 1 MiB at a time
                    chunk = b" " * (1 << 20)
                    for _ in range(size >> 20):
                        self.wfile.write(chunk)
                        state.sent += len(chunk)
                elif state.trickle_s:
                    for byte in payload:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        state.sent += 1
                        time.sleep(state.trickle_s)
                else:
                    self.wfile.write(payload)
            except OSError:  # the client gave up on the answer
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


def harm(url: str, tmp_path: Path, **extra: object) -> HarmSettings:
    options = {"max_retries": 1, "timeout_s": 5.0, **extra}
    return HarmSettings(
        backend="moderation_api",
        base_url=url,
        model="omni-moderation-latest",
        api_key_env=ENV,
        cache_dir=tmp_path,
        lexicon_score=0,
        **options,
    )


def scorer(url: str, tmp_path: Path, **extra: object):
    built = make_scorer(harm(url, tmp_path, **extra))
    built.client.backoff_s = 0.0
    return built


@pytest.mark.parametrize(
    "scores",
    [
        ALL_SCORES | {"hate": float("nan")},
        ALL_SCORES | {"violence": float("inf")},
        ALL_SCORES | {"harassment": 7.5},
        ALL_SCORES | {"sexual": -3},
        ALL_SCORES | {"self-harm": 1e9},
        ALL_SCORES | {"hate": "high"},
        {k: v for k, v in ALL_SCORES.items() if not k.startswith("violence")},
        {},
    ],
    ids=["nan", "infinite", "7.5", "-3", "1e9", "text", "no-violence", "no-categories"],
)
def test_a_score_that_is_not_a_probability_is_retried_then_stops_the_step(
    tmp_path: Path, scores: dict
) -> None:
    failure = pytest.raises(StepFailure, match=r"malformed body \(.*\) after 2 attempts")
    with endpoint(scores=scores) as server, failure:
        scorer(server.url, tmp_path).score(["نص"])
    assert server.requests == 2  # retried once, never clipped or read as 0


def test_a_valid_answer_is_a_score(tmp_path: Path) -> None:
    with endpoint(scores=ALL_SCORES | {"hate/threatening": 0.8, "violence": 1}) as server:
        (scores,) = scorer(server.url, tmp_path).score(["نص"])
    assert scores["harm_hate"] == 0.8 and scores["harm_violence"] == 1.0
    assert scores["harm_max"] == 1.0


def test_an_oversized_answer_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    failure = pytest.raises(StepFailure, match="answer over 1048576 bytes")
    with endpoint(size=64 << 20) as server, failure:
        scorer(server.url, tmp_path, max_retries=0).score(["نص"])
    assert server.sent < 8 << 20  # refused by its Content-Length, not read to the end


def test_an_answer_without_a_length_is_cut_at_the_limit() -> None:
    with endpoint(size=64 << 20, length=False) as server:
        client = ApiClient(server.url, ENV, max_retries=0, max_response_bytes=1 << 20)
        failure = client.post("/moderations", {}, json.loads)
    assert failure == "answer over 1048576 bytes (not retried)"
    assert server.sent < 8 << 20


def test_a_trickled_answer_cannot_outlast_the_deadline(tmp_path: Path) -> None:
    """A byte every 0.05 s: each socket read returns in time, the whole answer would take
    about 30 s; the request's deadline of 1 s ends it."""
    with endpoint(trickle_s=0.05) as server:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match=r"the 1 s deadline passed\) after 1 attempts"):
            scorer(server.url, tmp_path, max_retries=0, timeout_s=1.0).score(["نص"])
        waited = time.monotonic() - started
    assert 0 < server.sent < len(Endpoint().payload())
    assert waited < 10


def test_the_expert_shares_the_limits(tmp_path: Path) -> None:
    with endpoint(size=64 << 20) as server:
        expert = OpenAIBackend(
            server.url, "m", ENV, max_retries=0, max_response_bytes=1 << 20, backoff_s=0.0
        )
        [completion] = expert.chat([[{"role": "user", "content": "نص"}]], Sampling())
    assert completion.error and completion.error.startswith("answer over 1048576 bytes")
    with endpoint(trickle_s=0.05) as server:
        expert = OpenAIBackend(server.url, "m", ENV, max_retries=0, timeout_s=1.0)
        [completion] = expert.chat([[{"role": "user", "content": "نص"}]], Sampling())
    assert "deadline passed" in (completion.error or "")


def test_requests_go_through_the_environments_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with endpoint() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url.removesuffix("/v1"))
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        client = ApiClient("http://moderation.invalid/v1", ENV, max_retries=0)
        assert client.post("/moderations", {}, json.loads)["results"]
    assert proxy.paths == ["http://moderation.invalid/v1/moderations"]


def test_the_cache_is_kept_per_endpoint(tmp_path: Path) -> None:
    """Two servers serving a model of the same name: the second is asked, not the cache."""
    with endpoint(scores=ALL_SCORES | {"hate": 0.9}) as first:
        (one,) = scorer(first.url, tmp_path).score(["نص"])
    with endpoint(scores=ALL_SCORES | {"hate": 0.1}) as second:
        (two,) = scorer(second.url, tmp_path).score(["نص"])
        (again,) = scorer(second.url, tmp_path, max_retries=2).score(["نص"])
    assert (one["harm_hate"], two["harm_hate"], again["harm_hate"]) == (0.9, 0.1, 0.1)
    assert second.requests == 1  # the rerun against the same endpoint is served from the cache


def _clean(settings: HarmSettings, n: int = 6) -> tuple[list[str], list[tuple[str, str]]]:
    """Run the harm block on two workers, as cleaning does; (kept ids, limits removals)."""
    docs = [Document(f"d{i}", f"نص رقم {i}") for i in range(n)]
    pipeline = Pipeline([HarmScorer(settings=settings)], [], workers=2, doc_timeout_s=60)
    kept, removed = [], []
    for batch_kept, decisions in pipeline.run([docs[: n // 2], docs[n // 2 :]]):
        kept += [d.doc_id for d in batch_kept]
        removed += [(d.doc_id, d.reason) for d in decisions if d.stage == LIMITS]
    return kept, removed


def test_a_refused_key_fails_cleaning_on_two_workers(tmp_path: Path) -> None:
    refused = pytest.raises(StepFailure, match=f"http 401: check the key in \\${ENV}")
    with endpoint(status=401) as server, refused as failed:
        _clean(harm(server.url, tmp_path))
    assert KEY not in str(failed.value)
    assert issubclass(AuthenticationError, StepFailure)


def test_an_unreachable_backend_fails_cleaning_on_two_workers(tmp_path: Path) -> None:
    with endpoint() as gone:
        url = gone.url  # nobody listens there once it is closed
    with pytest.raises(StepFailure, match="connection error"):
        _clean(harm(url, tmp_path, max_retries=0))


def test_the_same_error_for_every_document_fails_cleaning(tmp_path: Path) -> None:
    failure = pytest.raises(StepFailure, match="all 3 documents of a batch failed with: .*500")
    with endpoint(status=500) as server, failure:
        _clean(harm(server.url, tmp_path, max_retries=0))


def test_a_healthy_endpoint_cleans_on_two_workers(tmp_path: Path) -> None:
    with endpoint() as server:
        kept, removed = _clean(harm(server.url, tmp_path))
    assert kept == [f"d{i}" for i in range(6)] and removed == []
