"""Stops a pipeline run before training when ExampleValidator found anomalies, and says which.

Example:

>>> from tfx import v1 as tfx
>>> from textrnn.components.anomalies_gate import AnomaliesGate
>>> anomalies = tfx.dsl.Channel(type=tfx.types.standard_artifacts.ExampleAnomalies)
>>> AnomaliesGate(anomalies=anomalies).id
'AnomaliesGate'
"""
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

from textrnn.errors import TextrnnError

ANOMALIES_FILE = "SchemaDiff.pb"


class AnomaliesFoundError(TextrnnError, RuntimeError):
    """The examples do not match the schema; the message lists every anomaly."""


def describe_anomalies(anomalies_artifact) -> list:
    """Returns one readable line per anomaly in each split of an ExampleAnomalies artifact."""
    lines = []
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split), ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(io_utils.read_bytes_file(path))
        for feature, info in sorted(anomalies.anomaly_info.items()):
            lines.append(f"split '{split}', feature '{feature}': {info.short_description} ({info.description})")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            lines.append(f"split '{split}', dataset: {info.short_description} ({info.description})")
    return lines


@tfx.dsl.components.component
def AnomaliesGate(anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies]):
    """Fails with every anomaly listed if ExampleValidator found any; passes silently otherwise."""
    found = describe_anomalies(anomalies)
    if found:
        raise AnomaliesFoundError(
            f"the examples do not match the schema ({len(found)} anomalies), so training is not started:\n  "
            + "\n  ".join(found)
        )
