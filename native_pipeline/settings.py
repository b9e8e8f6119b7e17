"""One configuration file for the whole platform.

`native_pipeline/config.yaml` is the default; `NATIVE_PIPELINE_CONFIG` points at another file and
`NATIVE_PIPELINE_DATA_ROOT` overrides the data root alone (handy in tests and CI). Relative paths
are resolved against the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from native_pipeline.sample import SAMPLE_CRAWL

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CleaningSettings(_Strict):
    batch_size: int = Field(256, ge=1)
    doc_timeout_s: float = Field(
        60.0, gt=0, description="a document's time limit in a cleaning worker; a batch gets this"
    )
    blocks: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="constructor arguments per block name"
    )


class SegmentSettings(_Strict):
    max_tokens: int = Field(256, ge=8, description="tokens per rewrite unit at most")
    tokenizer: Path | None = Field(
        None, description="tokenizer.json or a model folder; none: words and punctuation marks"
    )


class SeedSettings(_Strict):
    size: int = Field(64, ge=1)
    strategy: Literal["random", "perplexity_high", "perplexity_low"] = "random"
    seed: int = 0
    # The perplexity strategies rank a random pool this many times the seed size, so that a
    # corpus of millions of segments is not scored whole.
    pool_factor: int = Field(20, ge=1)


class PerplexitySettings(_Strict):
    order: int = Field(5, ge=1)
    reference: Path | None = Field(
        None, description="a UTF-8 text file to fit on; none: half of the corpus's segments"
    )
    max_chars: int = Field(5_000_000, ge=1)


class SamplingSettings(_Strict):
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int = 0


class BackendSettings(_Strict):
    """A rewriter: `policy`, `openai` (an HTTP endpoint), `transformers` or `vllm`."""

    backend: Literal["policy", "openai", "transformers", "vllm"] = "policy"
    model: str | None = Field(
        None,
        description="openai: the model name; transformers/vllm: a model folder "
        "(none: the trained alignment worker)",
    )
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1)
    max_retries: int = Field(5, ge=0)
    timeout_s: float = Field(120.0, gt=0)
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    harm_threshold: float = Field(0.8, description="policy: sentences this harmful are removed")
    batch_size: int = Field(8, ge=1, description="transformers: conversations per generate call")
    engine: dict[str, Any] = Field(default_factory=dict, description="vllm: LLM(...) arguments")
    sampling: SamplingSettings = SamplingSettings()


class WorkerSettings(_Strict):
    base_model: Path | None = Field(
        None, description="a local Hugging Face model folder; none: a tiny Llama from a config"
    )
    tiny: dict[str, int] = Field(default_factory=dict, description="create_tiny_llama arguments")
    training: dict[str, Any] = Field(default_factory=dict, description="WorkerTraining fields")


class AuditSettings(_Strict):
    sample_size: int = Field(200, ge=1)
    seed: int = 0
    judge: bool = Field(True, description="score the sample with the expert when it is an LLM")


class AlignmentSettings(_Strict):
    code_of_conduct: Path | None = None
    cultural_norms: Path | None = None
    segments: SegmentSettings = SegmentSettings()
    seeds: SeedSettings = SeedSettings()
    perplexity: PerplexitySettings = PerplexitySettings()
    expert: BackendSettings = BackendSettings()
    worker: WorkerSettings = WorkerSettings()
    rewriter: BackendSettings = BackendSettings()
    limits: dict[str, float] = Field(default_factory=dict, description="validation Limits")
    chunk_size: int = Field(512, ge=1, description="segments per committed chunk")
    audit: AuditSettings = AuditSettings()
    max_failed_requests: float = Field(
        0.5, ge=0, le=1, description="expert/rewriter: a larger share of failed requests fails"
    )


class VariantSettings(_Strict):
    """One corpus to pre-train on: the original text, the aligned text, or a hybrid of both."""

    source: Literal["original", "aligned", "hybrid"]
    fraction: float = Field(
        1.0, gt=0, le=1, description="a nested volume slice: the same documents at any fraction"
    )
    aligned_share: float = Field(
        0.5, ge=0, le=1, description="hybrid: the share of documents taken in their aligned form"
    )


class ReplaySettings(_Strict):
    """Local text mixed into every variant (e.g. general-domain data against forgetting)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    path: Path = Field(description="a .jsonl or .parquet file with a text column, or a .txt file")
    weight: float = Field(gt=0, lt=1, description="its share of each variant's characters")
    text_field: str = "text"


class TokenizerSettings(_Strict):
    path: Path | None = Field(
        None,
        description="a tokenizer.json or model folder; none: the base model's tokenizer, "
        "or a byte-level BPE trained on the corpus when there is no base model",
    )
    vocab_size: int = Field(4096, ge=300)
    max_chars: int = Field(50_000_000, ge=1, description="corpus characters the BPE learns from")


