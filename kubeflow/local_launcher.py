"""Runs tasks of a compiled Kubeflow Pipelines v2 spec on this machine, as the KFP launcher runs them in pods.

For each task it builds the ExecutorInput that the launcher would: the task's constant parameters, its input
artifacts (type from the component's input definitions; URI and metadata as the producing task's executor
output reported them), output artifacts under a local pipeline root, and the executor output file. Then it
runs the spec's own command and arguments, with `{{$}}` replaced by that ExecutorInput as JSON: for TFX
components that is the container entrypoint `python -m
tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor --executor_class_path ...`. A container's
pre-cache-check hook (the FileBasedExampleGen driver) runs first, as Vertex AI Pipelines runs it, unless
`run_task(..., pre_cache_check=False)`, as open-source Kubeflow Pipelines runs the task (it ignores the hook).

With `containers=True`, each task runs in a container of the image its container spec names (built from
kubeflow/Dockerfile), started by `engine` (docker, or scripts/podman.sh) with no network, and with the pipeline
root and the `mounts` (the data as "PATH:ro", the push destination) at their own paths, as a pod would have
them. Otherwise it runs in a subprocess of this interpreter (whose environment has the package installed, as
the image does) in a scratch folder.

    launcher = LocalLauncher(load_spec("textrnn_kubeflow.yaml"), root="/tmp/kfp_root", containers=True,
                             engine=["scripts/podman.sh"], mounts=["/data:ro", "/srv/models"])
    for task in launcher.task_order():
        launcher.run_task(task)
"""
import graphlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from textrnn.errors import TextrnnError

EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
ContainerSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec
# The container engine's command when none is given: $TEXTRNN_CONTAINER_ENGINE (e.g. scripts/podman.sh), else docker.
ENGINE_ENV = "TEXTRNN_CONTAINER_ENGINE"


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


class LocalLauncher:
    """Runs tasks of `spec` one at a time, feeding each the outputs of the tasks it depends on."""

    def __init__(self, spec: pipeline_spec_pb2.PipelineSpec, root: str, containers: bool = False,
                 engine: Optional[Sequence[str]] = None, mounts: Sequence[str] = (), python: str = sys.executable,
                 timeout: float = 900):
        self.spec = spec
        self.deployment = deployment_config(spec)
        self.root = os.path.abspath(root)
        self.containers = containers
        self.engine = list(engine or shlex.split(os.environ.get(ENGINE_ENV, "docker")))
        self.mounts = list(mounts)  # "PATH" (read-write) or "PATH:ro"
        self.python = python
        self.timeout = timeout
        self.env = dict(os.environ)
        self.env["PATH"] = os.path.dirname(python) + os.pathsep + self.env.get("PATH", "")
        # Output artifacts of the tasks run so far, as their executor outputs reported them.
        self.outputs: Dict[str, Dict[str, pipeline_spec_pb2.RuntimeArtifact]] = {}
        self.logs: Dict[str, str] = {}
        self.seconds: Dict[str, float] = {}  # wall time of each task, hook included
        self._image_users: Dict[str, Tuple[int, int]] = {}

    def task_order(self) -> List[str]:
        """Every task of the spec, each after the tasks it depends on."""
        tasks = self.spec.root.dag.tasks
        return list(graphlib.TopologicalSorter({name: set(t.dependent_tasks) for name, t in tasks.items()}).static_order())

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
        if command[0] == "python" and not self.containers:
            command[0] = self.python
        return command

    def in_container(self, image: str, command: List[str], workdir: str) -> List[str]:
        """`command` as a container of `image` runs it: the pipeline root and the mounts at their own paths."""
        volumes = [f"{self.root}:{self.root}"]
        for mount in self.mounts:
            path, read_only = (mount[:-3], True) if mount.endswith(":ro") else (mount, False)
            path = os.path.abspath(path)
            volumes.append(f"{path}:{path}:ro" if read_only else f"{path}:{path}")
        user = [] if os.geteuid() == 0 else ["--user", f"{os.geteuid()}:{os.getegid()}"]
        return [*self.engine, "run", "--rm", "--network", "none", *user,
                *[f"--volume={volume}" for volume in volumes], f"--workdir={workdir}", image, *command]

    def _execute(self, task_name: str, command: List[str], log_name: str) -> None:
        task_root = os.path.join(self.root, task_name)
        workdir = os.path.join(task_root, "workdir")
        os.makedirs(workdir, exist_ok=True)
        if self.containers:
            image = self.container(task_name).image
            command = self.in_container(image, command, workdir)
            if os.geteuid() == 0:  # the image's user writes the task's outputs, as a pod's fsGroup lets it
                self._give_to_image_user(image, task_root)
        log_path = os.path.join(task_root, log_name)
        with open(log_path, "w") as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=self.env,
                                    timeout=self.timeout)
        self.logs[task_name] = log_path
        if result.returncode != 0:
            with open(log_path) as f:
                tail = "".join(f.readlines()[-40:])
            raise TaskFailedError(f"{task_name} ({log_name}) exited with {result.returncode}; log {log_path}:\n{tail}")

    def _give_to_image_user(self, image: str, folder: str) -> None:
        if image not in self._image_users:
            inspect = subprocess.run([*self.engine, "image", "inspect", "--format", "{{.Config.User}}", image],
                                     capture_output=True, text=True, check=True)
            uid, _, gid = inspect.stdout.strip().partition(":")
            self._image_users[image] = (int(uid or 0), int(gid or uid or 0))
        writable = [os.path.abspath(m) for m in self.mounts if not m.endswith(":ro")]
        for path in writable:
            os.makedirs(path, exist_ok=True)
        for path in (self.root, folder, os.path.join(folder, "workdir"), *writable):
            os.chown(path, *self._image_users[image])

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
    """python -m textrnn.kubeflow.local_launcher SPEC.yaml ROOT [--containers] [--mount PATH[:ro]]... [TASK...]:
    runs the named tasks (default: all) in order; with --containers, each in a container of the spec's image."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m textrnn.kubeflow.local_launcher", description=main.__doc__)
    parser.add_argument("spec")
    parser.add_argument("root")
    parser.add_argument("tasks", nargs="*")
    parser.add_argument("--containers", action="store_true")
    parser.add_argument("--mount", action="append", default=[])
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    launcher = LocalLauncher(load_spec(args.spec), args.root, containers=args.containers, mounts=args.mount)
    for task in args.tasks or launcher.task_order():
        output = launcher.run_task(task)
        print(json.dumps({task: {k: v.artifacts[0].uri for k, v in output.artifacts.items()},
                          "seconds": round(launcher.seconds[task], 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
