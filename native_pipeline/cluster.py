"""Kubernetes pieces built from the config's `cluster` section (no Dagster in here).

Three things run in pods on a cluster, and all of them get the same basics (the project's image,
the data root's shared volume, the service account, the node rules, variables from Secrets):

- every step, through dagster-k8s's `k8s_job_executor` (`executor_config`);
- on top of that, each GPU step's GPUs, node selector and tolerations, as the step's
  `dagster-k8s/config` tag (`gpu_step_tags`);
- a process a step starts through Dagster Pipes (torchrun for pre-training) in a pod of its own,
  with the GPUs of that step (`pipes_pod`, the arguments of `PipesK8sClient.run`); the step's own
  pod then needs none;
- a training run over several nodes: a PyTorchJob of the Kubeflow training operator
  (`pytorch_job`), one pod a node, torchrun in each meeting the others through a c10d
  rendezvous at the master pod (`rendezvous_args`).

Everything is a plain dict in the Kubernetes API's own field names (camelCase), which
dagster-k8s reads as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from native_pipeline.settings import ClusterSettings, GpuStep, Settings, api_key_variables

TAG = "dagster-k8s/config"
GPU = "nvidia.com/gpu"
# The container PipesK8sClient reports from (its first container).
PIPES_CONTAINER = "dagster-pipes-execution"
DATA_VOLUME = "data"
# NCCL and the data loader share tensors through /dev/shm, which a container limits to 64 MiB.
SHM_VOLUME = "dshm"
# Every container runs as the image's unprivileged user on a read-only root filesystem; /tmp
# (HOME in the image: the caches of torch, Triton, vLLM and Hugging Face) is its scratch space.
USER_ID = 10001  # deploy/Dockerfile's `native` user
TMP_VOLUME = "tmp"
SCRATCH_MOUNT = {"volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}]}
SCRATCH_VOLUME = {"volumes": [{"name": TMP_VOLUME, "emptyDir": {}}]}
CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": USER_ID,
    "runAsGroup": USER_ID,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
# fsGroup: the shared volume's files are writable by the pods' group.
POD_SECURITY = {"fsGroup": USER_ID, "seccompProfile": {"type": "RuntimeDefault"}}
# The Kubeflow training operator's PyTorchJob: group, version, plural; its container's name.
PYTORCH_JOB = ("kubeflow.org", "v1", "pytorchjobs")
PYTORCH_CONTAINER = "pytorch"
LABELS = {"app.kubernetes.io/part-of": "native-pipeline"}


def _env(cluster: ClusterSettings) -> list[dict[str, Any]]:
    """Variables from Secrets, by the Secret's name and key: the values stay in the cluster."""
    return [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
        for name, ref in sorted(cluster.secret_env.items())
    ]


def _container(cluster: ClusterSettings) -> dict[str, Any]:
    """What every container gets: the data volume mounted, the variables from Secrets, a
    non-root user on a read-only root filesystem."""
    container: dict[str, Any] = {"env": _env(cluster), "securityContext": CONTAINER_SECURITY}
    if cluster.data_volume:
        mount = {"name": DATA_VOLUME, "mountPath": cluster.data_volume.mount_path}
        container["volumeMounts"] = [mount]
    return container


def _pod_spec(cluster: ClusterSettings) -> dict[str, Any]:
    """What every pod gets: the data volume, the service account, the node rules, the pod's
    security settings. (/tmp comes with the run launcher's config to the run and step pods.)"""
    spec: dict[str, Any] = {"securityContext": POD_SECURITY}
    if cluster.data_volume:
        claim = {"claimName": cluster.data_volume.claim_name}
        spec["volumes"] = [{"name": DATA_VOLUME, "persistentVolumeClaim": claim}]
    if cluster.service_account:
        spec["serviceAccountName"] = cluster.service_account
    if cluster.node_selector:
        spec["nodeSelector"] = dict(cluster.node_selector)
    if cluster.tolerations:
        spec["tolerations"] = [t.model_dump(exclude_none=True) for t in cluster.tolerations]
    return spec


