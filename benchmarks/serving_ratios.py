"""Serving ratios: how far the serving check's ratios to the served version stray when only noise separates the
two models, on an idle machine and with a busy loop on every core; what the default ratio budgets come from.

    scripts/run_benchmark.sh serving_ratios [--repeats 3] [--headlines 1500] [--output-dir benchmarks/results]

It trains `default` with seeds 0 and 1 and `best` with seed 0 (`textrnn run`, one epoch on a slice of the real
data, each on an output root of its own: what serving costs depends on the architecture, not on how long it
trained), then runs the check's own measurement (components/serving_check.py: the child process that loads the
candidate and the served version side by side, its rounds of interleaved requests, and the child that loads the
served version alone for its memory) on pairs: each model against itself (pure noise), `default` seed 1 against
seed 0 (a retrained model, as every rerun pushes), and `best` against `default` (an ensemble replacing one model,
which widens its ratios). Each pair runs `repeats` times idle and `repeats` times with every core busy, the pairs
and conditions interleaved. Writes serving-ratios.md and serving-ratios.json to --output-dir.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.machine_load import busy_cores
from benchmarks.performance import DATASET, write_slice
from benchmarks.provenance import provenance
from textrnn.components import serving_check
from textrnn.pipeline import data
from textrnn.pipeline.options import SERVING_BUDGETS

MODELS = (("default", 0), ("default", 1), ("best", 0))
PAIRS = ((("default", 0), ("default", 0)), (("default", 1), ("default", 0)), (("best", 0), ("best", 0)),
         (("best", 0), ("default", 0)))
CONDITIONS = ("idle", "every core busy")
RATIOS = tuple(serving_check.RATIO_BUDGETS)


def label(model) -> str:
    return f"{model[0]} (seed {model[1]})"


def train(preset: str, seed: int, data_dir: str, work: str) -> str:
    """The pushed version of a one-epoch run of `preset` on its own output root."""
    root = os.path.join(work, f"{preset}-{seed}")
    command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run", "--preset", preset, "--seed",
               str(seed), "--epochs", "1", "--input-dir", data_dir, "--output-root", root, "--eval-loss-bound", "10",
               "--eval-loss-tolerance", "10"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n"
                         f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    with open(max(glob.glob(os.path.join(root, "summary-*.json")), key=os.path.getmtime)) as f:
        return json.load(f)["pushed_to"]


def compare(candidate_dir: str, served_dir: str, headlines) -> dict:
    """The serving check's figures for `candidate_dir` with `served_dir` being served (check_model's measuring
    part, without the Keras canary and the contract, which cost no time here)."""
    with tempfile.TemporaryDirectory() as folder:
        result = serving_check.run_probe(serving_check.probe_request(candidate_dir, headlines, served_dir), folder,
                                         600, None)
        if "error" in result:
            raise SystemExit(f"{candidate_dir}: {result['error']}")
        served, ratios = serving_check.measure_served(result, served_dir, headlines, 600, None, folder)
    if "error" in served:
        raise SystemExit(f"{served_dir}: {served['error']}")
    return {"ratios": ratios, "candidate": {k: result[k] for k in ("p50_ms", "p99_ms", "headlines_per_second",
                                                                     "peak_memory_mb")},
            "served": {k: served[k] for k in ("p50_ms", "p99_ms", "headlines_per_second", "peak_memory_mb")}}


def render(rows, repeats: int, headlines: int, seconds: float) -> str:
    """The report: per pair and condition, each ratio's median and range over the repeats and the widest range
    of one check's rounds; then the default budgets against the worst ratio of a model against its like."""
    out = ["# Serving ratios: the serving check's noise", "",
           f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores in {seconds / 60:.0f} min by "
           "`scripts/run_benchmark.sh serving_ratios` (benchmarks/serving_ratios.py): models trained for one epoch "
           f"on the first {headlines:,} headlines; each pair measured {repeats} times idle and {repeats} times with "
           "a busy loop on every core, pairs and conditions interleaved; each time by the serving check's own "
           f"measurement ({serving_check.ROUNDS} rounds of {serving_check.LATENCY_REQUESTS} batch-1 requests and "
           f"{serving_check.THROUGHPUT_SECONDS:g} s of batch-{serving_check.THROUGHPUT_BATCH} requests each, the "
           "two models taking turns request by request; peak memory from each model loaded alone).", "",
           "A cell: the check's ratio (candidate over served; the figures of all its rounds pooled), median "
           "(min-max) over the repeats, then in brackets the widest range of one check's own rounds.", "",
           "| candidate | served | machine | " + " | ".join(RATIOS) + " |",
           "| --- | --- | --- |" + " --- |" * len(RATIOS)]
    for row in rows:
        cells = []
        for name in RATIOS:
            values = [m["ratios"][name]["ratio"] for m in row["measured"]]
            cell = f"{np.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
            if name != "memory":
                low = min(m["ratios"][name]["low"] for m in row["measured"])
                high = max(m["ratios"][name]["high"] for m in row["measured"])
                cell += f" [{low:.2f}-{high:.2f}]"
            cells.append(cell)
        out.append(f"| {row['candidate']} | {row['served']} | {row['condition']} | " + " | ".join(cells) + " |")
    like = [row for row in rows if row["candidate"].split(" ")[0] == row["served"].split(" ")[0]]
    out += ["", "The default budgets (pipeline/options.py) against the worst check of a model against one like it "
            "(the same preset, either condition), where a good model must pass:", "",
            "| ratio | default budget | worst check | room |", "| --- | --- | --- | --- |"]
    for name in RATIOS:
        budget_name, *_rest, direction = serving_check.RATIO_BUDGETS[name]
        budget = SERVING_BUDGETS[f"serving_{budget_name}"]
        values = [m["ratios"][name]["ratio"] for row in like for m in row["measured"]]
        worst = max(values) if direction > 0 else min(values)
        room = budget / worst if direction > 0 else worst / budget
        out.append(f"| {name} | {'at most' if direction > 0 else 'at least'} {budget:g}x | {worst:.2f}x | "
                   f"{room:.2f}x |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--headlines", type=int, default=1500)
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="textrnn-serving-ratios-") as work:
        data_dir = write_slice(args.headlines, os.path.join(work, "data"), data.ensure_dataset())
        with open(os.path.join(data_dir, DATASET)) as f:
            headlines = [json.loads(line)["headline"].encode() for line, _ in zip(f, range(serving_check.CANARY_SIZE))]
        pushed = {}
        for preset, seed in MODELS:
            print(f"training {preset} (seed {seed}) ...", file=sys.stderr, flush=True)
            pushed[preset, seed] = train(preset, seed, data_dir, work)
        rows = [{"candidate": label(c), "served": label(s), "condition": condition, "measured": []}
                for condition in CONDITIONS for c, s in PAIRS]
        for repeat in range(args.repeats):
            for condition in CONDITIONS:
                for (candidate, served) in PAIRS:
                    row = next(r for r in rows if (r["candidate"], r["served"], r["condition"]) ==
                               (label(candidate), label(served), condition))
                    if condition == "idle":
                        measured = compare(pushed[candidate], pushed[served], headlines)
                    else:
                        with busy_cores():
                            measured = compare(pushed[candidate], pushed[served], headlines)
                    row["measured"].append(measured)
                    print(f"{repeat + 1}/{args.repeats} {condition}: {row['candidate']} against {row['served']}: " +
                          ", ".join(f"{k} {v['ratio']:.2f}" for k, v in measured["ratios"].items()),
                          file=sys.stderr, flush=True)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "serving-ratios.json"), "w") as f:
        json.dump({"provenance": provenance(__doc__.split("\n\n")[0], vars(args)), "rows": rows}, f, indent=1)
    report = render(rows, args.repeats, args.headlines, time.monotonic() - started)
    with open(os.path.join(args.output_dir, "serving-ratios.md"), "w") as f:
        f.write(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
