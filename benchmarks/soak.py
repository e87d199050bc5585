"""Soak: `textrnn run` N times in a row on one output root, checking after each run what a user relies on.

    scripts/run_benchmark.sh soak [--runs 10] [--headlines 1200] [--keep-runs 3] [--keep-pushed 3]

Not part of the tests: ten runs take about ten minutes here.

After every run (a slice of the real data, one epoch, retention on):
- the summary is that run's: its file is new, its run id is the newest run in ML Metadata, and the version
  it says was pushed is the one that run's Pusher recorded;
- the baseline is the previous blessed model: the model of the latest earlier run whose summary said
  blessed (none before the first);
- every pushed version loads as TF Serving loads it (a graph-mode session: the MetaGraph imported, the
  saver's restore op run) and scores a headline through its `headlines` signature;
- disk use (pipeline artifacts, push destination, metadata) after the run, which --keep-runs must bound.
A failed check is an anomaly: listed in the report, and the exit status is 1. The report (soak.md, soak.json
and soak-disk.png) goes to --output-dir.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import tensorflow as tf

from benchmarks.performance import write_slice
from benchmarks.provenance import provenance
from textrnn.models.export import HEADLINES_SIGNATURE
from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import data, options, retention

def loads_as_tf_serving(version_dir: str) -> str:
    """'' if the SavedModel loads in a graph-mode session and scores a headline, else what went wrong."""
    try:
        with tf.Graph().as_default(), tf.compat.v1.Session() as session:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
            signature = meta_graph.signature_def[HEADLINES_SIGNATURE]
            (input_info,), (output_info,) = signature.inputs.values(), signature.outputs.values()
            probability = session.run(output_info.name, {input_info.name: ["area man soaks pipeline for hours"]})
        if not 0.0 <= float(probability.ravel()[0]) <= 1.0:
            return f"probability {probability} outside [0, 1]"
        return ""
    except Exception as error:  # noqa: BLE001 - reported as an anomaly of this version
        return f"{type(error).__name__}: {error}"


def soak_run(index: int, args, data_dir: str, root: str, last_blessed_model) -> dict:
    command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run", "--input-dir", data_dir,
               "--output-root", root, "--epochs", "1", "--eval-loss-bound", str(args.eval_loss_bound),
               "--keep-runs", str(args.keep_runs)]
    if args.keep_pushed:
        command += ["--keep-pushed", str(args.keep_pushed)]
    summaries_before = set(glob.glob(os.path.join(root, "summary-*.json")))
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    row = {"run": index, "exit": result.returncode, "seconds": round(time.monotonic() - started, 1), "anomalies": []}
    anomalies = row["anomalies"]
    if result.returncode not in (0, 3):  # 3: not blessed, a verdict rather than a failure
        anomalies.append(f"exit status {result.returncode}: {result.stderr.strip().splitlines()[-1:]}")
        return row
    new_summaries = sorted(set(glob.glob(os.path.join(root, "summary-*.json"))) - summaries_before)
    if len(new_summaries) != 1:
        anomalies.append(f"{len(new_summaries)} new summary files")
        return row
    with open(new_summaries[0]) as f:
        summary = json.load(f)
    record = run_record.latest_run(output_layout.metadata_path(root))
    row.update(run_id=summary["run_id"], blessed=summary["blessed"], reused=summary["reused"],
               eval_loss=summary["eval_metrics"].get("binary_crossentropy"))
    if record.run_id != summary["run_id"]:
        anomalies.append(f"summary run {summary['run_id']} is not the newest run {record.run_id}")
    pushed = record.output("Pusher", "pushed_model")
    recorded = run_record.custom_property(pushed, "pushed_destination") if run_record.custom_property(
        pushed, "pushed", 0) else None
    if recorded != summary["pushed_to"]:
        anomalies.append(f"summary says pushed to {summary['pushed_to']}, the Pusher recorded {recorded}")
    baseline = (summary.get("baseline") or {}).get("model")
    if baseline != last_blessed_model:
        anomalies.append(f"baseline {baseline} is not the previous blessed model {last_blessed_model}")
    serving_dir = output_layout.serving_model_dir(root)
    versions = output_layout.pushed_versions(serving_dir)
    for version in versions:
        problem = loads_as_tf_serving(os.path.join(serving_dir, str(version)))
        if problem:
            anomalies.append(f"version {version} does not load as TF Serving loads it: {problem}")
    row["versions"] = len(versions)
    row["disk_bytes"] = retention.describe_usage(root)
    row["model"] = record.output("Trainer", "model").uri
    return row


def plot_disk(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [row["run"] for row in rows if "disk_bytes" in row]
    fig, ax = plt.subplots(figsize=(7, 4))
    for part in ("pipelines", "serving_model", "metadata"):
        ax.plot(runs, [row["disk_bytes"][part] / 1e6 for row in rows if "disk_bytes" in row], marker="o", label=part)
    ax.plot(runs, [sum(row["disk_bytes"].values()) / 1e6 for row in rows if "disk_bytes" in row], marker="o",
            color="black", label="total")
    ax.set_xlabel("run")
    ax.set_ylabel("MB under the output root")
    ax.set_title("Disk use after each run of the soak")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render(args, rows, bound_mb) -> str:
    lines = [
        "# Soak: `textrnn run` again and again on one output root",
        "",
        f"{args.runs} runs of `textrnn run --epochs 1 --eval-loss-bound {args.eval_loss_bound} "
        f"--keep-runs {args.keep_runs}"
        + (f" --keep-pushed {args.keep_pushed}" if args.keep_pushed else "") + f"` on the first {args.headlines} "
        "headlines of the real dataset, one after another on one root (`python -m benchmarks.soak`). After each "
        "run: the summary is that run's, its baseline is the previous blessed model, every pushed version loads "
        "in a graph-mode session as TF Serving loads it, and the disk use.",
        "",
        "| run | exit | seconds | blessed | eval loss | reused from the cache | pushed versions | pipelines MB | "
        "serving MB | metadata MB | total MB | anomalies |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        disk = row.get("disk_bytes", {})
        mb = lambda part: f"{disk[part] / 1e6:.1f}" if part in disk else ""  # noqa: E731
        loss = f"{row['eval_loss']:.4f}" if row.get("eval_loss") is not None else ""
        lines.append(
            f"| {row['run']} | {row['exit']} | {row['seconds']} | {'yes' if row.get('blessed') else 'no'} | {loss} | "
            f"{len(row.get('reused', []))} components | {row.get('versions', '')} | {mb('pipelines')} | "
            f"{mb('serving_model')} | {mb('metadata')} | {sum(disk.values()) / 1e6:.1f} | "
            f"{'; '.join(row['anomalies']) or 'none'} |")
    anomalies = sum(len(row["anomalies"]) for row in rows)
    lines += ["", f"Anomalies: {anomalies}. Disk bound checked: at most {bound_mb:.1f} MB (1.25 x the largest total "
              f"among the first {args.keep_runs + 1} runs, by which time retention is in force).", "",
              "![disk use](soak-disk.png)", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--headlines", type=int, default=1200)
    parser.add_argument("--keep-runs", type=int, default=3)
    parser.add_argument("--keep-pushed", type=int, default=3)
    parser.add_argument("--eval-loss-bound", type=float, default=1.0,
                        help="one epoch on a slice stays above the default bound; the tolerance against the "
                             "baseline still decides (default %(default)s)")
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="textrnn-soak-") as work:
        data_dir = write_slice(args.headlines, os.path.join(work, "data"), data.ensure_dataset())
        root = os.path.join(work, "root")
        rows, last_blessed_model = [], None
        for index in range(1, args.runs + 1):
            row = soak_run(index, args, data_dir, root, last_blessed_model)
            if row.get("blessed"):
                last_blessed_model = row["model"]
            rows.append(row)
            total = sum(row.get("disk_bytes", {}).values()) / 1e6
            print(f"run {index}/{args.runs}: exit {row['exit']} in {row['seconds']} s, {total:.1f} MB, anomalies: "
                  f"{row['anomalies'] or 'none'}", file=sys.stderr, flush=True)
    totals = [sum(row.get("disk_bytes", {}).values()) / 1e6 for row in rows]
    bound_mb = 1.25 * max(totals[:args.keep_runs + 1])
    for row, total in zip(rows, totals):
        if total > bound_mb:
            row["anomalies"].append(f"disk use {total:.1f} MB above the bound {bound_mb:.1f} MB")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "soak.json"), "w") as f:
        json.dump({"provenance": provenance(__doc__.split("\n\n")[0], vars(args)), "rows": rows}, f, indent=1)
    plot_disk(rows, os.path.join(args.output_dir, "soak-disk.png"))
    report = render(args, rows, bound_mb)
    with open(os.path.join(args.output_dir, "soak.md"), "w") as f:
        f.write(report)
    print(report)
    return 1 if any(row["anomalies"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
