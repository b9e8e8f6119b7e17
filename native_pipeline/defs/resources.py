"""Resources, built from the one configuration file (see native_pipeline.settings)."""

from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg

from native_pipeline.alignment.conduct import CodeOfConduct
from native_pipeline.alignment.validate import Limits
from native_pipeline.lake import Lake
from native_pipeline.settings import (
    AlignmentSettings,
    EvaluationSettings,
    Settings,
    TrainingSettings,
    load_settings,
)
from native_pipeline.text.pii import ARABIC_DIGITS, ASCII_DIGITS, PII_PATTERNS
from native_pipeline.text.warc import ReadLimits


class LakeResource(dg.ConfigurableResource):
    """Where partitions live (data_root) and where crawl dumps arrive (landing_zone)."""

    data_root: str
    landing_zone: str

    @property
    def lake(self) -> Lake:
        return Lake(Path(self.data_root))

    @property
    def landing_path(self) -> Path:
        return Settings(landing_zone=self.landing_zone).landing_path


class ComputeResource(dg.ConfigurableResource):
    """How many processes one step may use (the CPUs of its machine or pod), and the caps on
    one record that raw_crawl reads (the `reading` section)."""

    workers: int
    max_record_bytes: int
    max_payload_bytes: int

    @property
    def read_limits(self) -> ReadLimits:
        return ReadLimits(self.max_record_bytes, self.max_payload_bytes)


class CleaningResource(dg.ConfigurableResource):
    """Block arguments for cleaned_text, by block name, documents per batch, and the time a
    worker may spend on one document."""

    batch_size: int
    doc_timeout_s: float
    blocks: dict[str, dict[str, Any]]


class AlignmentResource(dg.ConfigurableResource):
    """The `alignment` section of the config: code of conduct, seeds, expert, worker, rewriter,
    validation limits, audit."""

    config: dict[str, Any]

    @property
    def settings(self) -> AlignmentSettings:
        return AlignmentSettings.model_validate(self.config)

    @property
    def conduct(self) -> CodeOfConduct:
        return CodeOfConduct.load(self.settings.code_of_conduct, self.settings.cultural_norms)

    @property
    def limits(self) -> Limits:
        return Limits(**self.settings.limits)


class TrainingResource(dg.ConfigurableResource):
    """The `training` section of the config: variants, held-out share, replay, tokenizer,
    model, loop and torchrun settings."""

    config: dict[str, Any]

    @property
    def settings(self) -> TrainingSettings:
        return TrainingSettings.model_validate(self.config)


class EvaluationResource(dg.ConfigurableResource):
    """The `evaluation` section of the config: benchmark files, shots, harmlessness prompts."""

    config: dict[str, Any]

    @property
    def settings(self) -> EvaluationSettings:
        return EvaluationSettings.model_validate(self.config)


class SqlResource(dg.ConfigurableResource):
    """Values that dbt_like_sql files read through var()."""

    variables: dict[str, Any]


def sql_variables(settings: Settings) -> dict[str, Any]:
    """The config's thresholds, plus the PII patterns, so SQL and Python share one definition."""
    patterns = {f"pii_{kind}": pattern for kind, pattern in PII_PATTERNS.items()}
    digits = {"arabic_digits": ARABIC_DIGITS, "ascii_digits": ASCII_DIGITS}
    limits = asdict(Limits(**settings.alignment.limits))
    return {**settings.checks.model_dump(), **patterns, **digits, **limits}


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "lake": LakeResource(data_root=str(settings.data_root), landing_zone=settings.landing_zone),
        "compute": ComputeResource(
            workers=settings.workers,
            max_record_bytes=settings.reading.max_record_bytes,
            max_payload_bytes=settings.reading.max_payload_bytes,
        ),
        "cleaning": CleaningResource(
            batch_size=settings.cleaning.batch_size,
            doc_timeout_s=settings.cleaning.doc_timeout_s,
            blocks=settings.cleaning.blocks,
        ),
        "alignment": AlignmentResource(
            config=settings.alignment.model_dump(mode="json", exclude_none=True)
        ),
        "training": TrainingResource(
            config=settings.training.model_dump(mode="json", exclude_none=True)
        ),
        "evaluation": EvaluationResource(
            config=settings.evaluation.model_dump(mode="json", exclude_none=True)
        ),
        "sql": SqlResource(variables=sql_variables(settings)),
        # Starts torchrun beside the step: in the step's own GPU pod under the k8s executor.
        "pipes": dg.PipesSubprocessClient(),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(load_settings()))
