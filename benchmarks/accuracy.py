"""Accuracy benchmark: every preset through the whole pipeline on the full dataset, as a Markdown table.

    scripts/run_benchmark.sh accuracy [--presets default,book-bilstm] [--output-dir DIR]

Each preset runs `textrnn run --preset NAME` (80/10/10 split of all 26,709 headlines) into its own output
root; the table reports eval loss and accuracy, test accuracy, epochs run, the pipeline's wall time and
training examples per second (epoch wall time, validation included), with each preset's curves beside it.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import tensorflow as tf

from models.presets import PRESETS
from pipeline import configs, run_record

BOOK_RESULT = "book: about 0.80 validation accuracy, with validation loss rising as training accuracy climbs"


def count_records(examples_uri: str, split: str) -> int:
    files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def run_preset(name: str, output_root: str, extra_args) -> dict:
    """Runs the pipeline with one preset; returns the row of the table."""
    started = time.perf_counter()
    command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run", "--preset", name,
               "--output-root", output_root, "--eval-loss-bound", "10", "--eval-loss-tolerance", "10", *extra_args]
    print(f"== {name}: {' '.join(command)}", file=sys.stderr, flush=True)
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started

    record = run_record.latest_run(configs.metadata_path(output_root))
    summary_path = max(glob.glob(os.path.join(output_root, "summary-*.json")), key=os.path.getmtime)
    with open(summary_path) as f:
        summary = json.load(f)
    with open(summary["training"]["history"]) as f:
        history = json.load(f)
    train_examples = count_records(record.output("JsonExampleGen", "examples").uri, "train")
    epochs = len(history["loss"])
    return {
        "preset": name,
        "eval_loss": summary["eval_metrics"]["binary_crossentropy"],
        "eval_accuracy": summary["eval_metrics"]["binary_accuracy"],
        "test_accuracy": summary["test_accuracy"],
        "epochs": epochs,
        "wall_seconds": wall,
        "trainer_seconds": record.seconds["Trainer"],
        "examples_per_second": train_examples * epochs / sum(history["epoch_seconds"]),
        "curves": summary["training"]["curves"],
    }


def markdown(rows, figures_dir: str) -> str:
    lines = [
        "| preset | eval loss | eval accuracy | test accuracy | epochs | pipeline wall time | training examples/s | curves |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for row in rows:
        curves = " ".join(f"![{row['preset']}]({os.path.relpath(p, figures_dir)})" for p in row["figures"])
        lines.append(
            f"| {row['preset']} | {row['eval_loss']:.4f} | {row['eval_accuracy']:.4f} | {row['test_accuracy']:.4f} "
            f"| {row['epochs']} | {row['wall_seconds']:.0f} s | {row['examples_per_second']:.0f} | {curves} |"
        )
        if row["preset"].startswith("book-"):
            notes.append(f"- {row['preset']}: {PRESETS[row['preset']].description}; {BOOK_RESULT}.")
        else:
            notes.append(f"- {row['preset']}: {PRESETS[row['preset']].description}.")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    parser.add_argument("--output-dir", default="benchmarks/results", help="where the report and curves go")
    parser.add_argument("--work-dir", default="textrnn_output/benchmarks", help="pipeline outputs per preset")
    args, extra = parser.parse_known_args(argv)

    os.makedirs(args.output_dir, exist_ok=True)
    rows = []
    for name in args.presets.split(","):
        row = run_preset(name, os.path.abspath(os.path.join(args.work_dir, name)), extra)
        row["figures"] = []
        for path in row["curves"]:
            target = os.path.join(args.output_dir, f"{name}-{os.path.basename(path)}")
            shutil.copyfile(path, target)
            row["figures"].append(target)
        rows.append(row)
        report = markdown(rows, args.output_dir)
        with open(os.path.join(args.output_dir, "accuracy.md"), "w") as f:
            f.write("# Accuracy benchmark\n\nFull v1 dataset, 80/10/10 split by headline hash.\n\n" + report)
        with open(os.path.join(args.output_dir, "accuracy.json"), "w") as f:
            json.dump(rows, f, indent=1)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
