"""The readable end of a run, built once by RunReport and printed by every runner: eval and test metrics,
blessing, serving check, pushed version and demo predictions (`build_summary`), and the same as lines of text
(`format_summary`).

Example:

>>> from textrnn.components.run_summary import format_summary
>>> print(format_summary({"run_id": "r1", "components": {"Trainer": "COMPLETE"}, "blessed": False,
...                       "pushed_to": None}))
textrnn run r1
components: Trainer complete
blessed: no
pushed to: nothing pushed
"""
import os
from typing import Dict, List, Optional

import tensorflow as tf

from textrnn.components import run_artifacts
from textrnn.components.run_record import RunRecord, custom_property
from textrnn.contract import BASELINE_NODE, BASELINE_OUTPUTS, HEADLINES_SIGNATURE, RUN_OUTPUTS
from textrnn.models.export import call_signature

# Sentences whose predictions every run shows, beside two satirical headlines from the test split.
DEMO_SENTENCES = [
    "i am going to the shops to buy some milk and bread this afternoon",
    "granny starting to fear spiders in the garden might be real",
    "area man who spent the whole weekend telling everyone at the barbecue how much he loves his job is actually unemployed",
]


def test_split_accuracy(serving_model, examples_uri: str):
    """Accuracy of the serving model at threshold 0.5 on the test split, and the split's satirical headlines."""
    probabilities, labels, headlines = run_artifacts.split_predictions(serving_model, examples_uri)
    correct = int(((probabilities >= 0.5).astype(int) == labels).sum())
    satirical = [h.decode() for h, y in zip(headlines, labels) if y == 1]
    return (correct / len(labels) if len(labels) else float("nan")), len(labels), satirical


def format_trials(trials: List[dict]) -> List[str]:
    """The Tuner's trials as an aligned text table, one line per trial, best first."""
    names = sorted({name for trial in trials for name in trial} - {"trial_id", "score"})
    rows = [["trial", "eval loss", *names]] + [
        [str(t["trial_id"]), f"{t['score']:.4f}", *(f"{t.get(n, '')}" for n in names)] for t in trials]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


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


def component_states(record: RunRecord) -> dict:
    """The summary's `components` (each one's state) and `reused` (those TFX's cache took from an earlier run)."""
    return {"components": dict(record.states),
            "reused": [node for node, state in record.states.items() if state == "CACHED"]}


def build_summary(record: RunRecord, demo_sentences: Optional[List[str]] = None, serving_model=None) -> dict:
    """Collects what a user wants to know about a finished run; `serving_model`, when given, is the loaded
    SavedModel of `run_artifacts.served_model_dir(record)` (else it is loaded here)."""
    summary = {"run_id": record.run_id, **component_states(record)}
    examples = record.output(*RUN_OUTPUTS["examples"])
    summary["quarantined_records"] = custom_property(examples, "quarantined_records", 0)

    evaluation = record.output(*RUN_OUTPUTS["evaluation"])
    blessing = record.output(*RUN_OUTPUTS["blessing"])
    if evaluation is not None:
        summary["eval_metrics"] = run_artifacts.overall_metrics(evaluation.uri)
        summary["eval_metrics_by_length"] = run_artifacts.metrics_by_length(evaluation.uri)
        baseline_uri = custom_property(blessing, "baseline_model")
        # On Kubeflow the baseline is the served version (LatestPushedModel): named by its folder there.
        served = custom_property(record.output(BASELINE_NODE, BASELINE_OUTPUTS["baseline"]), "pushed_destination")
        summary["baseline"] = None if not baseline_uri else {
            "model": served or baseline_uri,
            "eval_metrics": run_artifacts.sliced_metrics(evaluation.uri, baseline=True).get("", {})}
        if blessing is not None:
            summary["validation"] = run_artifacts.validation(evaluation.uri, summary["eval_metrics"])
    summary["blessed"] = bool(custom_property(blessing, "blessed", 0))

    serving_blessing = record.output(*RUN_OUTPUTS["serving_blessing"])
    if serving_blessing is not None:
        summary["serving_check"] = run_artifacts.serving_check_outputs(serving_blessing)

    pushed = record.output(*RUN_OUTPUTS["pushed_model"])
    summary["pushed_to"] = custom_property(pushed, "pushed_destination") if custom_property(pushed, "pushed", 0) else None

    tuner_results = record.output(*RUN_OUTPUTS["tuner_results"])
    if tuner_results is not None:
        best = record.output(*RUN_OUTPUTS["best_hyperparameters"])
        summary["tuning"] = run_artifacts.tuning_outputs(tuner_results.uri, best.uri)
    model_run = record.output(*RUN_OUTPUTS["model_run"])
    if model_run is not None:
        summary["training"] = run_artifacts.training_outputs(model_run.uri)
    model = record.output(*RUN_OUTPUTS["model"])
    if model is None or examples is None:
        return summary
    serving_model = serving_model or tf.saved_model.load(run_artifacts.served_model_dir(record))
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
