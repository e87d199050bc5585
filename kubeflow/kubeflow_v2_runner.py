"""Compiles the textrnn pipeline into a Kubeflow Pipelines v2 spec (YAML) with KubeflowV2DagRunner.

    python -m textrnn.kubeflow.kubeflow_v2_runner   # settings from TEXTRNN_*; or: textrnn compile-kubeflow --help

The pipeline comes from the same factory and the same options as a local run (`pipeline.pipeline.create_pipeline`,
`pipeline.options.PipelineOptions`), placed by the cluster's settings (kubeflow/cluster.py): every component runs in the image built from kubeflow/Dockerfile, requests
CPU and memory (the Trainer GPUs too) through its platform config, and the Beam-powered ones take the Beam
arguments of the chosen runner (DirectRunner in the pod, Dataflow or Flink). Upload the YAML to Kubeflow
Pipelines (UI or `kfp.Client().create_run_from_pipeline_package`); see README.md.

Two things the TFX 1.21 compiler leaves out are filled in after compiling: the ExampleGen's resources (its
FileBasedExampleGen container spec ignores the platform config) and the spec's defaultPipelineRoot (the
pipeline root only reaches the JSON job's runtime config, which the YAML does not hold).
"""
import dataclasses
import os
from typing import Any, Dict, List, Mapping, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from textrnn.output_layout import serving_model_dir as default_serving_model_dir
from textrnn.contract import DATA_COMPONENTS, TRAINING_COMPONENTS
from textrnn.kubeflow.cluster import IMAGE_SCHEMA_FILE, ClusterOptions, cpu_cores
from textrnn.pipeline import pipeline as textrnn_pipeline
from textrnn.pipeline.options import PipelineOptions

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

# The container entrypoint of every component (the spec's `command`): TFX's Kubeflow v2 executor launcher, run by
# kubeflow/container_entrypoint.py so that the report's `system.HTML` type imports.
ENTRYPOINT = ["python", "-m", "textrnn.kubeflow.container_entrypoint"]

_MEMORY_UNITS = {"E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "K": 1e3, "k": 1e3,
                 "Ei": 2**60, "Pi": 2**50, "Ti": 2**40, "Gi": 2**30, "Mi": 2**20, "Ki": 2**10}


@dataclasses.dataclass(frozen=True)
class Resources:
    """What a component's pod asks for: CPU and memory as Kubernetes quantities ("2", "500m"; "8G", "512Mi")."""

    cpu: str
    memory: str
    gpus: int = 0
    gpu_type: str = "nvidia.com/gpu"
    # Limits are optional on Kubeflow Pipelines; Vertex AI Pipelines sizes machines from them.
    cpu_limit: Optional[str] = None
    memory_limit: Optional[str] = None


def _memory_gb(quantity: str) -> float:
    """Decimal gigabytes in a Kubernetes memory quantity (what the deprecated float fields hold)."""
    for suffix in sorted(_MEMORY_UNITS, key=len, reverse=True):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * _MEMORY_UNITS[suffix] / 1e9
    return float(quantity) / 1e9


def resource_spec(resources: Resources) -> ResourceSpec:
    """The ResourceSpec platform config, filled as the KFP SDK fills it.

    The string fields (resource_cpu_request, accelerator.resource_type, ...) are what current Kubeflow
    Pipelines backends read; the deprecated numeric ones (cpu_request, accelerator.type/count, ...) are set too
    for older backends and Vertex AI Pipelines.
    """
    spec = ResourceSpec(
        resource_cpu_request=resources.cpu,
        cpu_request=cpu_cores(resources.cpu),
        resource_memory_request=resources.memory,
        memory_request=_memory_gb(resources.memory),
    )
    if resources.cpu_limit:
        spec.resource_cpu_limit = resources.cpu_limit
        spec.cpu_limit = cpu_cores(resources.cpu_limit)
    if resources.memory_limit:
        spec.resource_memory_limit = resources.memory_limit
        spec.memory_limit = _memory_gb(resources.memory_limit)
    if resources.gpus:
        spec.accelerator.resource_type = resources.gpu_type
        spec.accelerator.resource_count = str(resources.gpus)
        spec.accelerator.type = resources.gpu_type
        spec.accelerator.count = resources.gpus
    return spec


