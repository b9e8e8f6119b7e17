"""Where steps run, from the config's `cluster` section (native_pipeline/cluster.py builds the
Kubernetes pieces):

- `local`: the in-process executor (the steps of a run one after the other, in the run's own
  process) and `PipesSubprocessClient`;
- `kubernetes`: dagster-k8s's `k8s_job_executor` (a pod per step, the GPU steps' pods asking for
  GPUs through their tags) and `PipesK8sClient` (the training process in a GPU pod of its own),
  or, for a training run over several nodes, `PipesPyTorchJobClient` (a Kubeflow PyTorchJob, a
  pod a node, the master pod's logs carrying the Pipes messages).
"""

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from native_pipeline.cluster import (
    PYTORCH_JOB,
    check_cluster,
    executor_config,
    gpu_step_tags,
    pipes_pod,
    pytorch_job,
)
from native_pipeline.defs.config import SettingsResource, config_class
from native_pipeline.settings import ClusterSettings, GpuStep, current_settings


def gpu_tags(step: GpuStep, *, pipes: bool = False) -> dict[str, Any]:
    """The op tags of a GPU step (see cluster.gpu_step_tags), read when the code loads."""
    return gpu_step_tags(current_settings().cluster, step, pipes=pipes)


class PipesResource(config_class(ClusterSettings, SettingsResource)):
    """The `cluster` section. Starts a step's GPU process through Dagster Pipes: a subprocess
    beside the step, or a pod of its own on Kubernetes. One call either way:
    `pipes.run(context=..., step=..., command=...)`."""

    settings_model = ClusterSettings

    def run(
        self,
        *,
        context: dg.AssetExecutionContext,
        step: GpuStep,
        command: Sequence[str],
        nodes: int = 1,
    ) -> dg.PipesClientCompletedInvocation:
        """`nodes` > 1: a PyTorchJob of that many pods (`command` is torchrun with
        cluster.rendezvous_args)."""
        settings = self.settings
        if nodes > 1:
            name = job_name(context.run_id, context.op.name)
            client = pytorch_job_client()
            return client.run(
                context=context,
                job=lambda env: pytorch_job(
                    settings, step, command, name=name, nnodes=nodes, env=env
                ),
            )
        if settings.mode == "local":
            return dg.PipesSubprocessClient().run(context=context, command=list(command))
        from dagster_k8s import PipesK8sClient  # the k8s extra, needed on a cluster only

        return PipesK8sClient().run(context=context, **pipes_pod(settings, step, command))


def job_name(run_id: str, op_name: str) -> str:
    """A PyTorchJob's name: unique per run and step, short enough for its pods' names."""
    return "train-" + hashlib.sha1(f"{run_id}/{op_name}".encode()).hexdigest()[:12]


def pytorch_job_client():
    """`PipesPyTorchJobClient` (a class of its own only where dagster-k8s is installed)."""
    from dagster_k8s import PipesK8sClient
    from dagster_k8s.client import DagsterKubernetesClient, WaitForPodState

    class PipesPyTorchJobClient(PipesK8sClient):
        """Starts a PyTorchJob and follows its master pod as `PipesK8sClient` follows its pod:
        the Pipes messages come from the master's logs (global rank 0 reports); the job must
        end Succeeded; it is deleted at the end either way."""

        def run(  # type: ignore[override]
            self,
            *,
            context: dg.AssetExecutionContext,
            job: Callable[[dict[str, str]], dict[str, Any]],
        ) -> dg.PipesClientCompletedInvocation:
            from kubernetes import client as k8s

            self._load_k8s_config()
            client = DagsterKubernetesClient.production_client()
            jobs = k8s.CustomObjectsApi()
            group, version, plural = PYTORCH_JOB
            with dg.open_pipes_session(
                context=context,
                context_injector=self.context_injector,
                message_reader=self.message_reader,
            ) as session:
                body = job(session.get_bootstrap_env_vars())
                name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
                jobs.create_namespaced_custom_object(group, version, namespace, plural, body)
                try:
                    master = f"{name}-master-0"
                    with self.consume_pod_logs(
                        context=context, client=client, namespace=namespace, pod_name=master
                    ):
                        client.wait_for_pod(
                            master,
                            namespace,
                            wait_for_state=WaitForPodState.Terminated,
                            wait_time_between_attempts=self.poll_interval,
                        )
                    status = jobs.get_namespaced_custom_object(
                        group, version, namespace, plural, name
                    ).get("status", {})
                    conditions = [c["type"] for c in status.get("conditions", [])]
                    if "Failed" in conditions:
                        raise dg.Failure(f"PyTorchJob {name} failed: {status}")
                finally:
                    jobs.delete_namespaced_custom_object(group, version, namespace, plural, name)
            return dg.PipesClientCompletedInvocation(session)

    return PipesPyTorchJobClient()


@dg.definitions
def executor() -> dg.Definitions:
    """In process on one machine: a run's steps follow each other anyway (the heavy ones spread
    over the cores by themselves: cleaning's workers, torchrun), and a process per step would
    spend seconds importing torch and transformers again for each of some forty steps. On
    Kubernetes, a pod per step."""
    settings = current_settings()
    if settings.cluster.mode == "local":
        return dg.Definitions(executor=dg.in_process_executor)
    check_cluster(settings)
    from dagster_k8s import k8s_job_executor

    config = executor_config(settings.cluster)
    return dg.Definitions(executor=k8s_job_executor.configured(config, name="k8s"))