def _gpu_pod(cluster: ClusterSettings, step: GpuStep) -> tuple[dict[str, Any], dict[str, Any]]:
    """The container resources and pod-spec additions of a GPU step's pod."""
    settings = cluster.gpu_step(step)
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if settings.gpus:  # extended resources: a request must equal its limit
        requests[GPU] = limits[GPU] = str(settings.gpus)
    if settings.cpu:
        requests["cpu"] = settings.cpu
    if settings.memory:
        requests["memory"] = limits["memory"] = settings.memory
    container: dict[str, Any] = {"resources": {"requests": requests, "limits": limits}}
    spec: dict[str, Any] = {}
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = [t.model_dump(exclude_none=True) for t in settings.tolerations]
    if settings.gpus:
        container["volumeMounts"] = [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}]
        spec["volumes"] = [{"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}}]
    return container, spec


def executor_config(cluster: ClusterSettings) -> dict[str, Any]:
    """The `k8s_job_executor`'s config: a pod per step from the project's image, each with the
    cluster's basics; a GPU step's tag adds its GPUs (dagster-k8s merges the two, lists
    appended)."""
    return {
        "job_image": cluster.image,
        "job_namespace": cluster.namespace,
        "step_k8s_config": {
            "container_config": _container(cluster),
            "pod_spec_config": _pod_spec(cluster),
        },
    }


def gpu_step_tags(cluster: ClusterSettings, step: GpuStep, *, pipes: bool = False) -> dict:
    """The op tags of a GPU step: on Kubernetes, its pod's GPUs and node rules; nothing locally.

    `pipes`: the step's GPU work runs in a pod of its own (`pipes_pod`), so the step's pod,
    which only waits for it, asks for no GPU.
    """
    if cluster.mode == "local" or pipes:
        return {}
    container, spec = _gpu_pod(cluster, step)
    return {TAG: {"container_config": container, "pod_spec_config": spec}}


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra`'s keys added: dicts merged, lists appended."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        elif isinstance(value, list):
            merged[key] = [*merged.get(key, []), *value]
        else:
            merged[key] = value
    return merged


def pipes_pod(cluster: ClusterSettings, step: GpuStep, command: Sequence[str]) -> dict[str, Any]:
    """The arguments of dagster-k8s's `PipesK8sClient.run` (all but the context) that start
    `command` in a pod of the project's image, with the step's GPUs and the cluster's basics.

    The data root is on the shared volume at the same path as in the step's pod, so the paths
    in `command` (a spec file, checkpoints) mean the same thing there.
    """
    if cluster.mode != "kubernetes":
        raise ValueError("pipes_pod needs cluster.mode kubernetes")
    gpu_container, gpu_spec = _gpu_pod(cluster, step)
    container = _merged(
        _merged({"name": PIPES_CONTAINER, **_container(cluster)}, SCRATCH_MOUNT), gpu_container
    )
    spec = _merged(_merged(_pod_spec(cluster), SCRATCH_VOLUME), gpu_spec)
    spec["restartPolicy"] = "Never"
    return {
        "image": cluster.image,
        "command": list(command),
        "namespace": cluster.namespace,
        "base_pod_meta": {"labels": dict(LABELS)},
        "base_pod_spec": {**spec, "containers": [container]},
    }


def rendezvous_args(nnodes: int, run_id: str) -> list[str]:
    """torchrun's arguments for `nnodes` pods of a PyTorchJob: a c10d rendezvous at the master
    pod, whose address and port the operator puts in every pod's environment (Kubernetes
    expands `$(VAR)` in a container's command)."""
    return [
        "--nnodes",
        str(nnodes),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        "$(MASTER_ADDR):$(MASTER_PORT)",
        "--rdzv-id",
        run_id,
    ]


def pytorch_job(
    cluster: ClusterSettings,
    step: GpuStep,
    command: Sequence[str],
    *,
    name: str,
    nnodes: int,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A PyTorchJob running `command` (torchrun with `rendezvous_args`) on `nnodes` pods: one
    Master, whose global rank 0 reports through Pipes (`env`: the Pipes bootstrap variables),
    and nnodes - 1 Workers; each pod with the step's GPUs, the cluster's basics and the shared
    data volume, where the checkpoints are. A pod that fails fails the job (restartPolicy
    Never): the step's retry starts a new job, which resumes from the latest checkpoint."""
    if cluster.mode != "kubernetes":
        raise ValueError("a training run over several nodes needs cluster.mode kubernetes")
    gpu_container, gpu_spec = _gpu_pod(cluster, step)
    container = _merged(
        {"name": PYTORCH_CONTAINER, "image": cluster.image, "command": list(command)},
        _merged(_container(cluster), SCRATCH_MOUNT),
    )
    plain = [{"name": k, "value": v} for k, v in sorted((env or {}).items())]
    container = _merged(_merged(container, {"env": plain}), gpu_container)
    spec = _merged(_merged(_pod_spec(cluster), SCRATCH_VOLUME), gpu_spec)
    template = {"metadata": {"labels": dict(LABELS)}, "spec": spec | {"containers": [container]}}
    replicas = {"Master": {"replicas": 1, "restartPolicy": "Never", "template": template}}
    if nnodes > 1:
        replicas["Worker"] = {
            "replicas": nnodes - 1,
            "restartPolicy": "Never",
            "template": copy.deepcopy(template),
        }
    group, version, _ = PYTORCH_JOB
    return {
        "apiVersion": f"{group}/{version}",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": cluster.namespace, "labels": dict(LABELS)},
        "spec": {
            "runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "Running"},
            "pytorchReplicaSpecs": replicas,
        },
    }


def check_cluster(settings: Settings) -> None:
    """Settings that would fail on the cluster, found when the code location loads."""
    cluster = settings.cluster
    if cluster.mode != "kubernetes" or cluster.data_volume is None:
        return
    mount = Path(cluster.data_volume.mount_path)
    root = settings.data_root
    if not root.is_absolute() or not root.is_relative_to(mount):
        raise ValueError(
            f"data_root {root} is not on the shared volume: every pod mounts it at {mount}; "
            f"set data_root (or NATIVE_PIPELINE_DATA_ROOT) to {mount} or a folder inside it"
        )
    # A key the pods cannot read fails every request: a silently emptied crawl, or no rewrite.
    users = api_key_variables(settings).items()
    missing = {user: env for user, env in users if env not in cluster.secret_env}
    if missing:
        listed = ", ".join(f"{user}.api_key_env {env}" for user, env in sorted(missing.items()))
        raise ValueError(
            f"{listed}: not in cluster.secret_env, so no pod can read the key; add "
            f"{{secret: <name>, key: <key>}} for each"
        )
    # Processes or an engine over more GPUs than their pod asks for would wait for them forever.
    rewriter, evaluation = settings.alignment.rewriter, settings.evaluation
    wanted = {
        ("checkpoints", "training.distributed.nproc_per_node"): (
            settings.training.distributed.nproc_per_node
        ),
        ("aligned_corpus", "alignment.rewriter.engine.tensor_parallel_size"): (
            rewriter.engine.tensor_parallel_size if rewriter.backend == "vllm" else 1
        ),
        ("eval_scores", "evaluation.engine.tensor_parallel_size"): (
            evaluation.engine.tensor_parallel_size if evaluation.backend == "vllm" else 1
        ),
    }
    for (step, key), n in wanted.items():
        gpus = cluster.gpu_step(step).gpus
        if n > gpus:
            raise ValueError(
                f"{key} is {n} but the {step} pod has {gpus} GPU(s): raise "
                f"cluster.gpu_steps.{step}.gpus"
            )
