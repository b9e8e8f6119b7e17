"""The cluster path: pods built by dagster-k8s from the config's `cluster` section.

No cluster here: dagster-k8s's own builders turn our settings into the Kubernetes objects it
would send (the step's Job under k8s_job_executor, the Pipes pod of the training process), and
the tests read the GPUs, image, command, environment and volumes off those objects.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_k8s import k8s_job_executor
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import (
    DagsterK8sJobConfig,
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
    get_user_defined_k8s_config,
)
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from dagster_k8s.pipes import build_pod_body
from kubernetes.client import V1PodTemplateSpec
from pydantic import ValidationError

from native_pipeline.cluster import (
    TAG,
    check_cluster,
    executor_config,
    gpu_step_tags,
    pipes_pod,
    pytorch_job,
    rendezvous_args,
)
from native_pipeline.settings import ClusterSettings, Settings, load_settings
from native_pipeline.training.run import launch_command

IMAGE = "registry.example.com/native-pipeline:0.1.0"
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
CLUSTER = {
    "mode": "kubernetes",
    "image": IMAGE,
    "namespace": "np",
    "service_account": "native-pipeline",
    "data_volume": {"claim_name": "np-data", "mount_path": "/data"},
    "node_selector": {"pool": "batch"},
    "secret_env": {"OPENAI_API_KEY": {"secret": "openai", "key": "api-key"}},
    "gpu_steps": {
        "aligned_corpus": {
            "gpus": 2,
            "memory": "64Gi",
            "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "tolerations": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
        },
        "checkpoints": {
            "gpus": 8,
            "cpu": "32",
            "node_selector": {"nvidia.com/gpu.count": "8"},
            "tolerations": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
        },
    },
}


def cluster() -> ClusterSettings:
    return ClusterSettings.model_validate(CLUSTER)


def run_launcher_context() -> K8sContainerContext:
    """What deploy/values.yaml's K8sRunLauncher gives every run pod, and so every step pod."""
    values = yaml.safe_load((DEPLOY / "values.yaml").read_text())
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    return K8sContainerContext(
        env_vars=launcher["envVars"],
        volumes=launcher["volumes"],
        volume_mounts=launcher["volumeMounts"],
    )


def step_job(tags: dict[str, str]):
    """The Job k8s_job_executor would create for a step with these (string) op tags: the run
    launcher's config, the executor's and the step's tag, merged as the executor merges them."""
    config = executor_config(cluster())
    executor = K8sContainerContext(
        namespace=config["job_namespace"],
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config["step_k8s_config"]),
    )
    context = (
        run_launcher_context()
        .merge(executor)
        .merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(tags)))
    )
    job_config = DagsterK8sJobConfig(
        job_image=config["job_image"],
        dagster_home="/opt/dagster/dagster_home",
        instance_config_map="dagster-instance",
    )
    return construct_dagster_k8s_job(
        job_config,
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-aligned-corpus",
        user_defined_k8s_config=context.run_k8s_config,
    )


def tag_strings(tags: dict) -> dict[str, str]:
    """Op tags as Dagster stores them: dicts as JSON."""
    return {key: json.dumps(value) for key, value in tags.items()}


def secret_env(container) -> dict[str, tuple[str, str]]:
    return {
        e.name: (e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key)
        for e in container.env
        if e.value_from is not None
    }


def assert_unprivileged(pod, container) -> None:
    """The image's user (deploy/Dockerfile), nothing gained, the root filesystem read-only."""
    security = container.security_context
    assert (security.run_as_non_root, security.run_as_user, security.run_as_group) == (
        True,
        10001,
        10001,
    )
    assert security.read_only_root_filesystem and not security.allow_privilege_escalation
    assert security.capabilities.drop == ["ALL"]
    assert pod.security_context.fs_group == 10001


def test_the_image_runs_as_the_pods_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "useradd --uid 10001 --gid 10001" in dockerfile
    assert dockerfile.rstrip().splitlines()[-1] == "USER 10001:10001"


