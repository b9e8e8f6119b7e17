"""The configuration is checked when it is loaded: every section is typed, unknown keys and wrong
types are refused in one line that names the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from native_pipeline.settings import (
    DEFAULT_CONFIG,
    ConfigError,
    PretrainLoop,
    Settings,
    WorkerTraining,
    _blocks_model,
    load_settings,
)


def write_config(tmp_path: Path, dotted: str, value: object) -> Path:
    """The default config with one key set, written to a file."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    node = config
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_shipped_config_loads_into_typed_sections():
    settings = load_settings(DEFAULT_CONFIG)
    assert isinstance(settings.training.loop, PretrainLoop)
    assert isinstance(settings.alignment.worker.training, WorkerTraining)
    assert settings.training.loop.max_steps == 40
    assert settings.cleaning.blocks["gopher_quality"]["min_words"] == 30


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("training.loop.max_step", 10, "training.loop.max_step: Extra inputs are not permitted"),
        ("training.loop.seq_len", "long", "training.loop.seq_len: Input should be a valid integer"),
        (
            "cleaning.blocks.gopher_quality.min_words",
            "fifty",
            "cleaning.blocks.gopher_quality.min_words: Input should be a valid integer",
        ),
        ("cleaning.blocks.gopher_qualty", {}, "cleaning.blocks.gopher_qualty: Extra inputs"),
        ("cleaning.blocks.c4.min_sentence", 3, "cleaning.blocks.c4.min_sentence: Extra inputs"),
        ("alignment.worker.training.epoch", 3, "alignment.worker.training.epoch: Extra inputs"),
        ("alignment.worker.tiny.layer", 3, "alignment.worker.tiny.layer: Extra inputs"),
        (
            "alignment.rewriter.engine.tensor_paralel_size",
            2,
            "alignment.rewriter.engine.tensor_paralel_size: Extra inputs are not permitted",
        ),
        ("alignment.limits.length_ratio_min", "half", "alignment.limits.length_ratio_min: Input"),
        ("alignment.limits.harm_tolerance", 7, "less than or equal to 1"),
        ("training.variants.aligned.source", "alinged", "Input should be 'original', 'aligned'"),
        ("evaluation.batch_size", 0, "evaluation.batch_size: Input should be greater than"),
        ("training.variants.aligned_25.budget", "twice", "Input should be 'same_tokens'"),
        ("training.variants.hybrid.aligned_share", 0.5, "Extra inputs are not permitted"),
        (
            "training.cleaning_baseline.url_blocklist.domain",
            ["x.example"],
            "training.cleaning_baseline.url_blocklist.domain: Extra inputs",
        ),
        ("training.cleaning_baseline.pii", {}, "training.cleaning_baseline.pii: Extra inputs"),
        # the cleaning blocks' arguments have their bounds too (their constructors' annotations)
        ("cleaning.blocks.language.min_score", -5, "greater than or equal to 0"),
        ("cleaning.blocks.near_dedup.threshold", 2.0, "less than or equal to 1"),
        ("cleaning.blocks.c4.max_word_length", 0, "greater than or equal to 1"),
        # the judges: a known backend, a positive size of the seed ablation
        ("alignment.audit.judge_backend", "gpt", "Input should be 'expert' or 'offline'"),
        ("evaluation.judge.backend", "rules", "Input should be 'openai' or 'offline'"),
        ("alignment.seed_ablation.size", 0, "greater than or equal to 1"),
        ("alignment.seed_ablation.strategies", ["lucky"], "unknown seed strategies ['lucky']"),
    ],
)
def test_a_mistake_is_refused_in_one_line_naming_file_and_key(tmp_path, dotted, value, expected):
    path = write_config(tmp_path, dotted, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    (line,) = str(refused.value).splitlines()
    assert line.startswith(f"{path}: {dotted}:")
    assert expected in line
    assert repr(value) in line  # what was given


def test_a_cleaned_variant_needs_the_cleaning_baseline(tmp_path):
    path = write_config(tmp_path, "training.cleaning_baseline", {})
    with pytest.raises(
        ConfigError, match=r"variants \['cleaned'\] need training.cleaning_baseline"
    ):
        load_settings(path)
    order = list(load_settings(DEFAULT_CONFIG).training.cleaning_baseline)
    assert order[0] == "url_blocklist" and order[-1] == "refinedweb_lines"  # the file's order


def test_every_numeric_argument_of_every_cleaning_block_is_bounded():
    """A new block argument without bounds fails here, not silently at run time."""
    blocks = {
        block: fields
        for recipe in ("cleaning", "baseline")
        for block, fields in _blocks_model(recipe).model_fields.items()
    }
    for block, fields in blocks.items():
        model = fields.annotation.__args__[0]  # Optional[the block's arguments]
        for name, field in model.model_fields.items():
            annotation = str(field.annotation)  # int, float | None, Sequence[tuple[int, float]]
            if "int" in annotation or "float" in annotation:
                assert field.metadata or "metadata=[Ge" in annotation, f"{block}.{name}"


def test_every_mistake_of_a_file_is_reported(tmp_path):
    path = write_config(tmp_path, "training.loop.max_step", 10)
    config = yaml.safe_load(path.read_text())
    config["alignment"]["worker"]["training"]["epoch"] = 3
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    assert len(str(refused.value).splitlines()) == 2


def test_yaml_that_does_not_parse_names_the_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("training: {loop: [\n")
    with pytest.raises(ConfigError, match=f"^{path}: not valid YAML"):
        load_settings(path)


def test_the_environment_chooses_the_file_and_the_data_root(tmp_path, monkeypatch):
    path = write_config(tmp_path, "workers", 3)
    monkeypatch.setenv("NATIVE_PIPELINE_CONFIG", str(path))
    monkeypatch.setenv("NATIVE_PIPELINE_DATA_ROOT", str(tmp_path / "lake"))
    settings = load_settings()
    assert (settings.workers, settings.data_root) == (3, tmp_path / "lake")


def test_the_launchpad_refuses_what_the_file_refuses():
    """The resources' config schema is the settings' schema: a run config with a typo or a
    wrong type does not validate, the same values spelled right do."""
    from native_pipeline.defs.resources import build_resources

    @dg.asset
    def probe(alignment: dg.ResourceParam) -> None: ...

    job = dg.define_asset_job("probe_job", selection=[probe])
    definitions = dg.Definitions(assets=[probe], jobs=[job], resources=build_resources(Settings()))
    resolved = definitions.resolve_job_def("probe_job")

    def run_config(training: dict) -> dict:
        return {"resources": {"alignment": {"config": {"worker": {"training": training}}}}}

    assert dg.validate_run_config(resolved, run_config({"epochs": 3}))
    for bad in ({"epoch": 3}, {"epochs": "three"}):
        with pytest.raises(dg.DagsterInvalidConfigError):
            dg.validate_run_config(resolved, run_config(bad))


def test_the_paper_preset_changes_only_what_it_lists(tmp_path):
    paper = load_settings(DEFAULT_CONFIG.with_name("config.paper.yaml"))
    sample = load_settings(DEFAULT_CONFIG)
    assert paper.alignment.audit.sample_size == 8000 and paper.alignment.seeds.size == 96000
    assert paper.alignment.perplexity.scorer == "lm"
    assert {v.source for v in paper.training.variants.values()} == {
        "original",
        "cleaned",
        "aligned",
        "hybrid",
    }
    assert {v.budget for v in paper.training.variants.values()} == {"one_epoch"}
    assert paper.training.cleaning_baseline["url_blocklist"]["domains_file"] == Path(
        "/data/ut1/adult/domains"
    )
    # merged into the base: the baseline's other blocks and the base's other keys stay
    assert list(paper.training.cleaning_baseline) == list(sample.training.cleaning_baseline)
    assert paper.harm == sample.harm and paper.cleaning == sample.cleaning
    assert {t.shots for t in paper.evaluation.tasks.values()} == {0, 5}
    # the paper's judges are LLMs; the sample's the offline rules
    assert (paper.alignment.audit.judge_backend, paper.evaluation.judge.backend) == (
        "expert",
        "openai",
    )
    assert (sample.alignment.audit.judge_backend, sample.evaluation.judge.backend) == (
        "offline",
        "offline",
    )
    # a preset of a preset, a key replaced and a section merged
    child = tmp_path / "child.yaml"
    child.write_text(
        f"extends: {DEFAULT_CONFIG.with_name('config.paper.yaml')}\n"
        "alignment: {audit: {sample_size: 10}}\n"
    )
    loaded = load_settings(child)
    assert loaded.alignment.audit.sample_size == 10 and loaded.alignment.seeds.size == 96000
