"""The readable end of a run: eval and test metrics, blessing, pushed version and demo predictions."""
import glob
import json
import os
from typing import Dict, List, Optional

import tensorflow as tf
import tensorflow_model_analysis as tfma

from models.curves import ACCURACY_PNG, LOSS_PNG
from models.export import DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, OUTPUT_KEY
from models.train import HISTORY_FILE
from pipeline.run_record import RunRecord, custom_property
from preprocessing import features

# Sentences whose predictions every run shows, beside two satirical headlines from the test split.
DEMO_SENTENCES = [
    "i am going to the shops to buy some milk and bread this afternoon",
    "granny starting to fear spiders in the garden might be real",
    "area man who spent the whole weekend telling everyone at the barbecue how much he loves his job is actually unemployed",
]


def overall_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The Evaluator's unsliced metrics, by name."""
    for metrics in tfma.load_metrics(evaluation_uri):
        if not metrics.slice_key.single_slice_keys:
            return {kv.key.name: kv.value.double_value.value for kv in metrics.metric_keys_and_values}
    return {}


def load_split(examples_uri: str, split: str) -> tf.data.Dataset:
    """Serialized tf.Examples of one split of an Examples artifact."""
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    return tf.data.TFRecordDataset(files, compression_type="GZIP")


def test_split_accuracy(serving_model, examples_uri: str):
    """Accuracy of the serving model at threshold 0.5 on the test split, and the split's satirical headlines."""
    predict = serving_model.signatures[DEFAULT_SIGNATURE]
    spec = {
        features.TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    correct = total = 0
    satirical: List[str] = []
    for batch in load_split(examples_uri, "test").batch(1024):
        probability = predict(examples=batch)[OUTPUT_KEY].numpy()
        parsed = tf.io.parse_example(batch, spec)
        labels = parsed[features.LABEL_KEY].numpy()
        correct += int(((probability >= 0.5).astype(int) == labels).sum())
        total += len(labels)
        satirical += [h.decode() for h, y in zip(parsed[features.TEXT_KEY].numpy(), labels) if y == 1]
    return (correct / total if total else float("nan")), total, satirical


def training_outputs(run_dir: str) -> dict:
    """Where the Trainer left its curves, history and TensorBoard logs, and how many epochs it ran."""
    with open(os.path.join(run_dir, HISTORY_FILE)) as f:
        history = json.load(f)
    return {
        "epochs": len(history["loss"]),
        "curves": [os.path.join(run_dir, name) for name in (ACCURACY_PNG, LOSS_PNG)],
        "history": os.path.join(run_dir, HISTORY_FILE),
        "tensorboard": os.path.join(run_dir, "tensorboard"),
    }


def build_summary(record: RunRecord, demo_sentences: Optional[List[str]] = None) -> dict:
    """Collects what a user wants to know about a finished run."""
    summary = {"run_id": record.run_id, "components": record.states}
    examples = record.output("JsonExampleGen", "examples")
    summary["quarantined_records"] = custom_property(examples, "quarantined_records", 0)

    evaluation = record.output("Evaluator", "evaluation")
    if evaluation is not None:
        summary["eval_metrics"] = overall_metrics(evaluation.uri)
    blessing = record.output("Evaluator", "blessing")
    summary["blessed"] = bool(custom_property(blessing, "blessed", 0))

    pushed = record.output("Pusher", "pushed_model")
    summary["pushed_to"] = custom_property(pushed, "pushed_destination") if custom_property(pushed, "pushed", 0) else None

    model_run = record.output("Trainer", "model_run")
    if model_run is not None:
        summary["training"] = training_outputs(model_run.uri)
    model = record.output("Trainer", "model")
    if model is None or examples is None:
        return summary
    serving_model = tf.saved_model.load(summary["pushed_to"] or os.path.join(model.uri, "Format-Serving"))
    accuracy, count, satirical = test_split_accuracy(serving_model, examples.uri)
    summary["test_accuracy"], summary["test_examples"] = accuracy, count

    sentences = satirical[:2] + list(DEMO_SENTENCES if demo_sentences is None else demo_sentences)
    probabilities = serving_model.signatures[HEADLINES_SIGNATURE](headline=tf.constant(sentences))[OUTPUT_KEY]
    summary["demo"] = [
        {"headline": s, "probability": float(p), "from_test_split": i < len(satirical[:2])}
        for i, (s, p) in enumerate(zip(sentences, probabilities.numpy()))
    ]
    return summary


def format_summary(summary: dict) -> str:
    """The summary as lines of text for a terminal."""
    lines = [f"textrnn run {summary['run_id']}"]
    states = summary["components"]
    lines.append("components: " + ", ".join(f"{node} {state.lower()}" for node, state in states.items()))
    if summary.get("quarantined_records"):
        lines.append(f"quarantined records: {summary['quarantined_records']} (see the ExampleGen output)")
    metrics = summary.get("eval_metrics", {})
    if metrics:
        lines.append(
            "eval split: loss {:.4f}, accuracy {:.4f}, AUC {:.4f}, {} examples".format(
                metrics.get("binary_crossentropy", float("nan")),
                metrics.get("binary_accuracy", float("nan")),
                metrics.get("auc", float("nan")),
                int(metrics.get("example_count", 0)),
            )
        )
    if "test_accuracy" in summary:
        lines.append(f"test split: accuracy {summary['test_accuracy']:.4f} on {summary['test_examples']} examples")
    training = summary.get("training")
    if training:
        lines.append(f"training: {training['epochs']} epochs; curves {' and '.join(training['curves'])}")
        lines.append(f"          history {training['history']}; TensorBoard logs {training['tensorboard']}")
    lines.append("blessed: " + ("yes" if summary["blessed"] else "no"))
    lines.append("pushed to: " + (summary["pushed_to"] or "nothing pushed"))
    for demo in summary.get("demo", []):
        origin = "  (satirical, test split)" if demo["from_test_split"] else ""
        lines.append(f"  {demo['probability']:.3f}  {demo['headline']}{origin}")
    return "\n".join(lines)
