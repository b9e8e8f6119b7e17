"""The pairs_file expert: published (original, rewritten) pairs, validated like any expert's."""

from __future__ import annotations

import json

import pytest

from native_pipeline.alignment.backends import make_rewriter
from native_pipeline.alignment.backends.pairs_file import read_pairs
from native_pipeline.alignment.conduct import CodeOfConduct, unwrap
from native_pipeline.alignment.expert import rewrite_seeds
from native_pipeline.alignment.seeds import seeds_from_pairs
from native_pipeline.settings import AlignmentSettings, BackendSettings, Sampling

ORIGINAL = "افتتحت البلدية مكتبة عامة جديدة في وسط المدينة يوم الاثنين الماضي"
REWRITTEN = "افتتحت البلدية مكتبةً عامةً جديدةً في وسط المدينة يوم الاثنين الماضي."
SECOND = "ارتفعت درجات الحرارة في العاصمة إلى أربعين درجة مئوية"
SYSTEM = "### Polishing Instructions: ..."
LAYOUTS = {
    "fields": {"original": ORIGINAL, "rewritten": REWRITTEN},
    "input_output": {"input": ORIGINAL, "output": REWRITTEN},
    "sharegpt": {
        "conversations": [
            {"from": "system", "value": SYSTEM},
            {"from": "human", "value": ORIGINAL},
            {"from": "gpt", "value": REWRITTEN},
        ]
    },
    "openai": {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": ORIGINAL},
            {"role": "assistant", "content": REWRITTEN},
        ]
    },
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("container", ["json", "jsonl"])
def test_every_published_layout_reads_as_pairs(tmp_path, layout, container):
    records = [LAYOUTS[layout], {"original": SECOND, "rewritten": SECOND}]
    path = tmp_path / f"rewrite_seed_data.{container}"
    text = json.dumps(records) if container == "json" else "\n".join(map(json.dumps, records))
    path.write_text(text, encoding="utf-8")
    assert read_pairs(path) == [(ORIGINAL, REWRITTEN), (SECOND, SECOND)]


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ('{"original": "نص", "rewritten": "نص"}\n{"prompt": "نص"}\n', "pairs.jsonl:2"),
        ('{"original": "نص", "rewritten": "  "}\n', "pairs.jsonl:1"),  # an empty rewrite
        ('{"original": "نص", "rewritten": "نص"}\nnot json\n', "pairs.jsonl:2: not JSON"),
        ("", "no pairs"),
    ],
)
def test_a_record_that_is_no_pair_is_an_error_naming_it(tmp_path, content, where):
    path = tmp_path / "pairs.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=where):
        read_pairs(path)


def test_the_files_rewrites_are_validated_and_a_missing_segment_fails(tmp_path):
    path = tmp_path / "pairs.jsonl"
    records = [
        {"original": ORIGINAL, "rewritten": REWRITTEN},
        {"original": SECOND, "rewritten": "Temperatures rose to forty degrees in the capital"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records))
    settings = AlignmentSettings(
        expert=BackendSettings(backend="pairs_file", pairs_path=path, retry_temperature=0)
    )
    rewriter = make_rewriter(settings.expert, CodeOfConduct.load())
    (done, missing) = rewriter.rewrite([f" {ORIGINAL}\n", "نص ليس في الملف"], Sampling())
    assert unwrap(done.text) == REWRITTEN and missing.error.startswith("not in the pairs file")
    assert rewriter.identity()["backend"] == "pairs_file"

    seeds = seeds_from_pairs(read_pairs(path), lambda text: len(text.split()))
    assert seeds["segment_id"].to_list() == ["pairs:0", "pairs:1"]
    assert seeds["n_tokens"].to_list() == [len(ORIGINAL.split()), len(SECOND.split())]
    rows, _ = rewrite_seeds(seeds, settings, CodeOfConduct.load(), tmp_path / "cache")
    assert rows["status"].to_list()[0] == "valid"
    assert rows["aligned"][0] == REWRITTEN
    assert rows["status"][1] != "valid"  # translated: rejected like any expert's output
    assert rows["aligned"][1] == SECOND  # a rejected rewrite keeps the original
    assert set(rows["backend"]) == {"pairs_file"}


def test_the_pairs_file_is_the_experts_and_needs_a_path():
    with pytest.raises(ValueError, match="needs alignment.expert.pairs_path"):
        AlignmentSettings(expert=BackendSettings(backend="pairs_file"))
    with pytest.raises(ValueError, match="the rewriter cannot be one"):
        AlignmentSettings(rewriter=BackendSettings(backend="pairs_file", pairs_path="p.json"))
