"""The readable end of a run: eval and test metrics, blessing, serving check, pushed version and demo predictions."""
import json
import os
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants as tfma_constants

from textrnn.components.run_record import RunRecord, custom_property
from textrnn.contract import (ACCURACY_PNG, BASELINE_NODE, BASELINE_OUTPUTS, DEFAULT_SIGNATURE, HEADLINES_SIGNATURE,
                              HISTORY_FILE, LENGTH_BUCKET_KEY, LENGTH_BUCKETS, LOSS_PNG, OUTPUT_KEY)
from textrnn.models.export import call_signature
from textrnn.preprocessing import features

# Sentences whose predictions every run shows, beside two satirical headlines from the test split.
DEMO_SENTENCES = [
    "i am going to the shops to buy some milk and bread this afternoon",
    "granny starting to fear spiders in the garden might be real",
    "area man who spent the whole weekend telling everyone at the barbecue how much he loves his job is actually unemployed",
]


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


def test_split_accuracy(serving_model, examples_uri: str):
    """Accuracy of the serving model at threshold 0.5 on the test split, and the split's satirical headlines."""
    probabilities, labels, headlines = split_predictions(serving_model, examples_uri)
    correct = int(((probabilities >= 0.5).astype(int) == labels).sum())
    satirical = [h.decode() for h, y in zip(headlines, labels) if y == 1]
    return (correct / len(labels) if len(labels) else float("nan")), len(labels), satirical


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


def format_trials(trials: List[dict]) -> List[str]:
    """The Tuner's trials as an aligned text table, one line per trial, best first."""
    names = sorted({name for trial in trials for name in trial} - {"trial_id", "score"})
    rows = [["trial", "eval loss", *names]] + [
        [str(t["trial_id"]), f"{t['score']:.4f}", *(f"{t.get(n, '')}" for n in names)] for t in trials]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


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


def why_not_pushed(summary: dict) -> Optional[str]:
    """Why the run pushed nothing, the Evaluator's verdict first (None when the model was blessed and passed).

    Example:

    >>> from textrnn.components.run_summary import why_not_pushed
    >>> why_not_pushed({"blessed": True, "serving_check": {"ok": False, "reasons": ["p99 latency ... above"]}})
    'refused by the serving check: p99 latency ... above; nothing was pushed'
    >>> why_not_pushed({"blessed": True, "serving_check": {"ok": True, "reasons": []}}) is None
    True
    """
    if not summary["blessed"]:
        reasons = not_blessed_reasons(summary) or "the Evaluator did not bless the model"
        return f"not blessed: {reasons}; nothing was pushed"
    check = summary.get("serving_check", {"ok": True})  # runs without a serving check: the Evaluator decides
    if not check["ok"]:
        return f"refused by the serving check: {'; '.join(check['reasons'])}; nothing was pushed"
    return None


def format_serving_check(check: dict) -> List[str]:
    """The serving check as lines: its figures beside their budgets, then its verdict."""
    budgets = check.get("budgets", {})

    def figure(name, budget_name, text, unit, digits):
        if name not in check:
            return None
        budget = budgets.get(budget_name)
        limit = "" if not budget else f" ({'min' if budget_name.startswith('min') else 'max'} {budget:g}{unit})"
        return f"{text} {check[name]:.{digits}f}{unit}{limit}"

    parts = [figure("load_total_seconds", "max_load_seconds", "load", " s", 2),
             figure("p50_ms", "max_p50_ms", "p50", " ms", 1), figure("p99_ms", "max_p99_ms", "p99", " ms", 1),
             figure("headlines_per_second", "min_headlines_per_second", "batch 64", " headlines/s", 0),
             figure("peak_memory_mb", "max_memory_mb", "memory", " MB", 0)]
    lines = ["serving check: " + (", ".join(p for p in parts if p) or "no figures")]
    served = check.get("served", {})
    if check.get("ratios"):
        lines.append("               against the served version: " + ", ".join(
            format_ratio(name, ratio) for name, ratio in check["ratios"].items()))
        lines.append(f"               the served version: p50 {served['p50_ms']:.1f} ms, "
                     f"p99 {served['p99_ms']:.1f} ms, "
                     f"batch 64 {served['headlines_per_second']:.0f} headlines/s, memory "
                     f"{served['peak_memory_mb']:.0f} MB (side by side, {check.get('rounds', '?')} rounds)")
    elif check.get("served_error"):
        lines.append(f"               not compared with the served version, which could not be measured: "
                     f"{check['served_error']}")
    elif check.get("ok") and "served_version" in check and not check["served_version"]:
        lines.append("               the first push here: nothing served to compare with")
    details = []
    if "canary_max_difference" in check:
        worst = max([d for d in check["canary_max_difference"].values() if d is not None] or [float("nan")])
        details.append(f"canary of {check.get('canary_size', 0)} eval headlines within {worst:.1e} of the Keras model")
    if check.get("served_version"):
        changes = check.get("signature_changes") or []
        details.append(f"signatures {'changed (' + '; '.join(changes) + ')' if changes else 'as served'} "
                       f"by version {os.path.basename(check['served_version'])}")
    if "check_seconds" in check:
        details.append(f"{check['check_seconds']:.1f} s")
    if details:
        lines.append("               " + "; ".join(details))
    verdict = "passed" if check.get("ok") else "refused: " + "; ".join(check.get("reasons", []))
    lines.append("               " + verdict)
    return lines


