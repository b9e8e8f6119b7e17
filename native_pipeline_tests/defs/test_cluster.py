"""The cluster switch in the definitions: on Kubernetes the jobs get the k8s_job_executor and the
GPU steps their pods' tags. (The local Pipes path runs for real in
training/test_distributed.py::test_dagster_pipes_reports_the_materialization.)"""

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from native_pipeline.settings import TrainingSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

# Loads the definitions under a Kubernetes config (a fresh process: the config is read when the
# code location loads) and prints what the k8s executor and the GPU steps would get.
LOAD = """
import json
from contextlib import contextmanager
from native_pipeline.definitions import defs
d = defs()
graph = d.resolve_asset_graph()
# an asset's GPU op (aligned_corpus is a graph: its rewrite_shard op asks for the GPU)
def gpu_tag(key):
    ops = d.resolve_assets_def(key).node_def.iterate_op_defs()
    return next((op.tags[TAG] for op in ops if TAG in op.tags), None)
TAG = "dagster-k8s/config"
tags = {k.to_user_string(): gpu_tag(k) for k in graph.get_all_asset_keys()}
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


class FakeJobs:
    """The Kubernetes API's custom objects, as far as a PyTorchJob's life needs it."""

    def __init__(self, conditions: list[str]):
        self.conditions = conditions
        self.created: list[dict] = []
        self.deleted: list[str] = []

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        assert (group, version, plural) == ("kubeflow.org", "v1", "pytorchjobs")
        assert namespace == body["metadata"]["namespace"]
        self.created.append(body)

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        return {"status": {"conditions": [{"type": t} for t in self.conditions]}}

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.deleted.append(name)


def test_several_nodes_run_a_pytorchjob_through_pipes(monkeypatch):
    """PipesResource.run(nodes=2) creates the job with the Pipes variables in every pod, follows
    the master pod, fails the step on a failed job and deletes the job either way."""
    import dagster as dg
    import kubernetes
    import pytest
    from dagster_k8s import PipesK8sClient
    from dagster_k8s.client import DagsterKubernetesClient

    from native_pipeline.defs.cluster import PipesResource

    waited: list[str] = []

    class FakeClient:
        def wait_for_pod(self, name, namespace, **kwargs):
            waited.append(name)

    @contextmanager
    def no_logs(self, **kwargs):
        yield

    monkeypatch.setattr(DagsterKubernetesClient, "production_client", lambda: FakeClient())
    monkeypatch.setattr(PipesK8sClient, "_load_k8s_config", lambda self: None)
    monkeypatch.setattr(PipesK8sClient, "consume_pod_logs", no_logs)
    volume = {"claim_name": "np-data", "mount_path": "/data"}
    cluster = {"mode": "kubernetes", "image": "np:1", "namespace": "np", "data_volume": volume}
    for conditions, ok in ([["Created", "Running", "Succeeded"], True], [["Failed"], False]):
        jobs = FakeJobs(conditions)
        monkeypatch.setattr(kubernetes.client, "CustomObjectsApi", lambda jobs=jobs: jobs)

        @dg.asset
        def trained(context, pipes: PipesResource):
            pipes.run(context=context, step="checkpoints", command=["torchrun"], nodes=2)
            return dg.MaterializeResult()

        resources = {"pipes": PipesResource(**cluster)}
        if ok:
            assert dg.materialize([trained], resources=resources).success
        else:
            with pytest.raises(dg.Failure, match="failed"):
                dg.materialize([trained], resources=resources)
        (job,) = jobs.created
        name = job["metadata"]["name"]
        assert jobs.deleted == [name] and waited[-1] == f"{name}-master-0"
        replicas = job["spec"]["pytorchReplicaSpecs"]
        assert replicas["Worker"]["replicas"] == 1
        for role in replicas.values():
            (container,) = role["template"]["spec"]["containers"]
            assert {e["name"] for e in container["env"]} >= {"DAGSTER_PIPES_CONTEXT"}