def test_gpu_step_pod_under_the_k8s_executor():
    tags = gpu_step_tags(cluster(), "aligned_corpus")
    job = step_job(tag_strings(tags))
    pod = job.spec.template.spec
    (container,) = pod.containers
    assert container.image == IMAGE
    assert container.resources.requests == {"nvidia.com/gpu": "2", "memory": "64Gi"}
    assert container.resources.limits == {"nvidia.com/gpu": "2", "memory": "64Gi"}
    # The cluster's node rule and the step's GPU node rule, merged.
    assert pod.node_selector == {"pool": "batch", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert [(t.key, t.operator, t.effect) for t in pod.tolerations] == [
        ("nvidia.com/gpu", "Exists", "NoSchedule")
    ]
    assert pod.service_account_name == "native-pipeline"
    claims = {v.name: v.persistent_volume_claim for v in pod.volumes if v.persistent_volume_claim}
    assert claims["data"].claim_name == "np-data"
    # Each volume once: the config from the run launcher, the data from the executor, the
    # shared memory from the step's tag (Kubernetes rejects a name or mount path twice).
    assert sorted(v.name for v in pod.volumes) == ["config", "data", "dshm", "tmp"]
    assert sorted((m.name, m.mount_path) for m in container.volume_mounts) == [
        ("config", "/etc/native_pipeline"),
        ("data", "/data"),
        ("dshm", "/dev/shm"),
        ("tmp", "/tmp"),
    ]
    assert_unprivileged(pod, container)
    # Plain values: Dagster's own and the config's path; the key only from its Secret.
    assert {e.name: e.value for e in container.env if e.value is not None} == {
        "DAGSTER_HOME": "/opt/dagster/dagster_home",
        "NATIVE_PIPELINE_CONFIG": "/etc/native_pipeline/cluster.yaml",
    }
    assert secret_env(container) == {"OPENAI_API_KEY": ("openai", "api-key")}


def test_executor_config_is_valid_k8s_job_executor_config():
    @dg.op
    def step() -> None: ...

    @dg.job(executor_def=k8s_job_executor)
    def probe() -> None:
        step()

    config = executor_config(cluster())
    assert dg.validate_run_config(probe, {"execution": {"config": config}})
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(probe, {"execution": {"config": {**config, "gpus": 1}}})


def test_cpu_step_pod_has_the_volume_and_no_gpu():
    job = step_job({})
    pod = job.spec.template.spec
    (container,) = pod.containers
    assert not (container.resources and container.resources.limits)
    assert pod.node_selector == {"pool": "batch"}
    assert sorted(m.mount_path for m in container.volume_mounts) == [
        "/data",
        "/etc/native_pipeline",
        "/tmp",
    ]
    assert_unprivileged(pod, container)
    assert secret_env(container) == {"OPENAI_API_KEY": ("openai", "api-key")}


def test_steps_default_to_one_gpu_and_local_mode_adds_no_tags():
    tags = gpu_step_tags(cluster(), "eval_scores")[TAG]
    assert tags["container_config"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert gpu_step_tags(ClusterSettings(), "eval_scores") == {}
    # A step whose GPUs are in its Pipes pod waits on a CPU-only pod.
    assert gpu_step_tags(cluster(), "checkpoints", pipes=True) == {}


def test_training_pipes_pod():
    command = launch_command(Path("/data/np/checkpoints/spec.json"), nproc_per_node=8)
    args = pipes_pod(cluster(), "checkpoints", command)
    assert args["namespace"] == "np"
    pipes_env = {"DAGSTER_PIPES_CONTEXT": "e30=", "DAGSTER_PIPES_MESSAGES": "e30="}
    pod = build_pod_body(
        pod_name="dagster-pipes-checkpoints",
        image=args["image"],
        command=args["command"],
        env_vars=pipes_env,
        base_pod_meta=args["base_pod_meta"],
        base_pod_spec=args["base_pod_spec"],
    )
    (container,) = pod.spec.containers
    assert container.image == IMAGE
    assert container.command == command
    assert command[2:6] == ["torch.distributed.run", "--standalone", "--nproc_per_node", "8"]
    assert container.resources.requests == {"nvidia.com/gpu": "8", "cpu": "32"}
    assert container.resources.limits == {"nvidia.com/gpu": "8"}
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.service_account_name == "native-pipeline"
    assert pod.spec.node_selector == {"pool": "batch", "nvidia.com/gpu.count": "8"}
    assert [(t.key, t.effect) for t in pod.spec.tolerations] == [("nvidia.com/gpu", "NoSchedule")]
    assert {m.name: m.mount_path for m in container.volume_mounts} == {
        "data": "/data",
        "dshm": "/dev/shm",
        "tmp": "/tmp",
    }
    assert_unprivileged(pod.spec, container)
    volumes = {v.name: v for v in pod.spec.volumes}
    assert volumes["data"].persistent_volume_claim.claim_name == "np-data"
    assert volumes["dshm"].empty_dir.medium == "Memory"
    # Plain values: only what Pipes adds; the key comes from its Secret by name.
    assert {e.name: e.value for e in container.env if e.value is not None} == pipes_env
    assert secret_env(container) == {"OPENAI_API_KEY": ("openai", "api-key")}
    assert pod.metadata.labels["app.kubernetes.io/part-of"] == "native-pipeline"


def training_job(settings: Settings, nnodes: int) -> dict:
    """The PyTorchJob the checkpoints step starts for a spec on the shared volume."""
    spec = Path(settings.data_root) / "checkpoints" / "variant=aligned" / "spec.json"
    nproc = settings.training.distributed.nproc_per_node
    command = launch_command(
        spec, nproc_per_node=nproc, extra_torchrun_args=rendezvous_args(nnodes, "run-1")
    )
    pipes_env = {"DAGSTER_PIPES_CONTEXT": "e30=", "DAGSTER_PIPES_MESSAGES": "e30="}
    return pytorch_job(
        settings.cluster, "checkpoints", command, name="train-1", nnodes=nnodes, env=pipes_env
    )


def test_training_over_several_nodes_is_a_pytorchjob():
    settings = Settings(data_root=Path("/data/np"), cluster=cluster())
    job = training_job(settings, nnodes=4)
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert job["metadata"]["namespace"] == "np"
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert {role: r["replicas"] for role, r in replicas.items()} == {"Master": 1, "Worker": 3}
    for role in replicas.values():
        assert role["restartPolicy"] == "Never"
        # The API's own field names: dagster-k8s's strict reader refuses any other.
        template = k8s_model_from_dict(
            V1PodTemplateSpec, k8s_snake_case_dict(V1PodTemplateSpec, role["template"])
        )
        (container,) = template.spec.containers
        assert container.name == "pytorch" and container.image == IMAGE
        command = container.command
        assert command[2:4] == ["torch.distributed.run", "--nproc_per_node"]
        assert "--standalone" not in command
        rendezvous = dict(zip(command[5:12:2], command[6:13:2], strict=True))
        assert rendezvous == {
            "--nnodes": "4",
            "--rdzv-backend": "c10d",
            "--rdzv-endpoint": "$(MASTER_ADDR):$(MASTER_PORT)",
            "--rdzv-id": "run-1",
        }
        assert command[-1] == "/data/np/checkpoints/variant=aligned/spec.json"
        assert container.resources.limits == {"nvidia.com/gpu": "8"}
        assert {m.name: m.mount_path for m in container.volume_mounts} == {
            "data": "/data",
            "dshm": "/dev/shm",
            "tmp": "/tmp",  # the scratch space of a read-only root filesystem
        }
        assert container.security_context.run_as_non_root
        assert container.security_context.read_only_root_filesystem
        volumes = {v.name: v for v in template.spec.volumes}
        assert volumes["data"].persistent_volume_claim.claim_name == "np-data"
        assert secret_env(container) == {"OPENAI_API_KEY": ("openai", "api-key")}
        plain = {e.name: e.value for e in container.env if e.value is not None}
        assert plain == {"DAGSTER_PIPES_CONTEXT": "e30=", "DAGSTER_PIPES_MESSAGES": "e30="}
        assert template.spec.node_selector == {"pool": "batch", "nvidia.com/gpu.count": "8"}
        assert template.spec.service_account_name == "native-pipeline"
    one = training_job(settings, nnodes=1)["spec"]["pytorchReplicaSpecs"]
    assert list(one) == ["Master"]
    with pytest.raises(ValueError, match="several nodes needs cluster.mode kubernetes"):
        pytorch_job(ClusterSettings(), "checkpoints", ["python"], name="x", nnodes=2)


def test_the_70b_example_job_is_what_the_code_renders(monkeypatch):
    """deploy/pytorchjob-llama-3-70b.yaml (the README's manifest) from deploy/llama-3-70b.yaml."""
    monkeypatch.delenv("NATIVE_PIPELINE_DATA_ROOT", raising=False)
    settings = load_settings(DEPLOY / "llama-3-70b.yaml")
    check_cluster(settings)
    rendered = training_job(settings, settings.training.distributed.nnodes)
    for role in rendered["spec"]["pytorchReplicaSpecs"].values():  # the image's interpreter
        role["template"]["spec"]["containers"][0]["command"][0] = "python"
    expected = yaml.safe_load((DEPLOY / "pytorchjob-llama-3-70b.yaml").read_text())
    assert rendered == expected, yaml.safe_dump(rendered, sort_keys=False)


def test_cluster_settings_are_checked():
    with pytest.raises(ValidationError, match="needs cluster.image"):
        ClusterSettings(mode="kubernetes")
    with pytest.raises(ValidationError):
        ClusterSettings.model_validate({**CLUSTER, "gpu_steps": {"aligned_corpsu": {"gpus": 1}}})
    with pytest.raises(ValidationError):
        ClusterSettings.model_validate({**CLUSTER, "gpu": 1})
    with pytest.raises(ValueError, match="not on the shared volume"):
        check_cluster(Settings(data_root=Path("data"), cluster=cluster()))
    with pytest.raises(ValueError, match="nproc_per_node is 16"):
        check_cluster(
            Settings(
                data_root=Path("/data/np"),
                cluster=cluster(),
                training={"distributed": {"nproc_per_node": 16}},
            )
        )
    # the rewriting step's pod has 2 GPUs: a worker over 2 fits, over 4 does not
    vllm = {"backend": "vllm", "engine": {"tensor_parallel_size": 2}}
    check_cluster(
        Settings(data_root=Path("/data/np"), cluster=cluster(), alignment={"rewriter": vllm})
    )
    vllm["engine"]["tensor_parallel_size"] = 4
    with pytest.raises(ValueError, match="tensor_parallel_size is 4 but the aligned_corpus pod"):
        check_cluster(
            Settings(data_root=Path("/data/np"), cluster=cluster(), alignment={"rewriter": vllm})
        )
    with pytest.raises(ValueError, match="tensor_parallel_size is 2 but the eval_scores pod"):
        check_cluster(
            Settings(
                data_root=Path("/data/np"),
                cluster=cluster(),
                evaluation={"backend": "vllm", "engine": {"tensor_parallel_size": 2}},
            )
        )
    with pytest.raises(ValueError, match="kubernetes"):
        pipes_pod(ClusterSettings(), "checkpoints", ["python"])


def test_every_api_key_a_pod_needs_comes_from_a_secret():
    """An expert, rewriter or remote harm scorer whose key variable no pod can read is refused
    when the code location loads: on a cluster it would silently empty every dump."""
    remote = {"base_url": "http://judge/v1", "model": "m", "api_key_env": "HARM_KEY"}
    settings = Settings(
        data_root=Path("/data/np"),
        cluster=cluster(),
        alignment={
            "expert": {"backend": "openai", "base_url": "http://x/v1", "model": "m"},
            "rewriter": {"backend": "openai", "api_key_env": "REWRITER_KEY"},
            "fact_judge": {"backend": "openai", "api_key_env": "JUDGE_KEY"},
        },
        harm={"backend": "moderation_api", **remote},
    )
    with pytest.raises(ValueError) as refused:
        check_cluster(settings)
    assert str(refused.value).startswith(
        "alignment.fact_judge.api_key_env JUDGE_KEY, alignment.rewriter.api_key_env REWRITER_KEY,"
        " harm.api_key_env HARM_KEY: not in cluster.secret_env"
    )  # the expert's OPENAI_API_KEY is there
    ref = {"secret": "keys", "key": "k"}
    keys = {"HARM_KEY": ref, "REWRITER_KEY": ref, "JUDGE_KEY": ref}
    settings.cluster.secret_env = {**CLUSTER["secret_env"], **keys}
    check_cluster(settings)


def test_the_deploy_examples_load(monkeypatch):
    """deploy/cluster.yaml is a valid config for its volume; the Helm values and the instance
    file are YAML with the run launcher and storage docs/deploy.md describes."""
    monkeypatch.delenv("NATIVE_PIPELINE_DATA_ROOT", raising=False)
    settings = load_settings(DEPLOY / "cluster.yaml")
    check_cluster(settings)
    assert settings.cluster.gpu_step("checkpoints").gpus == 8
    values = yaml.safe_load((DEPLOY / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    mounts = {m["name"]: m["mountPath"] for m in deployment["volumeMounts"]}
    assert mounts["data"] == settings.cluster.data_volume.mount_path


def test_the_instance_file_loads_as_on_the_cluster(monkeypatch):
    """deploy/dagster.yaml read by Dagster as a pod reads it from DAGSTER_HOME: the config
    checked against the instance's schema, the run launcher and the run coordinator built (the
    in-cluster credentials are the one thing faked: there is no API server here)."""
    import kubernetes.config
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", lambda **_: None)
    ref = InstanceRef.from_dir(str(DEPLOY))
    launcher = ref.run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.service_account_name == "native-pipeline"
    assert launcher.security_context["runAsNonRoot"] is True
    assert launcher.security_context["readOnlyRootFilesystem"] is True
    assert isinstance(ref.run_coordinator, QueuedRunCoordinator)
    assert ref.settings["concurrency"]["runs"]["max_concurrent_runs"] == 20
    # The run and step pods write only to /tmp and the data volume.
    assert ref.local_artifact_storage.base_dir == "/tmp/dagster"
    assert yaml.safe_load(ref.compute_logs_data.config_yaml)["base_dir"].startswith("/tmp/")
    # The storage's package is installed with the k8s extra, so the image's pods can load it.
    extra = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    k8s = extra["project"]["optional-dependencies"]["k8s"]
    assert any(dep.startswith(ref.storage_data.module_name.replace("_", "-")) for dep in k8s)


def test_the_instance_storage_config_is_valid():
    """With dagster-postgres installed (the k8s extra): the file's storage config fits it."""
    storage = pytest.importorskip("dagster_postgres")
    from dagster._config import validate_config
    from dagster._core.instance.ref import InstanceRef

    ref = InstanceRef.from_dir(str(DEPLOY))
    config = yaml.safe_load(ref.storage_data.config_yaml)
    result = validate_config(storage.DagsterPostgresStorage.config_type(), config)
    assert result.success, result.errors