def default_resources(cluster: ClusterOptions) -> Dict[str, Resources]:
    """Resources by component id from the cluster's settings; "*" is every component not named."""
    data = Resources(cluster.data_cpu, cluster.data_memory)
    training = Resources(cluster.trainer_cpu, cluster.trainer_memory, gpus=cluster.gpus, gpu_type=cluster.gpu_type)
    return {
        "*": Resources(cluster.default_cpu, cluster.default_memory),
        **{component_id: data for component_id in DATA_COMPONENTS},
        **{component_id: training for component_id in TRAINING_COMPONENTS},
    }


def for_the_cluster(options: PipelineOptions, cluster: ClusterOptions) -> PipelineOptions:
    """The run's options as pods see them: the schema and GloVe folder left at their local defaults become the
    image's schema and the cluster's GloVe folder."""
    changes = {}
    if options.origins.get("schema_file", None) is None or options.origins["schema_file"].source == "default":
        changes["schema_file"] = IMAGE_SCHEMA_FILE
    if not options.glove_dir:
        changes["glove_dir"] = cluster.glove_dir
    return dataclasses.replace(options, **changes)


def create_kubeflow_pipeline(
    options: PipelineOptions,
    cluster: ClusterOptions,
    beam_pipeline_args: Optional[List[str]] = None,
    resources: Optional[Mapping[str, Resources]] = None,
) -> tfx.dsl.Pipeline:
    """The pipeline of `pipeline.pipeline.create_pipeline` with the cluster's paths, resources and Beam arguments.

    There is no metadata connection: Kubeflow Pipelines records runs in its own ML Metadata. Its open-source
    backend runs no resolver tasks, so the baseline is the newest version under the push destination
    (LatestPushedModel), the model TF Serving serves; the last task, RunVerdict, logs the summary and fails
    when the model was not blessed.
    """
    resources = default_resources(cluster) if resources is None else resources
    placement = textrnn_pipeline.Placement(
        pipeline_root=cluster.pipeline_root,
        data_path=cluster.data_root,
        serving_model_dir=cluster.serving_model_dir or default_serving_model_dir(cluster.pipeline_root,
                                                                                 options.pipeline_name),
        beam_pipeline_args=cluster.beam_pipeline_args() if beam_pipeline_args is None else beam_pipeline_args,
        baseline_source=textrnn_pipeline.BASELINE_FROM_PUSH_DESTINATION,
        verdict_step=True,
        platform_configs={component_id: resource_spec(r) for component_id, r in resources.items()},
        cache=False,
    )
    return textrnn_pipeline.create_pipeline(for_the_cluster(options, cluster), placement)


def compile_pipeline(pipeline: tfx.dsl.Pipeline, image: str, output_path: str) -> Dict[str, Any]:
    """Writes the Kubeflow Pipelines v2 spec of `pipeline` as YAML to `output_path`; returns it as a dict.

    The spec uses schema 2.1.0, whose constant parameters (`runtimeValue.constant`) are what the open-source
    Kubeflow Pipelines backend reads (it rejects schema 2.0.0's `constantValue`).
    """
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=image, default_commands=ENTRYPOINT, use_pipeline_spec_2_1=True
        ),
        output_dir=os.path.dirname(os.path.abspath(output_path)),
        output_filename=os.path.basename(output_path),
    )
    spec = runner.run(pipeline, write_out=False)["pipelineSpec"]
    executors = spec["deploymentSpec"]["executors"]
    for component in pipeline.components:
        executor = executors.get(f"{component.id}_executor", {})
        if getattr(component, "platform_config", None) is not None and "container" in executor:
            executor["container"].setdefault("resources", json_format.MessageToDict(component.platform_config))
    spec["defaultPipelineRoot"] = pipeline.pipeline_info.pipeline_root
    # Fails here, not on upload, if the spec is not a valid PipelineSpec.
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    with open(output_path, "w") as f:
        f.write(f"# PIPELINE DEFINITION\n# Name: {spec['pipelineInfo']['name']}\n"
                f"# Compiled from the textrnn TFX pipeline with {spec['sdkVersion']} for image {image}\n")
        yaml.safe_dump(spec, f, sort_keys=True)
    return spec


def run(options: PipelineOptions, cluster: ClusterOptions) -> Dict[str, Any]:
    """Compiles the pipeline of `options` for `cluster` into `cluster.output`; returns the spec."""
    return compile_pipeline(create_kubeflow_pipeline(options, cluster), cluster.image, cluster.output)


if __name__ == "__main__":
    from absl import logging

    from textrnn.kubeflow.cluster import resolve_cluster_options
    from textrnn.pipeline.options import resolve_options

    logging.set_verbosity(logging.INFO)
    cluster = resolve_cluster_options()
    run(resolve_options(), cluster)
    print(f"wrote {cluster.output}")
