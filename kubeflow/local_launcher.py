"""Runs tasks of a compiled Kubeflow Pipelines v2 spec on this machine, as the KFP launcher runs them in pods.

For each task it builds the ExecutorInput that the launcher would: the task's constant parameters, its input
artifacts (type from the component's input definitions; URI and metadata as the producing task's executor
output reported them), output artifacts under a local pipeline root, and the executor output file. Then it
runs the spec's own command and arguments, with `{{$}}` replaced by that ExecutorInput as JSON, in a
subprocess: for TFX components that is the container entrypoint `python -m
tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor --executor_class_path ...`. A container's
pre-cache-check hook (the FileBasedExampleGen driver) runs first, as Vertex AI Pipelines runs it.

It stands in for the image and the cluster: the interpreter is this one (whose environment has the package
installed, as the image does), the environment gets the image's ENV settings, and the working directory is a
scratch folder, so that user code is imported from the installed package as in the container.

    launcher = LocalLauncher(load_spec("textrnn_kubeflow.yaml"), root="/tmp/kfp_root")
    for task in ("JsonExampleGen", "StatisticsGen", "SchemaGen", "Transform", "Trainer"):
        launcher.run_task(task)
"""
import json
import os
import re
import subprocess
import sys
import time
from typing import Dict, List, Mapping, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from textrnn.errors import TextrnnError

EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
# The ENV settings of tensorflow/tfx:1.21.0 (its Dockerfile) that reach the components' code.
TFX_IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_XLA_FLAGS": "--tf_xla_enable_xla_devices=false"}
ContainerSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec


class TaskFailedError(TextrnnError, RuntimeError):
    """A task's command exited with an error; the message ends with the tail of its log."""


def load_spec(path: str) -> pipeline_spec_pb2.PipelineSpec:
    """The PipelineSpec in a compiled YAML (or JSON) file, parsed strictly: unknown fields are errors."""
    with open(path) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    return json_format.ParseDict(documents[0], pipeline_spec_pb2.PipelineSpec())


def deployment_config(spec: pipeline_spec_pb2.PipelineSpec) -> pipeline_spec_pb2.PipelineDeploymentConfig:
    """The spec's deploymentSpec (a Struct in PipelineSpec) parsed strictly as a PipelineDeploymentConfig."""
    return json_format.ParseDict(json_format.MessageToDict(spec.deployment_spec),
                                 pipeline_spec_pb2.PipelineDeploymentConfig())


def dockerfile_env(dockerfile: str) -> Dict[str, str]:
    """The environment a container of the image built from `dockerfile` starts with, past the host's: the
    TFX base image's settings, then the Dockerfile's own `ENV NAME=value` lines."""
    env = dict(TFX_IMAGE_ENV)
    with open(dockerfile) as f:
        for line in f:
            match = re.match(r"\s*ENV\s+(.*)$", line)
            if match:
                for name, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)', match.group(1)):
                    env[name] = value.strip('"')
    return env


