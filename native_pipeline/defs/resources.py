"""Resources, built from the one loaded configuration (see native_pipeline.settings).

Each section resource has the fields of its settings model (see defs/config.py), so the
Launchpad refuses what the file would refuse, and hands the assets the typed settings model,
validated once.
"""

from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg

from native_pipeline.alignment.conduct import CodeOfConduct
from native_pipeline.defs.cluster import PipesResource
from native_pipeline.defs.config import SettingsResource, config_class
from native_pipeline.defs.runs import RunGuard
from native_pipeline.lake import Lake
from native_pipeline.settings import (
    AlignmentSettings,
    CleaningSettings,
    EvaluationSettings,
    HarmSettings,
    ReadingSettings,
    Settings,
    TrainingSettings,
    current_settings,
)
from native_pipeline.text.pii import ARABIC_DIGITS, ASCII_DIGITS, PII_PATTERNS


@dg.resource(
    config_schema={"data_root": dg.Field(str, description="where partitions live")},
    description="The data lake: an asset asks for `lake: dg.ResourceParam[Lake]` and gets it.",
)
def lake_resource(context: dg.InitResourceContext) -> Lake:
    return Lake(Path(context.resource_config["data_root"]))


class LandingResource(dg.ConfigurableResource):
    """Where crawl dumps arrive (landing_zone), and how long a dump without a _SUCCESS marker
    must stay unchanged to be read (quiet_s)."""

    landing_zone: str
    quiet_s: float

    @property
    def path(self) -> Path:
        return Settings(landing_zone=self.landing_zone).landing_path


class ComputeResource(dg.ConfigurableResource):
    """How many processes one step may use (the CPUs of its machine or pod), and the caps on
    one record that raw_crawl reads (the `reading` section)."""

    workers: int
    max_record_bytes: int
    max_payload_bytes: int

    @property
    def read_limits(self) -> ReadingSettings:
        return ReadingSettings(
            max_record_bytes=self.max_record_bytes, max_payload_bytes=self.max_payload_bytes
        )


class CleaningResource(config_class(CleaningSettings, SettingsResource)):
    """The `cleaning` section: documents per batch, and each block's arguments."""

    settings_model = CleaningSettings


class HarmResource(config_class(HarmSettings, SettingsResource)):
    """The `harm` section: the one harm scorer of cleaning, rewriting, validation, the audit and
    harmlessness."""

    settings_model = HarmSettings


class AlignmentResource(config_class(AlignmentSettings, SettingsResource)):
    """The `alignment` section: code of conduct, seeds, expert, worker, rewriter, validation
    limits, audit."""

    settings_model = AlignmentSettings

    @cached_property
    def conduct(self) -> CodeOfConduct:
        return CodeOfConduct.load(self.settings.code_of_conduct, self.settings.cultural_norms)


class TrainingResource(config_class(TrainingSettings, SettingsResource)):
    """The `training` section: variants, held-out share, replay, tokenizer, model, loop and
    torchrun settings."""

    settings_model = TrainingSettings


class EvaluationResource(config_class(EvaluationSettings, SettingsResource)):
    """The `evaluation` section: benchmark files, shots, harmlessness prompts."""

    settings_model = EvaluationSettings


class SqlResource(dg.ConfigurableResource):
    """Values that dbt_like_sql files read through var()."""

    variables: dict[str, Any]


def sql_variables(settings: Settings) -> dict[str, Any]:
    """The config's thresholds, plus the PII patterns, so SQL and Python share one definition."""
    patterns = {f"pii_{kind}": pattern for kind, pattern in PII_PATTERNS.items()}
    digits = {"arabic_digits": ARABIC_DIGITS, "ascii_digits": ASCII_DIGITS}
    limits = settings.alignment.limits.model_dump()
    return {**settings.checks.model_dump(), **patterns, **digits, **limits}


def build_resources(settings: Settings) -> dict[str, Any]:
    return {
        "lake": lake_resource.configured({"data_root": str(settings.data_root)}),
        "landing": LandingResource(
            landing_zone=settings.landing_zone, quiet_s=settings.landing_quiet_s
        ),
        "compute": ComputeResource(
            workers=settings.workers,
            max_record_bytes=settings.reading.max_record_bytes,
            max_payload_bytes=settings.reading.max_payload_bytes,
        ),
        "cleaning": CleaningResource(**settings.cleaning.model_dump(mode="json")),
        "alignment": AlignmentResource(**settings.alignment.model_dump(mode="json")),
        "training": TrainingResource(**settings.training.model_dump(mode="json")),
        "evaluation": EvaluationResource(**settings.evaluation.model_dump(mode="json")),
        "sql": SqlResource(variables=sql_variables(settings)),
        # Remote scorers' answers are cached under the data root unless the config says where.
        "harm": HarmResource(
            **settings.harm.model_dump(mode="json")
            | {"cache_dir": str(settings.harm.cache_dir or settings.data_root / "harm_cache")}
        ),
        # Frees the pool slots of runs whose process died, then waits for dedup_index.
        "run_guard": RunGuard(pool="dedup_index"),
        "gpu_guard": RunGuard(pool="gpu"),
        # The small values steps hand each other (a dump's shards, what each shard did), under
        # the data root: on a cluster every step's pod mounts it.
        "step_values": dg.FilesystemIOManager(base_dir=str(settings.data_root / ".step_values")),
        # Starts torchrun: a subprocess beside the step, or a GPU pod of its own (cluster.mode).
        "pipes": PipesResource(**settings.cluster.model_dump(mode="json")),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(current_settings()))