def format_ratio(name: str, ratio: dict) -> str:
    """One ratio to the served version with its rounds' spread and its budget, as the serving check reports it.

    Example:

    >>> from textrnn.components.run_summary import format_ratio
    >>> format_ratio("throughput", {"ratio": 0.97, "low": 0.91, "high": 1.04, "bound": "min", "budget": 0.67})
    'batch 64 0.97x (0.91-1.04x; min 0.67x)'
    """
    notes = [f"{ratio['low']:.2f}-{ratio['high']:.2f}x"] if "low" in ratio else []
    if ratio.get("budget"):
        notes.append(f"{ratio['bound']} {ratio['budget']:g}x")
    label = {"throughput": "batch 64"}.get(name, name)
    return f"{label} {ratio['ratio']:.2f}x" + (f" ({'; '.join(notes)})" if notes else "")


def served_model_dir(record: RunRecord) -> Optional[str]:
    """The run's pushed version, else its Trainer's serving model (None when the run trained none)."""
    pushed = record.output("Pusher", "pushed_model")
    if custom_property(pushed, "pushed", 0):
        return custom_property(pushed, "pushed_destination")
    model = record.output("Trainer", "model")
    return None if model is None else os.path.join(model.uri, "Format-Serving")


def component_states(record: RunRecord) -> dict:
    """The summary's `components` (each one's state) and `reused` (those TFX's cache took from an earlier run)."""
    return {"components": dict(record.states),
            "reused": [node for node, state in record.states.items() if state == "CACHED"]}


def build_summary(record: RunRecord, demo_sentences: Optional[List[str]] = None, serving_model=None) -> dict:
    """Collects what a user wants to know about a finished run; `serving_model`, when given, is the loaded
    SavedModel of `served_model_dir(record)` (else it is loaded here)."""
    summary = {"run_id": record.run_id, **component_states(record)}
    examples = record.output("JsonExampleGen", "examples")
    summary["quarantined_records"] = custom_property(examples, "quarantined_records", 0)

    evaluation = record.output("Evaluator", "evaluation")
    blessing = record.output("Evaluator", "blessing")
    if evaluation is not None:
        summary["eval_metrics"] = overall_metrics(evaluation.uri)
        summary["eval_metrics_by_length"] = metrics_by_length(evaluation.uri)
        baseline_uri = custom_property(blessing, "baseline_model")
        # On Kubeflow the baseline is the served version (LatestPushedModel): named by its folder there.
        served = custom_property(record.output(BASELINE_NODE, BASELINE_OUTPUTS["baseline"]), "pushed_destination")
        summary["baseline"] = None if not baseline_uri else {
            "model": served or baseline_uri, "eval_metrics": sliced_metrics(evaluation.uri, baseline=True).get("", {})
        }
        if blessing is not None:
            summary["validation"] = validation(evaluation.uri, summary["eval_metrics"])
    summary["blessed"] = bool(custom_property(blessing, "blessed", 0))

    serving_blessing = record.output("ServingCheck", "blessing")
    if serving_blessing is not None:
        summary["serving_check"] = serving_check_outputs(serving_blessing)

    pushed = record.output("Pusher", "pushed_model")
    summary["pushed_to"] = custom_property(pushed, "pushed_destination") if custom_property(pushed, "pushed", 0) else None

    tuner_results = record.output("Tuner", "tuner_results")
    if tuner_results is not None:
        summary["tuning"] = tuning_outputs(tuner_results.uri, record.output("Tuner", "best_hyperparameters").uri)
    model_run = record.output("Trainer", "model_run")
    if model_run is not None:
        summary["training"] = training_outputs(model_run.uri)
    model = record.output("Trainer", "model")
    if model is None or examples is None:
        return summary
    serving_model = serving_model or tf.saved_model.load(served_model_dir(record))
    accuracy, count, satirical = test_split_accuracy(serving_model, examples.uri)
    summary["test_accuracy"], summary["test_examples"] = accuracy, count

    sentences = satirical[:2] + list(DEMO_SENTENCES if demo_sentences is None else demo_sentences)
    probabilities = call_signature(serving_model.signatures, HEADLINES_SIGNATURE, tf.constant(sentences))
    summary["demo"] = [
        {"headline": s, "probability": float(p), "from_test_split": i < len(satirical[:2])}
        for i, (s, p) in enumerate(zip(sentences, probabilities))
    ]
    return summary


