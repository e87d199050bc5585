"""Accuracy benchmark: every preset through the whole pipeline on the full dataset, as a Markdown table.

    scripts/run_benchmark.sh accuracy [--presets default,book-bilstm] [--seeds 0,1,2] [--output-dir DIR]

Each preset runs `textrnn run --preset NAME --seed S` (80/10/10 split of all 26,709 headlines) once per seed
into its own output root; the table reports eval loss and accuracy, test accuracy, epochs run, the pipeline's
wall time and training examples per second (epoch wall time, validation included), averaged over the seeds,
with the curves of the first seed beside them.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from benchmarks.performance import BATCH_CALLS, LATENCY_CALLS, call_timings
from textrnn.models import glove
from textrnn.models.export import HEADLINES_SIGNATURE, OUTPUT_KEY
from textrnn.models.presets import PRESETS, get_preset
from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import options
from textrnn.components.run_artifacts import split_predictions


# Bins of expected calibration error: equal widths of confidence (the larger of p and 1 - p) from 0.5 to 1.
CALIBRATION_BINS = 10

HEADER = (f"Full v1 dataset (26,709 headlines), 80/10/10 split by headline hash, on this {os.cpu_count()}-core machine. "
          "Wall time is the whole pipeline; examples/s is training examples per second of epoch wall time "
          "(validation included); epochs are passes over the training split until early stopping, with the "
          "epoch of the best validation (whose weights are kept) in brackets, fractions where a preset validates "
          "several times per epoch. The seeds of a row run one after the other on one output root, the later ones "
          "reusing the data components from the TFX cache. Timing columns compare only rows measured on one day: "
          "this machine's speed varies from day to day by up to 2x (the performance report measures side by side). A row with several training seeds gives their mean and the range of test "
          "accuracy; the notes below the table list the seeds. The book column gives the book's figures for the "
          "experiment a book preset repeats, after its 30 epochs. Test AUC and test ECE (expected calibration error: "
          f"{CALIBRATION_BINS} equal-width bins of confidence, the probability of the predicted class) come from the "
          "pushed model's probabilities on the test split; Trainer time is the Trainer component's wall time (all of an "
          "ensemble's models; a Tuner's search runs before it and counts in the pipeline wall time); serving p50 is the median of "
          f"{LATENCY_CALLS} one-headline requests to the pushed SavedModel's `headlines` signature in the benchmark's "
          f"process, on CPU, and throughput the headlines per second of the median of {BATCH_CALLS} requests of "
          "256 test headlines; size is the pushed SavedModel's folder on disk. A distilled preset's "
          "examples/s counts its altered copies, its Trainer time includes its teacher's. A dash: the row was "
          "measured before the column existed. Ensembles list each model's epochs in square brackets.")

# The book's result for the experiment each book preset reproduces, read off its Chapter 7 charts (the figure
# images in github.com/lmoroney/tfbook, diagrams/TensorFlow Book/Chapter 7, in chapter order).
BOOK_RESULTS = {
    "book-bilstm": "Figs 7-9, 7-10: val acc ≈0.80 (train ≈0.92), val loss lowest ≈0.45",
    "book-stacked": "Figs 7-11, 7-12: val acc ≈0.80 (train ≈0.98), val loss ≈0.46 rising to ≈0.75",
    "book-stacked-lr8e-6": "Figs 7-13, 7-14: val acc ≈0.79 (train ≈0.96), val loss ≈0.47 rising to ≈0.61",
    "book-stacked-dropout": "Figs 7-15, 7-16: val acc ≈0.80 (train ≈0.91), val loss flat ≈0.46",
    "book-glove": "Figs 7-19, 7-20: val acc ≈0.72 (train ≈0.72), val loss ≈0.56",
}


def count_records(examples_uri: str, split: str) -> int:
    files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


# book-glove names the full Twitter 25d file; where it is not installed, the reported rows used the subset of it
# in the repository's ../shared/data/glove.
TWITTER_25D_SUBSET = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                  "shared", "data", "glove", "glove.twitter.27B.25d.subset11925.txt.gz")


def preset_args(name: str) -> list:
    """Flags a preset needs on this machine: the Twitter 25d subset for book-glove when the full file is missing."""
    if name == "book-glove" and not os.path.exists(glove.resolve_glove(get_preset(name).config.glove)) \
            and os.path.exists(TWITTER_25D_SUBSET):
        return ["--glove", TWITTER_25D_SUBSET]
    return []


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """The mean gap between confidence and accuracy over equal-width confidence bins, weighted by the share of
    predictions in each (Guo et al., 2017); confidence is the probability of the predicted class.

    Example:

    >>> import numpy as np
    >>> round(expected_calibration_error(np.array([0.9, 0.9, 0.2, 0.6]), np.array([1, 0, 0, 1])), 4)
    0.35
    """
    confidence = np.maximum(probabilities, 1 - probabilities)
    correct = (probabilities >= 0.5).astype(int) == labels
    index = np.minimum(((confidence - 0.5) * 2 * bins).astype(int), bins - 1)
    return float(sum(abs(correct[index == b].mean() - confidence[index == b].mean()) * (index == b).mean()
                     for b in range(bins) if (index == b).any()))


def test_split_quality(pushed_dir: str, examples_uri: str) -> dict:
    """Test AUC, expected calibration error, serving latency (batch 1) and throughput (batch 256) of a pushed
    model, and its size on disk."""
    saved_model = tf.saved_model.load(pushed_dir)
    probabilities, labels, headlines = split_predictions(saved_model, examples_uri)
    request = saved_model.signatures[HEADLINES_SIGNATURE]
    timings = call_timings(lambda batch: request(headline=batch)[OUTPUT_KEY].numpy(), tf.constant, list(headlines))
    return {"test_auc": float(roc_auc_score(labels, probabilities)),
            "test_ece": expected_calibration_error(probabilities, labels),
            "serving_p50_ms": timings["p50_ms"],
            "serving_batch256_per_s": timings["batch256_per_s"],
            "model_mb": options.disk_bytes(pushed_dir) / 2**20}


def resolved_settings(name: str, changed: dict) -> dict:
    """Every model setting a run trained with: the preset's values, then what its flags changed (from the run's
    summary, `settings_changed`).

    >>> resolved_settings("default", {"lstm_units": [128]})["lstm_units"]
    [128]
    """
    return PRESETS[name].config.replace(**changed).to_dict()


def run_preset(name: str, seed: int, output_root: str, extra_args, variant=None) -> dict:
    """Runs the pipeline with one preset and seed; returns the measurements of that run."""
    started = time.perf_counter()
    flags = [*preset_args(name), *extra_args]
    command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run", "--preset", name, "--seed", str(seed),
               "--output-root", output_root, "--eval-loss-bound", "10", "--eval-loss-tolerance", "10", *flags]
    print(f"== {name}: {' '.join(command)}", file=sys.stderr, flush=True)
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started

    record = run_record.latest_run(output_layout.metadata_path(output_root))
    summary_path = max(glob.glob(os.path.join(output_root, "summary-*.json")), key=os.path.getmtime)
    with open(summary_path) as f:
        summary = json.load(f)
    with open(summary["training"]["history"]) as f:
        history = json.load(f)
    examples_uri = record.output("JsonExampleGen", "examples").uri
    train_examples = history.get("training_examples") or count_records(examples_uri, "train")
    epochs = summary["training"]["epochs"]
    members = history.get("members", [history])  # an ensemble trains its models one after another
    return {
        **test_split_quality(summary["pushed_to"], examples_uri),
        "preset": name,
        "variant": variant,
        # The preset and flags as they were measured: a later change to the preset must not relabel this row.
        "description": PRESETS[name].description,
        "flags": flags,
        "settings": resolved_settings(name, summary["settings_changed"]),
        "seed": seed,
        "eval_loss": summary["eval_metrics"]["binary_crossentropy"],
        "eval_accuracy": summary["eval_metrics"]["binary_accuracy"],
        "test_accuracy": summary["test_accuracy"],
        "epochs": epochs,
        "best_epoch": summary["training"]["best_epoch"],
        "wall_seconds": wall,
        "trainer_seconds": record.seconds["Trainer"],
        "examples_per_second": train_examples * np.sum(epochs) / sum(sum(m["epoch_seconds"]) for m in members),
        "curves": summary["training"]["curves"],
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }


MEAN_FIELDS = ("eval_loss", "eval_accuracy", "test_accuracy", "test_auc", "test_ece", "wall_seconds", "trainer_seconds",
               "examples_per_second", "serving_p50_ms", "serving_batch256_per_s", "model_mb")


def combine(runs) -> dict:
    """The row of one preset: the mean of its runs (one per seed), every test accuracy and epoch count, and
    the curves of the first run."""
    row = dict(runs[0])
    row.pop("seed")
    row.update({field: sum(run[field] for run in runs) / len(runs) for field in MEAN_FIELDS if field in runs[0]})
    row["seeds"] = [run["seed"] for run in runs]
    row["test_accuracies"] = [run["test_accuracy"] for run in runs]
    row["epochs"] = [run["epochs"] for run in runs]
    row["best_epochs"] = [run["best_epoch"] for run in runs]
    return row


def row_key(row) -> str:
    return row["preset"] + (f" ({row['variant']})" if row.get("variant") else "")


def _epochs(row) -> str:
    epochs = row["epochs"] if isinstance(row["epochs"], list) else [row["epochs"]]
    text = ", ".join(_epoch_count(e) for e in epochs)
    if row.get("best_epochs"):
        text += " (best " + ", ".join(_epoch_count(e) for e in row["best_epochs"]) + ")"
    return text


def _epoch_count(epochs) -> str:
    """Epochs of one run; an ensemble's, one per model, in brackets."""
    if isinstance(epochs, list):
        return "[" + " ".join(f"{e:g}" for e in epochs) + "]"
    return f"{epochs:g}"


