"""Where steps run, from the config's `cluster` section (native_pipeline/cluster.py builds the
Kubernetes pieces):

- `local`: the in-process executor (the steps of a run one after the other, in the run's own
  process) and `PipesSubprocessClient`;
- `kubernetes`: dagster-k8s's `k8s_job_executor` (a pod per step, the GPU steps' pods asking for
  GPUs through their tags) and `PipesK8sClient` (the training process in a GPU pod of its own).
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from native_pipeline.cluster import check_cluster, executor_config, gpu_step_tags, pipes_pod
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
    ) -> dg.PipesClientCompletedInvocation:
        settings = self.settings
        if settings.mode == "local":
            return dg.PipesSubprocessClient().run(context=context, command=list(command))
        from dagster_k8s import PipesK8sClient  # the k8s extra, needed on a cluster only

        return PipesK8sClient().run(context=context, **pipes_pod(settings, step, command))


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
