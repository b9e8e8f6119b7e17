from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from native_pipeline.settings import ConfigError, HarmSettings, load_settings
from native_pipeline.text.harm import CATEGORIES, make_scorer
from native_pipeline.text.harm.remote import MODERATION_MAP

KEY = "sk-test-harm-0123456789"
TEXT = "نص للتقييم"


class Fake:
    """A local OpenAI-compatible server: /v1/moderations and /v1/chat/completions."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, str | None]] = []
        self.fail_first = 0  # answer this many requests with a 500 first
        self.judge_reply = ""

    def answer(self, path: str, body: dict) -> dict:
        if path.endswith("/moderations"):
            scores = {name: 0.0 for names in MODERATION_MAP.values() for name in names}
            scores |= {"hate": 0.7, "hate/threatening": 0.9, "harassment": 0.2, "sexual": 0.01}
            return {"results": [{"flagged": True, "category_scores": scores}]}
        return {"choices": [{"message": {"content": self.judge_reply}}]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Fake, str]]:
    monkeypatch.setenv("TEST_HARM_KEY", KEY)
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.calls.append((self.path, body, self.headers.get("Authorization")))
            if state.fail_first:
                state.fail_first -= 1
                self.send_error(500, f"boom {KEY}")  # an error body that echoes the key
                return
            data = json.dumps(state.answer(self.path, body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _settings(url: str, backend: str, tmp_path: Path, **extra: object) -> HarmSettings:
    """The backend alone, without the written rules (tested in test_harm_lexicon.py)."""
    return HarmSettings(
        lexicon_score=0,
        backend=backend,
        base_url=url,
        model="omni-moderation-latest" if backend == "moderation_api" else "judge",
        api_key_env="TEST_HARM_KEY",
        cache_dir=tmp_path,
        **extra,
    )


def test_moderation_api_folds_categories_retries_and_caches(
    fake: tuple[Fake, str], tmp_path: Path
) -> None:
    state, url = fake
    state.fail_first = 1
    scorer = make_scorer(_settings(url, "moderation_api", tmp_path))
    scorer.client.backoff_s = 0.0
    (scores,) = scorer.score([TEXT])
    assert scores["harm_hate"] == 0.9  # the highest of hate and hate/threatening
    assert scores["harm_harassment"] == 0.2
    assert scores["harm_sexual"] == 0.01 and scores["harm_violence"] == 0.0
    assert scores["harm_max"] == 0.9
    assert scorer.categories == CATEGORIES
    assert len(state.calls) == 2 and scorer.usage.retries == 1
    path, body, auth = state.calls[-1]
    assert path == "/v1/moderations" and body == {"model": "omni-moderation-latest", "input": TEXT}
    assert auth == f"Bearer {KEY}"
    # A repeated text in a batch is asked once; a rerun is served from the cache on disk.
    assert scorer.score([TEXT, TEXT]) == [scores, scores]
    assert len(state.calls) == 2 and scorer.usage.cache_hits >= 1


def test_moderation_api_failure_raises_without_the_key(
    fake: tuple[Fake, str], tmp_path: Path
) -> None:
    state, url = fake
    state.fail_first = 10
    scorer = make_scorer(_settings(url, "moderation_api", tmp_path, max_retries=1))
    scorer.client.backoff_s = 0.0
    with pytest.raises(RuntimeError, match="http 500 after 2 attempts") as failure:
        scorer.score(["نص آخر"])
    assert KEY not in str(failure.value)


def test_llm_judge_sends_the_rubric_and_reads_a_fenced_answer(
    fake: tuple[Fake, str], tmp_path: Path
) -> None:
    state, url = fake
    answer = {"harm_hate": 0.95, "harm_harassment": 0.4, "harm_sexual": 0, "harm_violence": 0.6}
    state.judge_reply = f"```json\n{json.dumps(answer)}\n```"
    (scores,) = make_scorer(_settings(url, "llm_judge", tmp_path)).score([TEXT])
    assert scores == {**answer, "harm_max": 0.95}
    path, body, _ = state.calls[0]
    assert path == "/v1/chat/completions"
    assert body["messages"][0]["role"] == "system" and "harm_hate" in body["messages"][0]["content"]
    assert body["messages"][1]["content"] == TEXT


def test_llm_judge_retries_an_answer_without_scores(fake: tuple[Fake, str], tmp_path: Path) -> None:
    state, url = fake
    state.judge_reply = "I cannot rate this."
    scorer = make_scorer(_settings(url, "llm_judge", tmp_path, max_retries=2))
    scorer.client.backoff_s = 0.0
    with pytest.raises(RuntimeError, match="malformed body after 3 attempts"):
        scorer.score(["نص ثالث"])


def test_llm_judge_defaults_to_the_expert_endpoint(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "alignment:\n  expert: {backend: openai, base_url: 'http://127.0.0.1:9/v1', model: big,"
        " api_key_env: EXPERT_KEY}\nharm: {backend: llm_judge}\n"
    )
    harm = load_settings(config).harm
    assert (harm.base_url, harm.model, harm.api_key_env) == (
        "http://127.0.0.1:9/v1",
        "big",
        "EXPERT_KEY",
    )


def test_remote_backends_need_an_endpoint() -> None:
    with pytest.raises(ValueError, match="needs base_url and model"):
        make_scorer(HarmSettings(backend="moderation_api"))


@pytest.mark.parametrize(
    "harm, missing",
    [
        ("{backend: moderation_api, model: m}", ["base_url"]),
        ("{backend: moderation_api, base_url: 'http://127.0.0.1:9/v1'}", ["model"]),
        (
            "{backend: moderation_api, base_url: 'http://h/v1', model: m, api_key_env: ''}",
            ["api_key_env"],
        ),
        ("{backend: llm_judge}", ["base_url", "model"]),  # and the expert has no endpoint
    ],
)
def test_a_remote_backend_that_cannot_work_is_refused_at_load(
    tmp_path: Path, harm: str, missing: list[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"harm: {harm}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert [line.split(": ")[1] for line in str(refused.value).splitlines()] == [
        f"harm.{key}" for key in missing
    ]


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 3-label BERT and a word-piece tokenizer over a few Arabic words."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    words = ["نص", "للتقييم", "يا", "غبي", "حمار", "كلب"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "NOT_OFF", 1: "OFF", 2: "HS"},
        label2id={"NOT_OFF": 0, "OFF": 1, "HS": 2},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def test_hf_classifier_maps_labels_and_batches_like_single_texts(tiny_classifier: Path) -> None:
    settings = HarmSettings(
        backend="hf_classifier",
        model=str(tiny_classifier),
        batch_size=2,
        labels={"OFF": "harm_harassment", "HS": "harm_hate"},
        lexicon_score=0,  # the classifier alone
    )
    scorer = make_scorer(settings)
    assert scorer.categories == ("harm_hate", "harm_harassment")
    texts = ["نص", "يا غبي يا حمار يا كلب نص للتقييم", "كلب"]
    batched = scorer.score(texts)
    alone = [scorer.score([t])[0] for t in texts]
    for b, a in zip(batched, alone, strict=True):
        assert b == pytest.approx(a, abs=1e-5)  # padding changes nothing
        assert b["harm_sexual"] == b["harm_violence"] == 0.0
        # softmax over three labels: the two harm labels share at most the whole mass
        assert 0.0 < b["harm_hate"] + b["harm_harassment"] < 1.0
        assert b["harm_max"] == max(b["harm_hate"], b["harm_harassment"])


def test_hf_classifier_refuses_labels_the_model_lacks(tiny_classifier: Path) -> None:
    with pytest.raises(ValueError, match="not among them"):
        make_scorer(
            HarmSettings(
                backend="hf_classifier", model=str(tiny_classifier), labels={"TOXIC": "harm_hate"}
            )
        )
    with pytest.raises(ValueError, match="unknown categories"):
        make_scorer(
            HarmSettings(backend="hf_classifier", model=str(tiny_classifier), labels={"HS": "hate"})
        )


def test_hf_classifier_on_a_gpu_scores_as_on_the_cpu(tiny_classifier: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no GPU here")
    labels = {"OFF": "harm_harassment", "HS": "harm_hate"}
    texts = ["نص", "يا غبي يا حمار يا كلب نص للتقييم"]
    cpu, gpu = (
        make_scorer(
            HarmSettings(
                backend="hf_classifier", model=str(tiny_classifier), labels=labels, device=device
            )
        ).score(texts)
        for device in ("cpu", "cuda")
    )
    for a, b in zip(cpu, gpu, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
