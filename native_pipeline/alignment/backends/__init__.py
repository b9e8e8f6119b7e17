"""Rewriting backends, chosen by name in the config: policy, openai, transformers, vllm, and
pairs_file (an expert's rewrites read from a file)."""

from __future__ import annotations

from pathlib import Path

from native_pipeline.alignment.backends.base import ChatBackend, ChatRewriter, Rewriter
from native_pipeline.alignment.conduct import CodeOfConduct
from native_pipeline.settings import BackendSettings, HarmSettings


def chat_backend(
    settings: BackendSettings, cache_dir: Path | None = None, default_model: Path | None = None
) -> ChatBackend:
    """The LLM behind `settings`; `default_model` serves transformers and vllm when the config
    names no model (the trained alignment worker)."""
    if settings.backend == "openai":
        from native_pipeline.alignment.backends.openai import OpenAIBackend

        if not settings.base_url or not settings.model:
            raise ValueError("the openai backend needs base_url and model in the config")
        return OpenAIBackend(
            settings.base_url,
            settings.model,
            api_key_env=settings.api_key_env,
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            timeout_s=settings.timeout_s,
            cache_dir=cache_dir,
            price_input_per_mtok=settings.price_input_per_mtok,
            price_output_per_mtok=settings.price_output_per_mtok,
            tokenizer=settings.tokenizer,
            context_tokens=settings.context_tokens,
            max_response_bytes=settings.max_response_bytes,
        )
    model = Path(settings.model) if settings.model else default_model
    if model is None:
        raise ValueError(f"the {settings.backend} backend needs a model folder")
    if settings.backend == "transformers":
        from native_pipeline.alignment.backends.transformers import TransformersBackend

        return TransformersBackend(model, batch_size=settings.batch_size)
    if settings.backend == "vllm":
        from native_pipeline.alignment.backends.vllm import VLLMBackend

        return VLLMBackend(model, **settings.engine.model_dump(exclude_defaults=True))
    raise ValueError(f"{settings.backend} is not a chat backend")


def make_rewriter(
    settings: BackendSettings,
    conduct: CodeOfConduct,
    cache_dir: Path | None = None,
    default_model: Path | None = None,
    harm: HarmSettings | None = None,
) -> Rewriter:
    """`harm`: the harm scorer the policy rewriter removes sentences with."""
    if settings.backend == "policy":
        from native_pipeline.alignment.backends.policy import PolicyRewriter
        from native_pipeline.text.harm import make_scorer

        return PolicyRewriter(settings.harm_threshold, make_scorer(harm))
    if settings.backend == "pairs_file":
        from native_pipeline.alignment.backends.pairs_file import PairsFileRewriter

        return PairsFileRewriter(settings.pairs_path)
    return ChatRewriter(chat_backend(settings, cache_dir, default_model), conduct)
