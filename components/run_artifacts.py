"""Reading a run's artifacts: what the summary and the report page take from each component's output.

The Evaluator's metrics, validation, plots and thresholds (TFMA), the data's statistics (TFDV), a split of the
ExampleGen's examples and the served model's predictions on it, the Trainer's history, the Tuner's trials, the
serving check's report, the run's served model, and the run's summary (RunSummary, which RunReport writes).
Each reader takes an artifact URI or a run record (components/run_record.py) and returns plain values.

Example:

>>> from textrnn.components.run_artifacts import RunSummary
>>> RunSummary.TYPE_NAME
'textrnn.RunSummary'
"""
import json
import os
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants as tfma_constants
from tfx import v1 as tfx

from textrnn.components.run_record import RunRecord, custom_property
from textrnn.contract import (ACCURACY_PNG, DEFAULT_SIGNATURE, HISTORY_FILE, LENGTH_BUCKET_KEY, LENGTH_BUCKETS,
                              LOSS_PNG, REPORT_NODE, RUN_OUTPUTS)
from textrnn.models.export import call_signature
from textrnn.preprocessing import features

TOP_VALUES_SHOWN = 3
SUMMARY_FILE = "summary.json"


# --- the Evaluator's results (TFMA) ----------------------------------------------------------------------------------


def _slice_name(slice_key) -> str:
    """"" for the whole split, else "feature=value" (joined by commas)."""
    parts = []
    for key in slice_key.single_slice_keys:
        value = getattr(key, key.WhichOneof("kind"))
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return ",".join(parts)


def sliced_metrics(evaluation_uri: str, baseline: bool = False) -> Dict[str, Dict[str, float]]:
    """The Evaluator's scalar metrics of the evaluated model (or of the baseline), by slice name and metric
    name; the slice name of the whole split is ""."""
    result = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        values = {
            kv.key.name: kv.value.double_value.value
            for kv in metrics.metric_keys_and_values
            if not kv.key.is_diff
            and (kv.key.model_name == tfma_constants.BASELINE_KEY) == baseline
            and kv.value.WhichOneof("type") == "double_value"
        }
        if values:
            result[_slice_name(metrics.slice_key)] = values
    return result


def overall_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The evaluated model's metrics on the whole eval split, by name."""
    return sliced_metrics(evaluation_uri).get("", {})


def metrics_by_length(evaluation_uri: str) -> Dict[str, Dict[str, float]]:
    """The evaluated model's metrics for each headline length bucket, shortest first."""
    by_slice = sliced_metrics(evaluation_uri)
    names = [f"{LENGTH_BUCKET_KEY}={name}" for _, name in LENGTH_BUCKETS]
    return {name.split("=", 1)[1]: by_slice[name] for name in names if name in by_slice}


def _failure(failure, candidate: Dict[str, float]) -> dict:
    """One failed threshold as a dict with a sentence saying which and by how much."""
    name, value = failure.metric_key.name, failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    result = {"metric": name}
    if threshold.HasField("value_threshold"):
        bounds = threshold.value_threshold
        if bounds.HasField("upper_bound") and value > bounds.upper_bound.value:
            bound, side, excess = bounds.upper_bound.value, "above", value - bounds.upper_bound.value
        else:
            bound, side, excess = bounds.lower_bound.value, "below", bounds.lower_bound.value - value
        result.update(threshold="bound", value=value, bound=bound, by=excess,
                      message=f"{name} {value:.4f} is {side} the bound {bound:.4f} by {excess:.4f}")
    else:  # a change threshold: the metric is the difference from the baseline (candidate - baseline)
        change = threshold.change_threshold
        tolerance = change.absolute.value
        worse = value if change.direction == tfma.MetricDirection.LOWER_IS_BETTER else -value
        current = candidate.get(name)
        result.update(threshold="baseline", difference=value, tolerance=tolerance, by=worse - tolerance)
        if current is not None:
            result.update(value=current, baseline=current - value)
            result["message"] = (
                f"{name} {current:.4f} is worse than the latest blessed model's {current - value:.4f} by "
                f"{worse:.4f}, more than the tolerance {tolerance:.4f} by {worse - tolerance:.4f}"
            )
        else:
            result["message"] = (f"{name} is worse than the latest blessed model's by {worse:.4f}, more than "
                                 f"the tolerance {tolerance:.4f} by {worse - tolerance:.4f}")
    return result


