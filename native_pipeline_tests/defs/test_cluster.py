"""The cluster switch in the definitions: on Kubernetes the jobs get the k8s_job_executor and the
GPU steps their pods' tags. (The local Pipes path runs for real in
training/test_distributed.py::test_dagster_pipes_reports_the_materialization.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

from native_pipeline.settings import TrainingSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

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


def test_kubernetes_mode_wires_the_executor_and_gpu_tags():
    """deploy/cluster.yaml, the documented example, loads and wires the cluster."""
    env = {**os.environ, "NATIVE_PIPELINE_CONFIG": str(DEPLOY / "cluster.yaml")}
    env.pop("NATIVE_PIPELINE_DATA_ROOT", None)
    # What a code server does with it: load, then snapshot every definition and resource config.
    validate = [sys.executable, "-m", "dagster", "definitions", "validate"]
    validate += ["-m", "native_pipeline.definitions"]
    checked = subprocess.run(validate, env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr[-3000:]
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
        "alignment_worker": "1",
        "aligned_corpus": "1",
        **{f"{v}/eval_scores": "1" for v in ["base", *TrainingSettings().variants]},
    }
