"""The cluster switch in the definitions: Pipes runs for real locally; on Kubernetes the jobs get
the k8s_job_executor and the GPU steps their pods' tags."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml

from native_pipeline.defs.cluster import PipesResource
from native_pipeline.settings import TrainingSettings

REPORT = """
from dagster_pipes import open_dagster_pipes
with open_dagster_pipes() as pipes:
    pipes.log.info("hello from the GPU process")
    pipes.report_asset_materialization(metadata={"answer": 42})
"""


def test_local_pipes_runs_a_subprocess():
    @dg.asset
    def trained(context: dg.AssetExecutionContext, pipes: PipesResource) -> dg.MaterializeResult:
        run = pipes.run(context=context, step="checkpoints", command=[sys.executable, "-c", REPORT])
        return run.get_materialize_result()

    result = dg.materialize([trained], resources={"pipes": PipesResource(cluster={})})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("trained")
    assert materialization.metadata["answer"].value == 42


# Loads the definitions under a Kubernetes config (a fresh process: the config is read when the
# code location loads) and prints what the k8s executor and the GPU steps would get.
LOAD = """
import json
from native_pipeline.definitions import defs
d = defs()
graph = d.resolve_asset_graph()
tags = {k.to_user_string(): d.resolve_assets_def(k).op.tags.get("dagster-k8s/config")
        for k in graph.get_all_asset_keys()}
executors = {j.name: j.executor_def.name for j in d.resolve_all_job_defs()}
print(json.dumps({"tags": tags, "executors": executors}))
"""


def test_kubernetes_mode_wires_the_executor_and_gpu_tags(tmp_path: Path):
    config = {
        "data_root": "/data/np",
        "cluster": {
            "mode": "kubernetes",
            "image": "registry.example.com/native-pipeline:0.1.0",
            "data_volume": {"claim_name": "np-data", "mount_path": "/data"},
            "gpu_steps": {"alignment_worker": {"gpus": 4}},
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "NATIVE_PIPELINE_CONFIG": str(path)}
    env.pop("NATIVE_PIPELINE_DATA_ROOT", None)
    out = subprocess.run(
        [sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout.splitlines()[-1])
    assert set(loaded["executors"].values()) == {"k8s"}
    gpus = {
        key: json.loads(tag)["container_config"]["resources"]["limits"]["nvidia.com/gpu"]
        for key, tag in loaded["tags"].items()
        if tag
    }
    # The training process's GPUs are in its Pipes pod, not in the checkpoints step's pod.
    assert gpus == {
        "alignment_worker": "4",
        "aligned_corpus": "1",
        **{f"eval_scores/{v}": "1" for v in TrainingSettings().variants},
    }