def validation(evaluation_uri: str, candidate: Dict[str, float]) -> dict:
    """The Evaluator's verdict: `ok`, and each failed threshold (`failures`, with a `message` each)."""
    result = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        slice_name = _slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            item = _failure(failure, candidate if not slice_name else {})
            if slice_name:
                item.update(slice=slice_name, message=f"{item['message']} (slice {slice_name})")
            failures.append(item)
    if not result.validation_ok and not failures:
        failures.append({"message": f"validation failed: {str(result).strip()}"})
    return {"ok": bool(result.validation_ok), "failures": failures}


def evaluator_plots(evaluation_uri: str) -> Dict[str, dict]:
    """The whole eval split's confusion matrices at thresholds and calibration buckets, by model ("candidate",
    and "baseline" when the Evaluator compared with one), from TFMA's plots."""
    plots = {}
    for per_slice in tfma.load_plots(evaluation_uri):
        if per_slice.slice_key.single_slice_keys:
            continue
        for item in per_slice.plot_keys_and_values:
            model = "baseline" if item.key.model_name == tfma_constants.BASELINE_KEY else "candidate"
            value = item.value
            if value.HasField("confusion_matrix_at_thresholds"):
                plots.setdefault(model, {})["matrices"] = list(value.confusion_matrix_at_thresholds.matrices)
            if value.HasField("calibration_histogram_buckets"):
                plots.setdefault(model, {})["buckets"] = list(value.calibration_histogram_buckets.buckets)
    return plots


def confusion_at(evaluation_uri: str, threshold: float = 0.5) -> Optional[dict]:
    """The candidate's confusion matrix on the whole eval split at `threshold` (TFMA's
    ConfusionMatrixAtThresholds)."""
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for item in metrics.metric_keys_and_values:
            if item.key.model_name == tfma_constants.BASELINE_KEY or item.key.is_diff:
                continue
            if item.value.HasField("confusion_matrix_at_thresholds"):
                for matrix in item.value.confusion_matrix_at_thresholds.matrices:
                    if abs(matrix.threshold - threshold) < 1e-6:
                        return {"threshold": threshold, "tp": int(matrix.true_positives),
                                "fp": int(matrix.false_positives), "tn": int(matrix.true_negatives),
                                "fn": int(matrix.false_negatives)}
    return None


def gate_thresholds(evaluation_uri: str) -> Dict[str, dict]:
    """The Evaluator's thresholds on the whole split, by metric: value bounds and the tolerance against the
    baseline, from the eval_config.json TFMA writes beside its results."""
    from tensorflow_model_analysis.writers import eval_config_writer

    config = eval_config_writer.load_eval_run(evaluation_uri)[0]
    thresholds = {}
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            for per_slice in metric.per_slice_thresholds:
                if any(s.feature_keys or s.feature_values for s in per_slice.slicing_specs):
                    continue
                bounds = per_slice.threshold.value_threshold
                change = per_slice.threshold.change_threshold
                thresholds[_metric_name(metric)] = {
                    "upper": bounds.upper_bound.value if bounds.HasField("upper_bound") else None,
                    "lower": bounds.lower_bound.value if bounds.HasField("lower_bound") else None,
                    "tolerance": change.absolute.value if change.HasField("absolute") else None,
                }
    return thresholds