def _format_metrics(metrics: Dict[str, float], detailed: bool = False) -> str:
    nan = float("nan")
    text = "loss {:.4f}, accuracy {:.4f}, AUC {:.4f}".format(
        metrics.get("binary_crossentropy", nan), metrics.get("binary_accuracy", nan), metrics.get("auc", nan))
    if detailed:
        text += ", precision {:.4f}, recall {:.4f}, calibration {:.3f}".format(
            metrics.get("precision", nan), metrics.get("recall", nan), metrics.get("calibration", nan))
    return text + f", {int(metrics.get('example_count', 0))} examples"


def not_blessed_reasons(summary: dict) -> str:
    """The failed thresholds of a summary's validation, as one line ("" when none failed)."""
    return "; ".join(f["message"] for f in summary.get("validation", {}).get("failures", []))


def format_summary(summary: dict) -> str:
    """The summary as lines of text for a terminal."""
    lines = [f"textrnn run {summary['run_id']}"]
    if "preset" in summary:  # local runs record their settings; RunVerdict's summary on Kubeflow does not
        changed = ", ".join(f"{name}={value}" for name, value in summary.get("settings_changed", {}).items())
        lines.append(f"preset {summary['preset']}" + (f", changed: {changed}" if changed else ""))
    states = summary["components"]
    lines.append("components: " + ", ".join(f"{node} {state.lower()}" for node, state in states.items()))
    if summary.get("reused"):
        lines.append("reused from an earlier run (TFX cache; --no-cache reruns them): " + ", ".join(summary["reused"]))
    if summary.get("quarantined_records"):
        lines.append(f"quarantined records: {summary['quarantined_records']} (see the ExampleGen output)")
    metrics = summary.get("eval_metrics", {})
    if metrics:
        lines.append("eval split: " + _format_metrics(metrics, detailed=True))
    for bucket, bucket_metrics in summary.get("eval_metrics_by_length", {}).items():
        lines.append(f"  {bucket + ':':12} " + _format_metrics(bucket_metrics))
    baseline = summary.get("baseline")
    if baseline:
        loss = baseline["eval_metrics"].get("binary_crossentropy", float("nan"))
        lines.append(f"baseline (latest blessed model): loss {loss:.4f}, {baseline['model']}")
    elif "baseline" in summary:
        lines.append("baseline (latest blessed model): none yet, so only the loss bound applies")
    if "test_accuracy" in summary:
        lines.append(f"test split: accuracy {summary['test_accuracy']:.4f} on {summary['test_examples']} examples")
    tuning = summary.get("tuning")
    if tuning:
        lines.append(f"tuner: {len(tuning['trials'])} trials completed, eval loss of each (best first); the Trainer "
                     f"trained the first ({tuning['results']}):")
        lines += ["  " + line for line in format_trials(tuning["trials"])]
    training = summary.get("training")
    if training:
        if isinstance(training["epochs"], list):
            lines.append(f"training: an ensemble of {len(training['epochs'])} models, "
                         + ", ".join(f"{e:g}" for e in training["epochs"]) + " epochs, the best validations after "
                         + ", ".join(f"{e:g}" for e in training["best_epoch"])
                         + f" (their weights kept); curves {' and '.join(training['curves'])}")
        else:
            lines.append(f"training: {training['epochs']:g} epochs, the best validation after "
                         f"{training['best_epoch']:g} (its weights kept); curves {' and '.join(training['curves'])}")
        if "teacher" in training:
            lines.append(f"          distilled from a teacher of {len(training['teacher']['epochs'])} models "
                         f"({', '.join(f'{e:g}' for e in training['teacher']['epochs'])} epochs) on "
                         f"{training['training_examples']} examples (training headlines and altered copies)")
        lines.append(f"          history {training['history']}; TensorBoard logs {training['tensorboard']}")
    if "serving_check" in summary:
        lines += format_serving_check(summary["serving_check"])
    reasons = not_blessed_reasons(summary)
    if summary["blessed"] or not reasons:
        lines.append("blessed: " + ("yes" if summary["blessed"] else "no"))
    else:
        lines.append("blessed: no, not blessed: " + reasons)
    lines.append("pushed to: " + (summary["pushed_to"] or "nothing pushed"))
    for demo in summary.get("demo", []):
        origin = "  (satirical, test split)" if demo["from_test_split"] else ""
        lines.append(f"  {demo['probability']:.3f}  {demo['headline']}{origin}")
    return "\n".join(lines)
