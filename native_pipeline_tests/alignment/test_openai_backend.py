from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from native_pipeline.alignment.backends.base import Sampling
from native_pipeline.alignment.backends.openai import OpenAIBackend
from native_pipeline.alignment.conduct import Message, wrap
from native_pipeline.api_client import AuthenticationError

KEY = "sk-test-DO-NOT-LEAK-0123456789"
PROMPT_TOKENS, COMPLETION_TOKENS = 100, 20


@dataclass
class Reply:
    """One scripted answer; the defaults make a normal completion."""

    status: int = 200
    delay_s: float = 0.0
    body: bytes | None = None  # sent as is instead of a completion: a malformed body
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"  # "length": cut off at max_tokens
    message: str | None = None  # the error message of a failure (default: one echoing the key)


def echo(request: dict) -> str:
    """The default answer: the user message, wrapped, so order can be checked."""
    return wrap(request["messages"][-1]["content"])


class FakeServer:
    """An OpenAI-compatible chat-completions server with scripted failures."""

    def __init__(self) -> None:
        self.script: list[Reply] = []  # replies for the next requests, in arrival order
        self.answer: Callable[[dict], str] = echo
        self.delay_s: Callable[[dict], float] = lambda request: 0.0
        self.requests: list[dict] = []  # {"headers": ..., "body": ...}
        self.in_flight = 0
        self.max_in_flight = 0
        self.stop = threading.Event()  # cuts long delays short at teardown
        self.lock = threading.Lock()
        self.url = ""
        self.max_model_len = 512

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))
        with self.lock:
            self.requests.append({"headers": dict(handler.headers), "body": body})
            reply = self.script.pop(0) if self.script else Reply()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.stop.wait(reply.delay_s or self.delay_s(body))
            if reply.body is not None:
                payload = reply.body
            elif reply.status == 200:
                payload = json.dumps(self.completion(body, reply.finish_reason)).encode()
            else:  # OpenAI's error bodies echo part of a bad key: the client must redact them
                auth = handler.headers.get("Authorization", "")
                message = reply.message or f"bad request, key {auth}"
                payload = json.dumps({"error": {"message": message}}).encode()
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:  # the client timed out and hung up
            pass
        finally:
            with self.lock:
                self.in_flight -= 1

    def completion(self, request: dict, finish_reason: str = "stop") -> dict:
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "model": request["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.answer(request)},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            },
        }


class Server(ThreadingHTTPServer):
    request_queue_size = 64  # the default 5 drops concurrent connects: 1 s SYN retries


