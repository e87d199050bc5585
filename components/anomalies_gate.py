"""Stops a pipeline run before training when the data fails validation, and says which check and by how much.

Four checks, every anomaly listed:
- the schema: what ExampleValidator found in each split against the curated schema (pipeline/schema/);
- skew: the label's distribution in `eval` and `test` against `train`, by the schema's `skew_comparator`;
- drift: `train` against the `train` split of the run that trained the latest blessed model (when there is
  one), by the schema's `drift_comparator`;
- expectations the schema cannot state (TFDV has no bound on a class's share or a string's length): the share
  of sarcastic headlines and the mean headline length in every split (pipeline/options.DATA_EXPECTATIONS).

Skew and drift are TFDV's comparators (`tfdv.validate_statistics` with serving or previous statistics), with
one change: a comparator's L-infinity threshold is raised, for a pair of samples, to what sampling alone
gives (NOISE_STANDARD_ERRORS standard errors of the difference of two shares), so that small datasets, whose
splits of a few dozen examples differ by 0.1 or more by chance, are not stopped for noise. On the full
dataset the schema's 0.1 stands (the floor is 0.04 for eval against train).

Example:

>>> from tfx import v1 as tfx
>>> from textrnn.components.anomalies_gate import AnomaliesGate
>>> channel = lambda t: tfx.dsl.Channel(type=getattr(tfx.types.standard_artifacts, t))
>>> AnomaliesGate(anomalies=channel("ExampleAnomalies"), statistics=channel("ExampleStatistics"),
...               schema=channel("Schema")).id
'AnomaliesGate'
"""
import copy
import json
import math
import os
from typing import Dict, List, Optional, Tuple

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from textrnn.errors import TextrnnError
from textrnn.preprocessing import features

ANOMALIES_FILE = "SchemaDiff.pb"
InputArtifact = tfx.dsl.components.InputArtifact
Parameter = tfx.dsl.components.Parameter
# The splits whose label distribution is compared with the training split's (skew).
SKEW_SPLITS = ("eval", "test")
TRAIN_SPLIT = "train"
# How many standard errors of the difference of two shares a skew or drift must exceed to count.
NOISE_STANDARD_ERRORS = 4
# The expectations' keys, as pipeline/options.DATA_EXPECTATIONS names them: [low, high] each.
SARCASTIC_SHARE = "sarcastic_share"
HEADLINE_MEAN_CHARACTERS = "headline_mean_characters"


class AnomaliesFoundError(TextrnnError, RuntimeError):
    """The examples failed validation; the message lists every anomaly."""


def describe_anomalies(anomalies_artifact) -> List[str]:
    """Returns one readable line per anomaly in each split of an ExampleAnomalies artifact."""
    lines = []
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split), ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(io_utils.read_bytes_file(path))
        lines += _describe(anomalies, f"split '{split}'")
    return lines


def _describe(anomalies: anomalies_pb2.Anomalies, where: str, comparators_only: bool = False) -> List[str]:
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            if comparators_only and not anomalies_pb2.AnomalyInfo.Type.Name(reason.type).startswith("COMPARATOR_"):
                continue
            lines.append(f"{where}, feature '{feature}': {reason.short_description} ({reason.description})")
    if anomalies.HasField("dataset_anomaly_info") and not comparators_only:
        info = anomalies.dataset_anomaly_info
        lines.append(f"{where}, dataset: {info.short_description} ({info.description})")
    return lines