def _measured(row, field: str, form: str) -> str:
    """A column that rows measured before it existed leave empty."""
    return form.format(row[field]) if field in row else "–"


def _test_accuracy(row) -> str:
    accuracies = row.get("test_accuracies", [row["test_accuracy"]])
    if len(accuracies) == 1:
        return f"{row['test_accuracy']:.4f}"
    return f"{row['test_accuracy']:.4f} (min {min(accuracies):.4f}, max {max(accuracies):.4f})"


def _seeds(row) -> str:
    if "seeds" not in row:
        return "unseeded"
    per_seed = ", ".join(f"{accuracy:.4f}" for accuracy in row["test_accuracies"])
    label = "seed" if len(row["seeds"]) == 1 else "seeds"
    return f"{label} {', '.join(map(str, row['seeds']))}: test accuracy {per_seed}"


def _description(row) -> str:
    """The preset's description saved with the row; never today's, which may describe another model."""
    if "description" not in row:
        return f"{row['preset']} as of {row['measured'][:10]} (its description was not saved)"
    source = f" ({row['description_source']})" if row.get("description_source") else ""
    return row["description"] + source


def _flags(row) -> str:
    """The flags a row ran with beyond the preset (they override its description), and where they come from."""
    if row.get("flags"):
        flags = f" Run with `{' '.join(row['flags'])}`, which overrides the description where they differ"
    elif "flags" in row:
        flags = " No flags beyond the preset"
    else:
        return " Its flags were not saved."
    source = f" ({row['flags_source']})" if row.get("flags_source") else ""
    return f"{flags}{source}."