class ModelSettings(_Strict):
    base_model: Path | None = Field(
        None,
        description="a local Hugging Face causal LM (Llama-3 class); none: a small GPT "
        "from scratch, sized by `tiny`",
    )
    tiny: dict[str, int] = Field(default_factory=dict, description="build_model tiny arguments")


class DistributedSettings(_Strict):
    nproc_per_node: int = Field(1, ge=1, description="processes (GPUs) torchrun starts")
    torchrun_args: list[str] = Field(
        default_factory=list, description="e.g. [--nnodes, '2', --rdzv-endpoint, host:29400]"
    )


class TrainingSettings(_Strict):
    variants: dict[str, VariantSettings] = Field(
        default_factory=lambda: {
            "original": VariantSettings(source="original"),
            "aligned": VariantSettings(source="aligned"),
            "hybrid": VariantSettings(source="hybrid"),
        }
    )
    held_out_share: float = Field(0.1, ge=0, lt=1, description="documents kept for evaluation")
    seed: int = Field(0, description="draws the held-out documents, slices and hybrid choices")
    replay: list[ReplaySettings] = Field(default_factory=list)
    tokenizer: TokenizerSettings = TokenizerSettings()
    shard_tokens: int = Field(50_000_000, ge=1, description="tokens per .bin shard, about")
    model: ModelSettings = ModelSettings()
    loop: dict[str, Any] = Field(default_factory=dict, description="PretrainConfig fields")
    distributed: DistributedSettings = DistributedSettings()


class TaskSettings(_Strict):
    format: Literal["arabic_mmlu_csv", "exams_jsonl", "acva_jsonl", "aratrust"]
    path: Path | None = Field(None, description="the benchmark file; none: the bundled sample")
    dev_path: Path | None = Field(None, description="few-shot examples; none: the bundled ones")
    shots: int = Field(0, ge=0)


class HarmlessnessSettings(_Strict):
    path: Path | None = Field(None, description="BeaverTails-style prompts; none: the sample")
    max_new_tokens: int = Field(48, ge=1)
    threshold: float = Field(0.5, ge=0, le=1, description="a continuation this harmful counts")


class EvaluationSettings(_Strict):
    tasks: dict[str, TaskSettings] = Field(default_factory=dict)
    harmlessness: HarmlessnessSettings = HarmlessnessSettings()
    context_length: int = Field(512, ge=8, description="perplexity window, in tokens")
    max_held_out_docs: int = Field(500, ge=1)
    batch_size: int = Field(16, ge=1)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="the weights' dtype; auto: bfloat16 on GPUs, float32 on CPUs"
    )


class ReadingSettings(_Strict):
    """Caps on what raw_crawl reads, so that a decompression bomb costs a quarantine row."""

    max_record_bytes: int = Field(
        64 << 20, ge=1024, description="a WARC record or JSONL line, decompressed"
    )
    max_payload_bytes: int = Field(
        16 << 20, ge=1024, description="an HTTP body after Content-Encoding is decoded"
    )


class ChecksSettings(_Strict):
    """Thresholds the SQL checks read through var(); shares are in [0, 1]."""

    quarantine_rate_max: float = Field(0.05, ge=0, le=1)
    arabic_share_min: float = Field(0.9, ge=0, le=1)
    failure_rate_max: float = Field(0.1, ge=0, le=1)
    translation_rate_max: float = Field(0.02, ge=0, le=1)


class Settings(_Strict):
    data_root: Path = Path("data")
    landing_zone: str = Field(
        "sample", description="a folder with one sub-folder per crawl dump; 'sample' = embedded"
    )
    workers: int = Field(2, ge=1, description="processes one step may use on its machine")
    sql_dir: Path = PROJECT_ROOT / "dbt_like_sql"
    cleaning: CleaningSettings = CleaningSettings()
    alignment: AlignmentSettings = AlignmentSettings()
    training: TrainingSettings = TrainingSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    reading: ReadingSettings = ReadingSettings()
    checks: ChecksSettings = ChecksSettings()

    @property
    def landing_path(self) -> Path:
        return SAMPLE_CRAWL if self.landing_zone == "sample" else Path(self.landing_zone)


def load_settings(path: Path | str | None = None) -> Settings:
    path = Path(path or os.environ.get("NATIVE_PIPELINE_CONFIG") or DEFAULT_CONFIG)
    settings = Settings.model_validate(yaml.safe_load(path.read_text()) or {})
    if root := os.environ.get("NATIVE_PIPELINE_DATA_ROOT"):
        settings.data_root = Path(root)
    return settings