def load_split_statistics(statistics_artifact, split: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    from tfx.components.statistics_gen import stats_artifact_utils

    return stats_artifact_utils.load_statistics(statistics_artifact, split).proto()


def noise_floor(count_a: int, count_b: int) -> float:
    """NOISE_STANDARD_ERRORS standard errors of the difference between a share measured on `count_a` and on
    `count_b` examples, at its largest (a share of one half)."""
    return NOISE_STANDARD_ERRORS * 0.5 * math.sqrt(1 / max(count_a, 1) + 1 / max(count_b, 1))


def _with_floor(schema: schema_pb2.Schema, floor: float) -> schema_pb2.Schema:
    """The schema with every L-infinity comparator threshold raised to at least `floor`."""
    raised = copy.deepcopy(schema)
    for feature in raised.feature:
        for comparator in (feature.skew_comparator, feature.drift_comparator):
            if comparator.HasField("infinity_norm"):
                comparator.infinity_norm.threshold = max(comparator.infinity_norm.threshold, floor)
    return raised


def comparator_anomalies(
    schema: schema_pb2.Schema,
    statistics: Dict[str, statistics_pb2.DatasetFeatureStatisticsList],
    baseline_train: Optional[statistics_pb2.DatasetFeatureStatisticsList],
) -> List[str]:
    """Skew of each SKEW_SPLITS split against `train`, and drift of `train` against `baseline_train`."""
    import tensorflow_data_validation as tfdv

    def examples(split_statistics):
        return split_statistics.datasets[0].num_examples

    lines = []
    train = statistics[TRAIN_SPLIT]
    for split in SKEW_SPLITS:
        if split in statistics:
            floor = noise_floor(examples(train), examples(statistics[split]))
            found = tfdv.validate_statistics(train, _with_floor(schema, floor), serving_statistics=statistics[split])
            lines += _describe(found, f"skew, split '{split}' against '{TRAIN_SPLIT}'", comparators_only=True)
    if baseline_train is not None:
        floor = noise_floor(examples(train), examples(baseline_train))
        found = tfdv.validate_statistics(train, _with_floor(schema, floor), previous_statistics=baseline_train)
        lines += _describe(found, f"drift, split '{TRAIN_SPLIT}' against the latest blessed model's training data",
                           comparators_only=True)
    return lines


def _feature(statistics: statistics_pb2.DatasetFeatureStatisticsList, name: str):
    for feature in statistics.datasets[0].features:
        if feature.path.step == [name] or feature.name == name:
            return feature
    return None


def sarcastic_share(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> Optional[float]:
    """The share of examples labelled 1, from categorical (string) or numeric label statistics."""
    label = _feature(statistics, features.LABEL_KEY)
    if label is None:
        return None
    if label.HasField("string_stats"):
        count = label.string_stats.common_stats.num_non_missing
        ones = sum(v.frequency for v in label.string_stats.top_values if v.value == "1")
        return ones / count if count else None
    return label.num_stats.mean


def headline_mean_characters(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> Optional[float]:
    headline = _feature(statistics, features.TEXT_KEY)
    return headline.string_stats.avg_length if headline is not None else None


def expectation_anomalies(
    statistics: Dict[str, statistics_pb2.DatasetFeatureStatisticsList], expectations: Dict[str, Tuple[float, float]]
) -> List[str]:
    """One line per split and expectation whose measured value is outside its [low, high]."""
    measures = {
        SARCASTIC_SHARE: (features.LABEL_KEY, "share of sarcastic headlines", sarcastic_share),
        HEADLINE_MEAN_CHARACTERS: (features.TEXT_KEY, "mean headline length in characters", headline_mean_characters),
    }
    lines = []
    for split, split_statistics in sorted(statistics.items()):
        for key, (low, high) in sorted(expectations.items()):
            feature, what, measure = measures[key]
            value = measure(split_statistics)
            if value is not None and not low <= value <= high:
                lines.append(f"split '{split}', feature '{feature}': the {what}, {value:.3f}, is outside the expected "
                             f"range [{low}, {high}] ({key} in pipeline/options.DATA_EXPECTATIONS)")
    return lines


def gate_checks(
    schema: schema_pb2.Schema,
    statistics: Dict[str, statistics_pb2.DatasetFeatureStatisticsList],
    baseline_train: Optional[statistics_pb2.DatasetFeatureStatisticsList],
    expectations: Dict[str, Tuple[float, float]],
) -> List[dict]:
    """The gate's measured checks with their values and bounds, for people to read (the run report): the
    label's L-infinity distance (for two classes, the difference of the sarcastic shares) for skew and drift
    against its threshold (raised to the noise floor, as the gate does), and each expectation per split. The
    gate's decision itself is TFDV's (`comparator_anomalies`) and `expectation_anomalies`.

    Example:

    >>> from tensorflow_metadata.proto.v0 import statistics_pb2
    >>> from textrnn.components.anomalies_gate import gate_checks
    >>> def split(count, share):
    ...     stats = statistics_pb2.DatasetFeatureStatisticsList()
    ...     dataset = stats.datasets.add(num_examples=count)
    ...     dataset.features.add(name="is_sarcastic").num_stats.mean = share
    ...     return stats
    >>> [c["check"] for c in gate_checks(schema_pb2.Schema(), {"train": split(800, .44), "eval": split(100, .46)},
    ...                                  None, {"sarcastic_share": (0.2, 0.8)})]
    ['skew', 'expectation', 'expectation']
    """
    label = next((f for f in schema.feature if f.name == features.LABEL_KEY), None)

    def threshold(kind):
        comparator = getattr(label, kind) if label is not None else None
        return comparator.infinity_norm.threshold if comparator and comparator.HasField("infinity_norm") else None

    def distance(name, what, a, b, kind):
        share_a, share_b = sarcastic_share(a), sarcastic_share(b)
        if share_a is None or share_b is None:
            return []
        floor = noise_floor(a.datasets[0].num_examples, b.datasets[0].num_examples)
        bound = max(threshold(kind) or 0.0, floor)
        value = abs(share_a - share_b)
        return [{"check": name, "split": what, "measure": "L-infinity distance of the label distribution",
                 "value": value, "low": None, "high": bound, "ok": value <= bound}]

    checks = []
    train = statistics.get(TRAIN_SPLIT)
    for split in SKEW_SPLITS:
        if train is not None and split in statistics:
            checks += distance("skew", f"{split} against {TRAIN_SPLIT}", statistics[split], train, "skew_comparator")
    if train is not None and baseline_train is not None:
        checks += distance("drift", f"{TRAIN_SPLIT} against the baseline's {TRAIN_SPLIT}", train, baseline_train,
                           "drift_comparator")
    measures = {SARCASTIC_SHARE: ("share of sarcastic headlines", sarcastic_share),
                HEADLINE_MEAN_CHARACTERS: ("mean headline length in characters", headline_mean_characters)}
    for split, split_statistics in sorted(statistics.items()):
        for key, (low, high) in sorted(expectations.items()):
            what, measure = measures[key]
            value = measure(split_statistics)
            if value is not None:
                checks.append({"check": "expectation", "split": split, "measure": what, "value": value,
                               "low": low, "high": high, "ok": low <= value <= high})
    return checks


@tfx.dsl.components.component
def AnomaliesGate(
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    baseline_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
    expectations: Parameter[str] = "{}",
):
    """Fails listing every anomaly (schema, skew, drift, expectations) if there is any; passes silently otherwise.

    `baseline_statistics` are those of the run that trained the latest blessed model (none on a first run);
    `expectations` is pipeline/options.DATA_EXPECTATIONS as JSON.
    """
    curated = io_utils.SchemaReader().read(os.path.join(schema.uri, "schema.pbtxt"))
    splits = artifact_utils.decode_split_names(statistics.split_names)
    by_split = {split: load_split_statistics(statistics, split) for split in splits}
    baseline = None
    if baseline_statistics is not None and TRAIN_SPLIT in artifact_utils.decode_split_names(
            baseline_statistics.split_names):
        baseline = load_split_statistics(baseline_statistics, TRAIN_SPLIT)
    found = describe_anomalies(anomalies)
    found += comparator_anomalies(curated, by_split, baseline) if TRAIN_SPLIT in by_split else []
    found += expectation_anomalies(by_split, {k: tuple(v) for k, v in json.loads(expectations).items()})
    if found:
        raise AnomaliesFoundError(
            f"the examples failed validation ({len(found)} anomalies), so training is not started:\n  "
            + "\n  ".join(found)
        )