def markdown(rows, figures_dir: str) -> str:
    lines = [
        "| preset | eval loss | eval accuracy | test accuracy | test AUC | test ECE | book | epochs | Trainer time "
        "| pipeline wall time | training examples/s | serving p50 (1 headline) | serving headlines/s (batch 256) "
        "| size | curves |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for row in rows:
        curves = " ".join(f"![{row['preset']}]({os.path.relpath(p, figures_dir)})" for p in row["figures"])
        book = BOOK_RESULTS.get(row["preset"], "")
        lines.append(
            f"| {row_key(row)} | {row['eval_loss']:.4f} | {row['eval_accuracy']:.4f} | {_test_accuracy(row)} "
            f"| {_measured(row, 'test_auc', '{:.4f}')} | {_measured(row, 'test_ece', '{:.4f}')} | {book} "
            f"| {_epochs(row)} | {row['trainer_seconds']:.0f} s | {row['wall_seconds']:.0f} s "
            f"| {row['examples_per_second']:.0f} | {_measured(row, 'serving_p50_ms', '{:.1f} ms')} "
            f"| {_measured(row, 'serving_batch256_per_s', '{:.0f}')} | {_measured(row, 'model_mb', '{:.0f} MB')} "
            f"| {curves} |"
        )
        conditions = f"; {row['conditions']}" if row.get("conditions") else ""
        notes.append(f"- {row_key(row)} (measured {row['measured']}, {_seeds(row)}{conditions}): "
                     f"{_description(row)}.{_flags(row)}")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def load_rows(path: str) -> dict:
    """Rows of an earlier report by preset name, so that presets can be measured in several sessions."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {row_key(row): row for row in json.load(f)}


# The report's hand-written part: from this heading on, accuracy.md is kept as it is when the table is rewritten.
CHOICES_HEADING = "## Choices made on the eval split"


def write_report(rows_by_preset: dict, output_dir: str) -> str:
    rows = sorted(rows_by_preset.values(), key=lambda row: (list(PRESETS).index(row["preset"]), row_key(row)))
    report = markdown(rows, output_dir)
    path = os.path.join(output_dir, "accuracy.md")
    choices = ""
    if os.path.exists(path):
        with open(path) as f:
            earlier = f.read()
        if CHOICES_HEADING in earlier:
            choices = "\n" + CHOICES_HEADING + earlier.split(CHOICES_HEADING, 1)[1]
    with open(path, "w") as f:
        f.write(f"# Accuracy benchmark\n\n{HEADER}\n\n{report}{choices}")
    with open(os.path.join(output_dir, "accuracy.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    parser.add_argument("--seeds", default="0", type=lambda s: [int(seed) for seed in s.split(",")],
                        help="comma-separated training seeds; each preset runs once per seed (default 0)")
    parser.add_argument("--output-dir", default="benchmarks/results", help="where the report and curves go")
    parser.add_argument("--work-dir", default="textrnn_output/benchmarks", help="pipeline outputs per preset")
    parser.add_argument("--variant", help="label of rows measured with extra `textrnn run` flags (given after the "
                        "benchmark's own), kept beside the preset's own row, e.g. --variant 'full-width batches' "
                        "--bucket-window 0")
    parser.add_argument("--conditions", help="what else ran on the machine meanwhile, noted beside the rows")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite accuracy.md from accuracy.json without running anything")
    args, extra = parser.parse_known_args(argv)

    os.makedirs(args.output_dir, exist_ok=True)
    rows = load_rows(os.path.join(args.output_dir, "accuracy.json"))
    names = [] if args.report_only else args.presets.split(",")
    for name in names:
        get_preset(name)
    report = write_report(rows, args.output_dir)
    for name in names:
        output_root = os.path.abspath(os.path.join(args.work_dir, name + (f"-{args.variant}" if args.variant else "")))
        row = combine([run_preset(name, seed, output_root, extra, args.variant) for seed in args.seeds])
        row["figures"] = []
        for path in row["curves"]:
            slug = "".join(c if c.isalnum() else "-" for c in row_key(row).replace(" (", "-").rstrip(")"))
            target = os.path.join(args.output_dir, f"{slug}-{os.path.basename(path)}")
            shutil.copyfile(path, target)
            row["figures"].append(target)
        if args.conditions:
            row["conditions"] = args.conditions
        rows[row_key(row)] = row
        report = write_report(rows, args.output_dir)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
