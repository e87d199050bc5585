"""Retention: removes the artifacts of old pipeline runs from disk and marks them deleted in ML Metadata.

    textrnn run --keep-runs 5                 # after the run
    textrnn prune --keep-runs 5 --dry-run     # on its own: what would go, and how many bytes

Kept, whatever their age:
- every artifact a kept run read or wrote, so also outputs of older runs that a kept run reused from the
  cache;
- the baseline: the latest blessed model, its blessing and the statistics it was trained on (the Evaluator
  compares with that model and the drift check with those statistics);
- the push destination's versions, unless `keep_pushed` asks for only the newest N of them.

An artifact is first marked MARKED_FOR_DELETION, then its folder removed, then marked DELETED: TFX's cache
and input resolution only use LIVE artifacts, so a prune that is killed part-way leaves nothing half-used,
and the next prune finishes it. OSS TFX 1.21 ships garbage-collection policies as protos only (no collector),
so this follows the artifact states its collector uses. The default keeps everything.
"""
import dataclasses
import os
import shutil
from typing import Dict, List, Optional, Set

import ml_metadata as mlmd
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import constants

from textrnn.components.latest_blessed_model import MODEL_ID_KEY, producing_run, refused_models, run_statistics_id
from textrnn.errors import TextrnnError
from textrnn.output_layout import metadata_path, pushed_versions, serving_model_dir
from textrnn.contract import DEFAULT_PIPELINE_NAME
from textrnn.pipeline.options import disk_bytes

_Artifact = metadata_store_pb2.Artifact


class RetentionError(TextrnnError, ValueError):
    """A retention setting that would remove what must stay."""


@dataclasses.dataclass
class PruneReport:
    runs_kept: List[str]
    runs_pruned: List[str]
    artifacts_deleted: int = 0
    bytes_freed: int = 0
    versions_deleted: List[str] = dataclasses.field(default_factory=list)
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        text = (f"retention: kept the newest {len(self.runs_kept)} run(s); {verb} {self.artifacts_deleted} artifact(s) "
                f"of {len(self.runs_pruned)} older run(s), {self.bytes_freed / 1e6:.1f} MB")
        if self.versions_deleted:
            text += f"; {verb} pushed version(s) {', '.join(self.versions_deleted)}"
        return text


def _run_artifact_ids(store: mlmd.MetadataStore, run: metadata_store_pb2.Context) -> Set[int]:
    """Every artifact that an execution of the run read or wrote."""
    executions = [e.id for e in store.get_executions_by_context(run.id)]
    return {event.artifact_id for event in store.get_events_by_execution_ids(executions)} if executions else set()


def baseline_artifact_ids(store: mlmd.MetadataStore) -> Set[int]:
    """The latest blessed model, its blessing and the statistics of its run (empty before a first blessing)."""
    blessings = [a for a in store.get_artifacts_by_type("ModelBlessing")
                 if a.state == _Artifact.LIVE and a.custom_properties["blessed"].int_value == 1]
    if not blessings:
        return set()
    refused = refused_models((a.custom_properties[MODEL_ID_KEY].int_value, a.custom_properties["blessed"].int_value)
                             for a in store.get_artifacts_by_type("InfraBlessing"))
    models = {b.custom_properties[MODEL_ID_KEY].int_value: b for b in blessings}
    models = {model_id: b for model_id, b in models.items() if model_id not in refused}
    if not models:
        return set()
    model_id = max(models)  # the resolver's choice: the blessed model with the highest id, unless refused
    kept = {model_id, models[model_id].id}
    run = producing_run(store, model_id)
    statistics = run_statistics_id(store, run) if run else None
    return kept | ({statistics} if statistics else set())


def prune(
    output_root: str,
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
    keep_runs: int = 1,
    keep_pushed: Optional[int] = None,
    dry_run: bool = False,
) -> PruneReport:
    """Removes the artifacts of all but the newest `keep_runs` runs (see the module docstring) and, when
    `keep_pushed` is given, all but the newest `keep_pushed` pushed versions. Call it under the run lock."""
    if keep_runs < 1:
        raise RetentionError(f"--keep-runs must be at least 1 (the run just finished), got {keep_runs}")
    if keep_pushed is not None and keep_pushed < 1:
        raise RetentionError(f"--keep-pushed must be at least 1 (the version TF Serving serves), got {keep_pushed}")
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path(output_root, pipeline_name)
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    store = mlmd.MetadataStore(connection)

    runs = sorted(store.get_contexts_by_type(constants.PIPELINE_RUN_CONTEXT_TYPE_NAME),
                  key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)
    kept_runs, old_runs = runs[:keep_runs], runs[keep_runs:]
    protected = baseline_artifact_ids(store)
    for run in kept_runs:
        protected |= _run_artifact_ids(store, run)
    candidates: Set[int] = set()
    for run in old_runs:
        candidates |= _run_artifact_ids(store, run)
    doomed = [a for a in store.get_artifacts_by_id(sorted(candidates - protected))
              if a.state in (_Artifact.LIVE, _Artifact.MARKED_FOR_DELETION, _Artifact.PENDING)]

    report = PruneReport([r.name for r in kept_runs], [r.name for r in old_runs], dry_run=dry_run)
    report.artifacts_deleted = len(doomed)
    report.bytes_freed = sum(disk_bytes(a.uri) for a in doomed if a.uri)
    if not dry_run:
        _delete_artifacts(store, doomed)
    if keep_pushed is not None:
        serving_dir = serving_model_dir(output_root, pipeline_name)
        for version in pushed_versions(serving_dir)[:-keep_pushed]:
            path = os.path.join(serving_dir, str(version))
            report.bytes_freed += disk_bytes(path)
            report.versions_deleted.append(str(version))
            if not dry_run:
                shutil.rmtree(path)
    return report


def _set_state(store: mlmd.MetadataStore, artifacts: List[metadata_store_pb2.Artifact], state) -> None:
    for artifact in artifacts:
        artifact.state = state
    if artifacts:
        store.put_artifacts(artifacts)


def _delete_artifacts(store: mlmd.MetadataStore, artifacts: List[metadata_store_pb2.Artifact]) -> None:
    _set_state(store, artifacts, _Artifact.MARKED_FOR_DELETION)
    for artifact in artifacts:
        if artifact.uri and tf.io.gfile.exists(artifact.uri):
            if tf.io.gfile.isdir(artifact.uri):
                tf.io.gfile.rmtree(artifact.uri)
            else:
                tf.io.gfile.remove(artifact.uri)
    _set_state(store, artifacts, _Artifact.DELETED)


def describe_usage(output_root: str) -> Dict[str, int]:
    """Bytes under the output root's pipelines, push destinations and metadata (the soak benchmark's measure)."""
    return {name: disk_bytes(os.path.join(output_root, name))
            for name in ("pipelines", "serving_model", "metadata")}
