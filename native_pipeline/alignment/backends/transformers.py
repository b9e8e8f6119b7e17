"""Chat completions from a local Hugging Face model with `generate`: small models, CPU or GPU.

The backend of the trained worker and of the tests: no server, batched left-padded generation,
greedy at temperature 0, seeded sampling otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import torch

from native_pipeline.alignment.backends.base import Completion, Sampling, checkpoint_hash
from native_pipeline.alignment.conduct import Message
from native_pipeline.lm.device import pick_device, weights_dtype


class TransformersBackend:
    def __init__(
        self,
        model_path: Path | str,
        batch_size: int = 8,
        device: str | None = None,
        dtype: str = "auto",
    ) -> None:
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self.device = pick_device(device)
        self.dtype: torch.dtype = getattr(torch, weights_dtype(self.device, dtype))

    @cached_property
    def _checkpoint(self) -> str:
        return checkpoint_hash(self.model_path)

    def identity(self) -> dict[str, str]:
        return {
            "backend": "transformers",
            "model": str(self.model_path),
            "checkpoint": self._checkpoint,
        }

    @cached_property
    def _loaded(self):  # -> (PreTrainedTokenizer, PreTrainedModel), loaded on first use
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model_path, padding_side="left")
        if tokenizer.pad_token_id is None:  # padded positions are masked, any id does
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=self.dtype)
        return tokenizer, model.to(self.device).eval()

    def _stop_ids(self) -> list[int]:
        """The tokenizer's end token and the model's: chat templates may end turns with either."""
        tokenizer, model = self._loaded
        configured = model.generation_config.eos_token_id
        ids = configured if isinstance(configured, list) else [configured]
        return sorted({i for i in [*ids, tokenizer.eos_token_id] if i is not None})

    def chat(self, conversations: Sequence[list[Message]], sampling: Sampling) -> list[Completion]:
        completions: list[Completion] = []
        for start in range(0, len(conversations), self.batch_size):
            completions += self._generate(conversations[start : start + self.batch_size], sampling)
        return completions

    @torch.inference_mode()
    def _generate(self, batch: Sequence[list[Message]], sampling: Sampling) -> list[Completion]:
        tokenizer, model = self._loaded
        prompts = [
            tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in batch
        ]
        # The template already writes any special tokens the model expects (BOS and the like).
        inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        stop = self._stop_ids()
        if sampling.temperature > 0:
            # top_k=0 turns off a top-k that the model's generation config may carry.
            mode = dict(
                do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0
            )
        else:
            mode = dict(do_sample=False)
        torch.manual_seed(sampling.seed)
        output = model.generate(
            **inputs,
            **mode,
            max_new_tokens=sampling.max_tokens,
            eos_token_id=stop,
            pad_token_id=tokenizer.pad_token_id,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        completions = []
        for row, tokens in enumerate(new_tokens):
            # A finished row is padded after its end token: count up to the end token.
            ends = [i for i, token in enumerate(tokens) if token in stop]
            n = ends[0] + 1 if ends else len(tokens)
            completions.append(
                Completion(
                    text=tokenizer.decode(tokens[:n], skip_special_tokens=True),
                    input_tokens=int(inputs["attention_mask"][row].sum()),
                    output_tokens=n,
                    truncated=not ends,  # stopped at max_new_tokens, not at an end token
                )
            )
        return completions
