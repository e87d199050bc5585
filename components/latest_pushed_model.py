"""The model now serving, as the Evaluator's baseline, where ML Metadata cannot be queried for it.

Open-source Kubeflow Pipelines runs no resolver tasks, so the local pipeline's latest-blessed-model Resolver
cannot run there. This component finds the same model another way: the Pusher pushes only blessed models,
as numbered versions, so the highest version under the push destination that holds a SavedModel is the
latest blessed one, and the one TF Serving serves. It copies that version into its `baseline` output (a Model
artifact laid out as the Trainer's, `Format-Serving/`), or, on the first run, leaves the output empty and
marks it `found = 0`; BaselineEvaluator then evaluates without a baseline, as the Evaluator does locally
when the Resolver finds nothing.

Example:

>>> from textrnn.components.latest_pushed_model import LatestPushedModel
>>> node = LatestPushedModel(push_destination="gs://bucket/serving_model/textrnn")
>>> node.id, sorted(node.outputs)
('LatestPushedModel', ['baseline'])
"""
import os
from typing import Optional

from absl import logging
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.utils import io_utils, path_utils

from textrnn.output_layout import pushed_versions
from textrnn.components.run_record import custom_property

FOUND_PROPERTY = "found"
SAVED_MODEL_FILE = "saved_model.pb"


def latest_pushed_version(push_destination: str) -> Optional[str]:
    """The highest numbered folder under `push_destination` that holds a SavedModel, the one `textrnn predict`
    and TF Serving take (a local path, gs://, ...), or None."""
    versions = pushed_versions(push_destination)
    return os.path.join(push_destination, str(versions[-1])) if versions else None


def baseline_found(model: tfx.dsl.Artifact) -> bool:
    """Whether a LatestPushedModel output holds a model (False for the empty output of a first run)."""
    found = custom_property(model.mlmd_artifact, FOUND_PROPERTY)
    if found is not None:
        return bool(found)
    return fileio.exists(os.path.join(path_utils.serving_model_path(model.uri), SAVED_MODEL_FILE))


@tfx.dsl.components.component
def LatestPushedModel(
    push_destination: tfx.dsl.components.Parameter[str],
    baseline: tfx.dsl.components.OutputArtifact[standard_artifacts.Model],
):
    """Copies the newest pushed version under `push_destination` into `baseline`, or marks it not found."""
    version = latest_pushed_version(push_destination)
    baseline.set_int_custom_property(FOUND_PROPERTY, int(version is not None))
    if version is None:
        logging.info("no model pushed to %s yet: the Evaluator has no baseline", push_destination)
        return
    io_utils.copy_dir(version, path_utils.serving_model_dir(baseline.uri))
    baseline.set_string_custom_property("pushed_destination", version)
    baseline.set_string_custom_property("pushed_version", os.path.basename(version))
    logging.info("baseline: %s", version)
