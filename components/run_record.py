"""What one pipeline run did, read back from ML Metadata (local runs) or from a task's input artifacts (Kubeflow)."""
import dataclasses
import os
from typing import Any, Dict, Optional

import ml_metadata as mlmd
from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import constants

from textrnn.contract import BASELINE_NODE, BASELINE_OUTPUTS, LOCAL_BASELINE_NODE, RUN_OUTPUTS

_STATE_NAMES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}


@dataclasses.dataclass
class RunRecord:
    """The components a run executed, with their final states, wall times and start times (seconds since the
    epoch), the artifacts each one output, by key, and each one's execution properties (its settings)."""

    run_id: str
    states: Dict[str, str]
    outputs: Dict[str, Dict[str, metadata_store_pb2.Artifact]]
    seconds: Dict[str, float] = dataclasses.field(default_factory=dict)
    started: Dict[str, float] = dataclasses.field(default_factory=dict)
    properties: Dict[str, Dict[str, Any]] = dataclasses.field(default_factory=dict)

    def output(self, node_id: str, key: str) -> Optional[metadata_store_pb2.Artifact]:
        return self.outputs.get(node_id, {}).get(key)


def open_store(metadata_path: str) -> mlmd.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(config)


def latest_run(metadata_path: str) -> RunRecord:
    """Reads the newest run recorded in the metadata database at `metadata_path`."""
    store = open_store(metadata_path)
    runs = store.get_contexts_by_type(constants.PIPELINE_RUN_CONTEXT_TYPE_NAME)
    if not runs:
        raise LookupError(f"no pipeline run is recorded in {metadata_path}")
    return read_run_context(store, max(runs, key=lambda c: (c.create_time_since_epoch, c.id)))


def read_run(metadata_path: str, run_id: str) -> RunRecord:
    """Reads the run `run_id` from the metadata database at `metadata_path`, whatever ran after it."""
    store = open_store(metadata_path)
    run = store.get_context_by_type_and_name(constants.PIPELINE_RUN_CONTEXT_TYPE_NAME, run_id)
    if run is None:
        raise LookupError(f"no pipeline run {run_id} is recorded in {metadata_path}")
    return read_run_context(store, run)


def run_of_artifact(store: mlmd.MetadataStore, artifact_id: int) -> metadata_store_pb2.Context:
    """The pipeline run whose execution output the artifact `artifact_id`."""
    run_type_id = store.get_context_type(constants.PIPELINE_RUN_CONTEXT_TYPE_NAME).id
    for event in store.get_events_by_artifact_ids([artifact_id]):
        if event.type == metadata_store_pb2.Event.OUTPUT:
            runs = [c for c in store.get_contexts_by_execution(event.execution_id) if c.type_id == run_type_id]
            if runs:
                return runs[0]
    raise LookupError(f"no pipeline run output the artifact {artifact_id}")


def read_run_context(store: mlmd.MetadataStore, run: metadata_store_pb2.Context) -> RunRecord:
    """Reads the run whose pipeline-run context is `run` from an open store."""
    node_type_id = store.get_context_type(constants.NODE_CONTEXT_TYPE_NAME).id
    states, outputs, seconds, started, properties = {}, {}, {}, {}, {}
    for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.id):
        node = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type_id == node_type_id]
        node_id = node[0].split(".", 1)[-1] if node else str(execution.id)
        states[node_id] = _STATE_NAMES.get(execution.last_known_state, "UNKNOWN")
        seconds[node_id] = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
        started[node_id] = execution.create_time_since_epoch / 1000
        properties[node_id] = {name: getattr(value, value.WhichOneof("value"))
                               for name, value in execution.custom_properties.items() if value.WhichOneof("value")}
        output_ids = {
            event.artifact_id: event.path.steps[0].key
            for event in store.get_events_by_execution_ids([execution.id])
            if event.type == metadata_store_pb2.Event.OUTPUT and event.path.steps
        }
        outputs[node_id] = {
            output_ids[artifact.id]: artifact for artifact in store.get_artifacts_by_id(list(output_ids))
        }
    if LOCAL_BASELINE_NODE in outputs:
        outputs[BASELINE_NODE] = outputs[LOCAL_BASELINE_NODE]
    return RunRecord(run.name, states, outputs, seconds, started, properties)


def run_name(artifact_uri: str) -> str:
    """The run's folder name in an output URI laid out as `<root>/.../<run>/<task>/<output>` (Kubeflow
    Pipelines and Vertex AI Pipelines both lay out output artifacts so)."""
    return os.path.basename(os.path.dirname(os.path.dirname(artifact_uri.rstrip("/"))))


def record_of_inputs(run_id: str, artifacts: Dict[str, Any]) -> RunRecord:
    """The record of a run from a component's input artifacts (TFX artifacts, None where absent), named as in
    RUN_OUTPUTS and BASELINE_OUTPUTS: how RunReport reads a run on Kubeflow, where a task cannot read ML
    Metadata. Every node that gave an artifact counts as COMPLETE."""
    outputs: Dict[str, Dict[str, metadata_store_pb2.Artifact]] = {}
    for name, artifact in artifacts.items():
        if artifact is not None:
            node, key = RUN_OUTPUTS[name] if name in RUN_OUTPUTS else (BASELINE_NODE, BASELINE_OUTPUTS[name])
            outputs.setdefault(node, {})[key] = artifact.mlmd_artifact
    return RunRecord(run_id, states={node: "COMPLETE" for node in outputs if node != BASELINE_NODE}, outputs=outputs)


def custom_property(artifact: Optional[metadata_store_pb2.Artifact], name: str, default=None):
    """The value of an artifact's custom property, whatever its type.

    On Kubeflow, properties travel through the pipeline's artifact metadata and come back as a struct
    `{"__value__": value}`, numbers as floats: those are unwrapped, whole numbers as ints."""
    if artifact is None or name not in artifact.custom_properties:
        return default
    value = artifact.custom_properties[name]
    kind = value.WhichOneof("value")
    if kind != "struct_value":
        return getattr(value, kind)
    unwrapped = json_format.MessageToDict(value.struct_value)
    unwrapped = unwrapped.get("__value__", unwrapped)
    return int(unwrapped) if isinstance(unwrapped, float) and unwrapped.is_integer() else unwrapped