class LocalLauncher:
    """Runs tasks of `spec` one at a time, feeding each the outputs of the tasks it depends on."""

    def __init__(self, spec: pipeline_spec_pb2.PipelineSpec, root: str, env: Optional[Mapping[str, str]] = None,
                 python: str = sys.executable, timeout: float = 900):
        self.spec = spec
        self.deployment = deployment_config(spec)
        self.root = os.path.abspath(root)
        self.python = python
        self.timeout = timeout
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.env["PATH"] = os.path.dirname(python) + os.pathsep + self.env.get("PATH", "")
        # Output artifacts of the tasks run so far, as their executor outputs reported them.
        self.outputs: Dict[str, Dict[str, pipeline_spec_pb2.RuntimeArtifact]] = {}
        self.logs: Dict[str, str] = {}
        self.seconds: Dict[str, float] = {}  # wall time of each task, hook included

    def container(self, task_name: str) -> ContainerSpec:
        component = self.spec.components[self.spec.root.dag.tasks[task_name].component_ref.name]
        executor = self.deployment.executors[component.executor_label]
        if executor.WhichOneof("spec") != "container":
            raise NotImplementedError(f"task {task_name} is a {executor.WhichOneof('spec')} executor, not a container")
        return executor.container

    def executor_input(self, task_name: str) -> pipeline_spec_pb2.ExecutorInput:
        """The ExecutorInput of a task whose upstream tasks have run."""
        task = self.spec.root.dag.tasks[task_name]
        component = self.spec.components[task.component_ref.name]
        result = pipeline_spec_pb2.ExecutorInput()
        for name, parameter in task.inputs.parameters.items():
            if parameter.WhichOneof("kind") != "runtime_value" or not parameter.runtime_value.HasField("constant"):
                raise NotImplementedError(f"{task_name}.{name}: only constant parameters are supported")
            result.inputs.parameter_values[name].CopyFrom(parameter.runtime_value.constant)
        for name, artifact_spec in task.inputs.artifacts.items():
            source = artifact_spec.task_output_artifact
            if source.producer_task not in self.outputs:
                raise RuntimeError(f"{task_name} needs {source.producer_task}, which has not run")
            upstream = self.outputs[source.producer_task][source.output_artifact_key]
            artifact = result.inputs.artifacts[name].artifacts.add()
            artifact.CopyFrom(upstream)
            artifact.type.CopyFrom(component.input_definitions.artifacts[name].artifact_type)
        task_root = os.path.join(self.root, task_name)
        for name, output in component.output_definitions.artifacts.items():
            artifact = result.outputs.artifacts[name].artifacts.add()
            artifact.name = f"{task_name}.{name}"
            artifact.uri = os.path.join(task_root, name)
            artifact.type.CopyFrom(output.artifact_type)
            artifact.metadata.CopyFrom(output.metadata)
        result.outputs.output_file = os.path.join(task_root, "executor_output.json")
        return result

    def command(self, task_name: str, executor_input: pipeline_spec_pb2.ExecutorInput,
                hook: Optional[ContainerSpec.Lifecycle.Exec] = None) -> List[str]:
        """The task's command line (or its hook's), placeholders filled as the launcher fills them."""
        source = hook or self.container(task_name)
        serialized = json_format.MessageToJson(executor_input, sort_keys=True)
        command = [serialized if arg == EXECUTOR_INPUT_PLACEHOLDER else arg
                   for arg in [*source.command, *source.args]]
        unresolved = [arg for arg in command if arg is not serialized and re.search(r"\{\{\$.*\}\}", arg)]
        if unresolved:
            raise NotImplementedError(f"{task_name}: placeholders this launcher does not fill: {unresolved}")
        if command[0] == "python":
            command[0] = self.python
        return command

    def _execute(self, task_name: str, command: List[str], log_name: str) -> None:
        task_root = os.path.join(self.root, task_name)
        os.makedirs(task_root, exist_ok=True)
        log_path = os.path.join(task_root, log_name)
        workdir = os.path.join(task_root, "workdir")
        os.makedirs(workdir, exist_ok=True)
        with open(log_path, "w") as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=self.env,
                                    timeout=self.timeout)
        self.logs[task_name] = log_path
        if result.returncode != 0:
            with open(log_path) as f:
                tail = "".join(f.readlines()[-40:])
            raise TaskFailedError(f"{task_name} ({log_name}) exited with {result.returncode}; log {log_path}:\n{tail}")

    def run_task(self, task_name: str, pre_cache_check: bool = True) -> pipeline_spec_pb2.ExecutorOutput:
        """Runs one task (its pre-cache-check hook first, if it has one); returns its executor output."""
        start = time.perf_counter()
        executor_input = self.executor_input(task_name)
        container = self.container(task_name)
        if pre_cache_check and container.lifecycle.HasField("pre_cache_check"):
            hook = container.lifecycle.pre_cache_check
            self._execute(task_name, self.command(task_name, executor_input, hook), "pre_cache_check.log")
        self._execute(task_name, self.command(task_name, executor_input), "executor.log")
        output = pipeline_spec_pb2.ExecutorOutput()
        with open(executor_input.outputs.output_file) as f:
            json_format.Parse(f.read(), output, ignore_unknown_fields=True)
        produced = {}
        for name, artifact_list in executor_input.outputs.artifacts.items():
            artifact = pipeline_spec_pb2.RuntimeArtifact()
            artifact.CopyFrom(artifact_list.artifacts[0])
            if name in output.artifacts and output.artifacts[name].artifacts:
                reported = output.artifacts[name].artifacts[0]
                artifact.uri = reported.uri or artifact.uri
                artifact.metadata.CopyFrom(reported.metadata)
            produced[name] = artifact
        self.outputs[task_name] = produced
        self.seconds[task_name] = time.perf_counter() - start
        return output


def main(argv=None) -> int:
    """python -m textrnn.kubeflow.local_launcher SPEC.yaml ROOT TASK...: runs the named tasks in order."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3:
        print(main.__doc__, file=sys.stderr)
        return 2
    spec_path, root, tasks = argv[0], argv[1], argv[2:]
    dockerfile = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Dockerfile")
    launcher = LocalLauncher(load_spec(spec_path), root,
                             env=dockerfile_env(dockerfile) if os.path.exists(dockerfile) else None)
    for task in tasks:
        output = launcher.run_task(task)
        print(json.dumps({task: {k: v.artifacts[0].uri for k, v in output.artifacts.items()},
                          "seconds": round(launcher.seconds[task], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