@contextmanager
def serve() -> Iterator[FakeServer]:
    fake = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # vLLM's /models, with the context length
            if self.path != "/v1/models":
                self.send_error(404)
                return
            models = {"data": [{"id": "expert-model", "max_model_len": fake.max_model_len}]}
            payload = json.dumps(models).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            fake.handle(self)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    httpd = Server(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for one, at every test's teardown.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        fake.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with serve() as fake:
        yield fake


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_OPENAI_KEY", KEY)
    return KEY


def backend(server: FakeServer, **options: object) -> OpenAIBackend:
    defaults: dict = {"api_key_env": "TEST_OPENAI_KEY", "backoff_s": 0.01, "timeout_s": 5.0}
    return OpenAIBackend(server.url, "expert-model", **{**defaults, **options})


def chat(segment: str, system: str = "Rewrite under the code of conduct.") -> list[Message]:
    return [{"role": "system", "content": system}, {"role": "user", "content": segment}]


SAMPLING = Sampling(temperature=0.0, top_p=1.0, max_tokens=256, seed=7)


def test_batch_in_order_with_key_and_usage(server: FakeServer) -> None:
    # Later segments answer sooner, so the order of results cannot come from arrival order.
    server.delay_s = lambda request: 0.05 * (5 - int(request["messages"][-1]["content"][-1]))
    expert = backend(server, price_input_per_mtok=2.0, price_output_per_mtok=8.0)
    segments = [f"نص رقم {i}" for i in range(5)]

    completions = expert.chat([chat(s) for s in segments], SAMPLING)

    assert [c.text for c in completions] == [wrap(s) for s in segments]
    assert all(c.error is None and not c.cached for c in completions)
    assert all((c.input_tokens, c.output_tokens) == (100, 20) for c in completions)
    for request in server.requests:
        assert request["headers"]["Authorization"] == f"Bearer {KEY}"
        assert request["body"] == {
            "model": "expert-model",
            "messages": request["body"]["messages"],
            "temperature": 0.0,
            "top_p": 1.0,
            "max_tokens": 256,
            "seed": 7,
        }
    assert expert.usage.as_metadata() == {
        "requests": 5,
        "cache_hits": 0,
        "retries": 0,
        "failures": 0,
        "input_tokens": 500,
        "output_tokens": 100,
        "cost_usd": pytest.approx(5 * (100 * 2.0 + 20 * 8.0) / 1e6),
        "truncated": 0,
        "errors": {},
    }


def test_no_key_for_a_local_server(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_OPENAI_KEY")
    [completion] = backend(server).chat([chat("نص")], SAMPLING)
    assert completion.error is None
    assert "Authorization" not in server.requests[0]["headers"]


def test_empty_batch_sends_nothing(server: FakeServer) -> None:
    assert backend(server).chat([], SAMPLING) == []
    assert server.requests == []


@pytest.mark.parametrize(
    "failure",
    [
        Reply(status=429, headers={"Retry-After": "0"}),
        Reply(status=500),
        Reply(status=503),
        Reply(delay_s=3.0),  # longer than the client's timeout
        Reply(body=b"<html>502 Bad Gateway</html>"),
        Reply(body=b'{"id": "x", "object": "chat.completion"}'),
        Reply(body=b'{"choices": [{"message": {"role": "assistant", "content": null}}]}'),
    ],
    ids=["429", "500", "503", "timeout", "not-json", "no-choices", "null-content"],
)
def test_transient_failure_is_retried(server: FakeServer, failure: Reply) -> None:
    server.script = [failure]
    expert = backend(server, timeout_s=0.5)

    [completion] = expert.chat([chat("نص")], SAMPLING)

    assert completion.error is None
    assert completion.text == wrap("نص")
    assert len(server.requests) == 2
    assert (expert.usage.requests, expert.usage.retries, expert.usage.failures) == (2, 1, 0)
    assert expert.usage.input_tokens == PROMPT_TOKENS  # the failed attempt paid nothing


def test_retry_after_wins_over_backoff(server: FakeServer) -> None:
    server.script = [Reply(status=429, headers={"Retry-After": "0"})] * 2
    started = time.monotonic()
    [completion] = backend(server, backoff_s=30.0).chat([chat("نص")], SAMPLING)
    assert completion.error is None
    assert time.monotonic() - started < 15  # a 30 s backoff would have been slept


def test_persistent_failure_becomes_an_error(server: FakeServer) -> None:
    server.script = [Reply(status=500)] * 10
    expert = backend(server, max_retries=3)

    [completion] = expert.chat([chat("نص")], SAMPLING)

    assert completion.text == ""
    assert completion.error == "http 500 after 4 attempts"
    assert len(server.requests) == 4
    assert (expert.usage.retries, expert.usage.failures, expert.usage.cost_usd) == (3, 1, 0.0)


def test_one_failure_does_not_spoil_the_batch(server: FakeServer) -> None:
    server.script = [Reply(status=400)]
    completions = backend(server, concurrency=1).chat([chat("أ"), chat("ب")], SAMPLING)
    assert [c.error for c in completions] == ["http 400: bad request, key *** (not retried)", None]
    assert completions[1].text == wrap("ب")


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_the_batch_and_is_not_retried(server: FakeServer, status) -> None:
    server.script = [Reply(status=status)] * 10
    expert = backend(server)

    with pytest.raises(AuthenticationError, match=f"http {status}: check the key") as raised:
        expert.chat([chat("نص")], SAMPLING)

    assert KEY not in str(raised.value)
    assert len(server.requests) == 1
    assert expert.usage.retries == 0


def test_redirects_are_not_followed(server: FakeServer) -> None:
    server.script = [Reply(status=302, headers={"Location": server.url + "/chat/completions"})]
    [completion] = backend(server).chat([chat("نص")], SAMPLING)
    assert completion.error == "http 302: bad request, key *** (not retried)"
    assert len(server.requests) == 1


def test_connection_refused_becomes_an_error() -> None:
    with serve() as gone:
        url = gone.url  # a port nobody listens on once the server is closed
    expert = OpenAIBackend(url, "expert-model", max_retries=1, backoff_s=0.01)
    [completion] = expert.chat([chat("نص")], SAMPLING)
    assert completion.error == "connection error (ConnectionRefusedError) after 2 attempts"


def test_cache_serves_a_rerun_for_free(server: FakeServer, tmp_path) -> None:
    prices = {"price_input_per_mtok": 2.0, "price_output_per_mtok": 8.0}
    conversations = [chat("أ"), chat("ب")]
    first = backend(server, cache_dir=tmp_path, **prices).chat(conversations, SAMPLING)

    rerun = backend(server, cache_dir=tmp_path, **prices)  # a new process, the same cache
    second = rerun.chat(conversations, SAMPLING)

    assert len(server.requests) == 2
    assert (tmp_path / "expert_cache.sqlite").exists()
    assert [c.text for c in second] == [c.text for c in first]
    assert all(c.cached and (c.input_tokens, c.output_tokens) == (100, 20) for c in second)
    assert rerun.usage.as_metadata() == {
        "requests": 0,
        "cache_hits": 2,
        "retries": 0,
        "failures": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "truncated": 0,
        "errors": {},
    }


@pytest.mark.parametrize(
    "changed",
    [
        (chat("أ"), SAMPLING.with_seed(8)),
        (chat("أ", system="Another code of conduct."), SAMPLING),
        (chat("ب"), SAMPLING),
    ],
    ids=["seed", "system-prompt", "segment"],
)
def test_cache_misses_on_any_change(server: FakeServer, tmp_path, changed) -> None:
    backend(server, cache_dir=tmp_path).chat([chat("أ")], SAMPLING)
    messages, sampling = changed
    [completion] = backend(server, cache_dir=tmp_path).chat([messages], sampling)
    assert not completion.cached
    assert len(server.requests) == 2


def test_failures_are_not_cached(server: FakeServer, tmp_path) -> None:
    server.script = [Reply(status=500)]
    [failed] = backend(server, cache_dir=tmp_path, max_retries=0).chat([chat("أ")], SAMPLING)
    [retried] = backend(server, cache_dir=tmp_path, max_retries=0).chat([chat("أ")], SAMPLING)
    assert failed.error == "http 500 after 1 attempts"
    assert retried.error is None and not retried.cached
    assert len(server.requests) == 2


def test_cache_is_safe_under_concurrency(server: FakeServer, tmp_path) -> None:
    conversations = [chat(f"نص {i}") for i in range(40)]
    first = backend(server, cache_dir=tmp_path, concurrency=8).chat(conversations, SAMPLING)
    second = backend(server, cache_dir=tmp_path, concurrency=8).chat(conversations, SAMPLING)
    assert [c.text for c in second] == [c.text for c in first]
    assert all(c.cached for c in second)
    assert len(server.requests) == 40


def test_concurrency_limit(server: FakeServer) -> None:
    server.delay_s = lambda request: 0.2
    expert = backend(server, concurrency=2)
    completions = expert.chat([chat(f"نص {i}") for i in range(6)], SAMPLING)
    assert all(c.error is None for c in completions)
    assert server.max_in_flight == 2


def test_key_never_leaks(server: FakeServer, tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = [
        Reply(status=429, headers={"Retry-After": "0"}),
        Reply(status=500),
        Reply(delay_s=3.0),
        Reply(body=b"not json " + KEY.encode()),
        Reply(status=400),
    ]
    expert = backend(server, concurrency=1, max_retries=1, timeout_s=0.5, cache_dir=tmp_path)

    completions = expert.chat([chat("أ"), chat("ب"), chat("ج")], SAMPLING)

    assert [c.error for c in completions] == [
        "http 500 after 2 attempts",
        "malformed body after 2 attempts",
        "http 400: bad request, key *** (not retried)",
    ]
    assert caplog.records  # the retries and failures were logged
    reported = [
        repr(expert),
        str(expert.identity()),
        str(expert.usage.as_metadata()),
        *(str(c) for c in completions),
        caplog.text,
        *(str(record.__dict__) for record in caplog.records),
    ]
    for text in reported:
        assert KEY not in text


def test_identity_drops_credentials_from_the_url() -> None:
    expert = OpenAIBackend("https://user:url-secret@llm.example:8443/v1/?api-key=url-secret", "m")
    assert expert.identity() == {
        "backend": "openai",
        "model": "m",
        "checkpoint": "https://llm.example:8443/v1",
    }
    assert "url-secret" not in repr(expert)
    with pytest.raises(ValueError, match="not an http"):
        OpenAIBackend("file:///etc/v1", "m")


def test_a_conversation_repeated_in_a_batch_is_asked_once(server: FakeServer, tmp_path) -> None:
    expert = backend(server, concurrency=4, cache_dir=tmp_path)
    completions = expert.chat([chat("نص مكرر"), chat("نص آخر"), chat("نص مكرر")], Sampling())
    assert len(server.requests) == 2
    assert completions[0].text == completions[2].text == wrap("نص مكرر")
    assert [c.cached for c in completions] == [False, False, True]
    assert expert.usage.cache_hits == 1 and expert.usage.input_tokens == 2 * PROMPT_TOKENS


def test_a_cut_off_output_is_marked_counted_and_not_cached(server: FakeServer, tmp_path) -> None:
    server.script = [Reply(finish_reason="length")]
    expert = backend(server, cache_dir=tmp_path)
    [cut] = expert.chat([chat("أ")], SAMPLING)
    assert cut.truncated and cut.error is None and expert.usage.truncated == 1
    [again] = backend(server, cache_dir=tmp_path).chat([chat("أ")], SAMPLING)
    assert not again.truncated and not again.cached  # asked again, then cached
    assert len(server.requests) == 2


def test_the_servers_reason_for_a_refusal_is_kept_and_redacted(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = "max_tokens=1024 cannot be greater than max_model_len=512"
    server.script = [
        Reply(status=400, message=reason),
        Reply(status=400, message=f"bad key {KEY} for https://user:pw@llm.example/v1?api_key=x"),
    ]
    expert = backend(server, concurrency=1)
    completions = expert.chat([chat("أ"), chat("ب")], SAMPLING)
    assert completions[0].error == f"http 400: {reason} (not retried)"
    leaked = completions[1].error or ""
    assert KEY not in leaked and "pw" not in leaked and "api_key=x" not in leaked
    assert (
        leaked == "http 400: bad key *** for https://***@llm.example/v1?api_key=*** (not retried)"
    )
    assert expert.usage.as_metadata()["errors"] == {
        completions[0].error: 1,
        completions[1].error: 1,
    }


def _word_tokenizer(folder) -> None:
    """A tokenizer of whitespace words with a chat template: one token per word."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]")
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    tokenizer.save_pretrained(folder)


def test_a_prompt_too_long_for_the_context_is_not_sent(server: FakeServer, tmp_path) -> None:
    _word_tokenizer(tmp_path)
    expert = backend(server, tokenizer=tmp_path)  # the context comes from the server's /models
    short, long = chat("نص قصير"), chat(" ".join(["كلمة"] * 300))
    completions = expert.chat([short, long], Sampling(max_tokens=256))
    assert completions[0].error is None
    assert completions[1].error == (
        "prompt of 306 tokens + max_tokens 256 exceeds the model's context of 512 tokens (not sent)"
    )
    assert len(server.requests) == 1 and expert.context_tokens == 512
    told = backend(server, tokenizer=tmp_path, context_tokens=4096)
    assert told.chat([long], Sampling(max_tokens=256))[0].error is None