def _metric_name(metric) -> str:
    """The name TFMA gives a metric of this config (a class's default name)."""
    module = __import__(metric.module, fromlist=[metric.class_name]) if metric.module else tfma.metrics
    return getattr(module, metric.class_name)().name


# --- the examples and the served model's predictions -----------------------------------------------------------------


def load_split(examples_uri: str, split: str) -> tf.data.Dataset:
    """Serialized tf.Examples of one split of an Examples artifact."""
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    return tf.data.TFRecordDataset(files, compression_type="GZIP")


def split_predictions(serving_model, examples_uri: str, split: str = "test"):
    """The serving model's probabilities on one split, with the split's labels and headlines (numpy arrays)."""
    spec = {
        features.TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    probabilities, labels, headlines = [np.zeros(0, np.float32)], [np.zeros(0, np.int64)], [np.zeros(0, object)]
    for batch in load_split(examples_uri, split).batch(1024):
        probabilities.append(call_signature(serving_model.signatures, DEFAULT_SIGNATURE, batch))
        parsed = tf.io.parse_example(batch, spec)
        labels.append(parsed[features.LABEL_KEY].numpy())
        headlines.append(parsed[features.TEXT_KEY].numpy())
    return np.concatenate(probabilities), np.concatenate(labels), np.concatenate(headlines)


# --- the Trainer, the Tuner and the serving check --------------------------------------------------------------------


def training_outputs(run_dir: str) -> dict:
    """Where the Trainer left its curves, history and TensorBoard logs, how many epochs it ran and at which
    epoch it validated best (the weights it kept); for a distilled model also its teacher's epochs and the
    examples the student learnt from."""
    with tf.io.gfile.GFile(os.path.join(run_dir, HISTORY_FILE)) as f:
        history = json.load(f)
    outputs = {
        **_epochs_of(history),
        "curves": [os.path.join(run_dir, name) for name in (ACCURACY_PNG, LOSS_PNG)],
        "history": os.path.join(run_dir, HISTORY_FILE),
        "tensorboard": os.path.join(run_dir, "tensorboard"),
    }
    if "teacher" in history:
        outputs["teacher"] = {name: value if isinstance(value, list) else [value]  # one model or several
                              for name, value in _epochs_of(history["teacher"]).items()}
        outputs["training_examples"] = history["training_examples"]
    return outputs


def _epochs_of(history: dict) -> dict:
    """The epochs run and the best validation's epoch of a history (lists for an ensemble's, one per model)."""
    from textrnn.models.curves import best_epoch

    runs, bests = [], []
    for member in history.get("members", [history]):  # an ensemble's: one history per model
        epochs = member.get("epoch") or list(range(1, len(member["loss"]) + 1))
        runs.append(epochs[-1])
        bests.append(best_epoch(member))
    return {"epochs": runs[0] if len(runs) == 1 else runs, "best_epoch": bests[0] if len(bests) == 1 else bests}


def tuning_outputs(results_dir: str, best_dir: str) -> dict:
    """The Tuner's completed trials, best first (trial id, eval loss and hyperparameters of each), and the best
    hyperparameters' values, which the Trainer trained."""
    with tf.io.gfile.GFile(os.path.join(results_dir, "tuner_results.json")) as f:
        trials = json.load(f)
    with tf.io.gfile.GFile(os.path.join(best_dir, "best_hyperparameters.txt")) as f:
        best = json.load(f)["values"]
    return {"trials": trials, "best_hyperparameters": best, "results": os.path.join(results_dir, "tuner_results.json")}


def serving_check_outputs(blessing) -> dict:
    """The serving check's figures and verdict (components/serving_check.py) from its InfraBlessing; a check
    that died before writing its report is refused with its own reason."""
    path = os.path.join(blessing.uri, "serving_check.json")
    if not tf.io.gfile.exists(path):
        return {"ok": bool(custom_property(blessing, "blessed", 0)),
                "reasons": [custom_property(blessing, "reasons", "") or "the serving check wrote no report"]}
    with tf.io.gfile.GFile(path) as f:
        report = json.load(f)
    report["report"] = path
    return report


def served_model_dir(record: RunRecord) -> Optional[str]:
    """The run's pushed version, else its Trainer's serving model (None when the run trained none)."""
    pushed = record.output(*RUN_OUTPUTS["pushed_model"])
    if custom_property(pushed, "pushed", 0):
        return custom_property(pushed, "pushed_destination")
    model = record.output(*RUN_OUTPUTS["model"])
    return None if model is None else os.path.join(model.uri, "Format-Serving")


# --- the data's statistics (TFDV) ------------------------------------------------------------------------------------


def statistics_tables(statistics_artifact) -> List[dict]:
    """Each split's features as TFDV's statistics view lists them: numeric ones with count, missing, mean,
    standard deviation, zeros, min, median and max; strings with count, missing, unique values, mean length and
    the most frequent values."""
    from tfx.types import artifact_utils

    from textrnn.components.anomalies_gate import load_split_statistics

    splits = []
    for split in artifact_utils.decode_split_names(statistics_artifact.split_names):
        dataset = load_split_statistics(statistics_artifact, split).datasets[0]
        numeric, strings = [], []
        for feature in dataset.features:
            name = feature.path.step[-1] if feature.path.step else feature.name
            if feature.HasField("num_stats"):
                stats = feature.num_stats
                common = stats.common_stats
                numeric.append({"name": name, "count": common.num_non_missing, "missing": common.num_missing,
                                "mean": stats.mean, "std": stats.std_dev, "zeros": stats.num_zeros,
                                "min": stats.min, "median": stats.median, "max": stats.max})
            elif feature.HasField("string_stats"):
                stats = feature.string_stats
                common = stats.common_stats
                strings.append({"name": name, "count": common.num_non_missing, "missing": common.num_missing,
                                "unique": stats.unique, "avg_length": stats.avg_length,
                                "top": [(v.value, int(v.frequency)) for v in stats.top_values[:TOP_VALUES_SHOWN]]})
        splits.append({"split": split, "examples": dataset.num_examples, "numeric": numeric, "strings": strings})
    return splits


def tfx_artifact(mlmd_artifact, artifact_class):
    """A run record's ML Metadata artifact as the TFX artifact class whose helpers read it."""
    artifact = artifact_class()
    artifact.set_mlmd_artifact(mlmd_artifact)
    return artifact


# --- the run's summary, as RunReport wrote it ------------------------------------------------------------------------


class RunSummary(tfx.dsl.Artifact):
    """The run's summary, `summary.json` in the artifact's folder: what `textrnn run` prints and saves as
    `summary-<run id>.json` (run_summary.build_summary's keys, the preset and changed settings, and `report`, the
    page's URI). RunReport writes it once per run; `run_local`, RunVerdict and `textrnn report` read it.

    Example:

    >>> import textrnn
    >>> textrnn.RunSummary.TYPE_NAME
    'textrnn.RunSummary'
    """

    # <module>.<Class> of an importable name (`textrnn` exports it), as Kubeflow's compiler requires.
    TYPE_NAME = "textrnn.RunSummary"


def summary_file(summary_artifact_uri: str) -> str:
    return os.path.join(summary_artifact_uri, SUMMARY_FILE)


def read_summary(summary_artifact_uri: str) -> dict:
    """The summary a RunReport wrote."""
    with tf.io.gfile.GFile(summary_file(summary_artifact_uri)) as f:
        return json.load(f)


def saved_summary(record: RunRecord) -> Optional[dict]:
    """The summary the run's RunReport wrote (None for a run that ended before its RunReport did)."""
    artifact = record.output(REPORT_NODE, "summary")
    if artifact is None or not tf.io.gfile.exists(summary_file(artifact.uri)):
        return None
    return read_summary(artifact.uri)
