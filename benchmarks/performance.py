"""Performance benchmark: what the pipeline costs, each number against a baseline measured in the same run.

    scripts/run_benchmark.sh performance [--rounds 3] [--epochs 3] [--output-dir benchmarks/results]

These machines vary by up to 2x within minutes, so the processes compared run interleaved: each round runs the
notebook, `textrnn run --epochs N`, the default `textrnn run` and the Trainer variants once, in that order, and
every ratio is a process's figure over its baseline's of the same round, reported as median (min-max) over the
rounds; a target counts as met when its worst round meets it.

1. Against the notebook: `benchmarks/notebook.py`, the plain Keras script a reader of the book would copy (load,
   vectorise, train N epochs, evaluate, export), against `textrnn run --epochs N` (early stopping off) and the
   default `textrnn run` (early stopping on), each a whole process on a fresh output root.
2. Trainer throughput: training examples/s (epochs after the first, validation included) of the default Trainer
   (bucketed batches, four validations per epoch), with full-width batches as before bucketing, and with row-wise
   embedding updates, against the notebook's plain Keras epochs. The variants run on an output root whose data
   components are cached, so that they differ from the Trainer on.
3. Where the seconds outside training go in `textrnn run --epochs N`: process start, each component (the
   Trainer by part, from its history's `phase_seconds`, `build_seconds` and `fit_seconds`), the gaps between
   components, and after the last one.
4. Serving: p50/p99 latency at batch 1 and throughput at batches 64 and 256 for both signatures of the pushed
   SavedModel (which trim padding to the batch's longest headline), against the Keras model called directly on
   the Transform's full-width token ids.
5. Efficiency: FLOP/s of the training step counting every padded step, and counting real tokens only, against
   this machine's peak, arithmetic written out.
6. Scaling: Transform and training time at 1k, 5k and all headlines.
7. Serving cost: pushed models (a distilled model, ensembles) against a pushed single model, both signatures,
   in rounds that take each model in turn, ratios per round (median, min, max).
   `--serving-cost LABEL=FOLDER ...` (pushed version folders, the baseline first, e.g. those of the accuracy
   benchmark's `default`, `distilled` and `best` runs) measures only this section and rewrites it in the report.
8. Serving check: `--serving-check SUMMARY ...` measures the check's figures for those runs' pushed models.
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from benchmarks.provenance import provenance
from textrnn.models.batching import bucketed_batches, token_lengths
from textrnn.models.config import ModelConfig
from textrnn.models.export import DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, OUTPUT_KEY, serialized_example
from textrnn.models.train import HISTORY_FILE, KERAS_MODEL_FILE
from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import options
from textrnn.preprocessing import features

DATASET = "Sarcasm_Headlines_Dataset.json"

ROUNDS = 3
# The processes of a round, run in this order: the baseline, then `textrnn run` with a fixed number of epochs and
# as users run it (each on a fresh output root: the notebook has no cache either), then the Trainer variants on a
# root whose data components are cached.
NOTEBOOK = "`benchmarks/notebook.py` (plain Keras: load, vectorise, train, evaluate, export; baseline)"
FIXED_EPOCHS = "`textrnn run --epochs {epochs}` (early stopping off)"
DEFAULT_RUN = "`textrnn run` (the default: early stopping on)"
FULL_WIDTH_VARIANT = "full-width batches (before bucketing), 1 validation per epoch"
ROW_WISE_VARIANT = "row-wise embedding updates"
TRAINER_VARIANTS = {
    FULL_WIDTH_VARIANT: ["--bucket-window", "0", "--validations-per-epoch", "1"],
    ROW_WISE_VARIANT: ["--row-wise-embedding-updates"],
}
# What the default `textrnn run --epochs N` trains with: section 2's baseline among the Trainers.
DEFAULT_TRAINER = "bucketed batches, 4 validations per epoch (the default)"


def fixed_epochs(epochs: int) -> list:
    """`textrnn run` flags that train exactly `epochs` epochs and bless whatever they train (a throughput run's
    model is not a candidate for anything; it is pushed so that section 4 can serve it)."""
    return ["--epochs", str(epochs), "--early-stopping-patience", "1000", "--eval-loss-bound", "10",
            "--eval-loss-tolerance", "10"]


def run_pipeline(output_root, flags=(), input_dir=None):
    """One `textrnn run` as its own process; returns its MLMD record, training history, summary, and the
    process's start time and wall time. A run its Evaluator did not bless (exit status 3) is measured too."""
    command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run", "--output-root", output_root,
               *flags]
    if input_dir:
        command += ["--input-dir", input_dir]
    print("==", " ".join(command), file=sys.stderr, flush=True)
    start = time.time()
    status = subprocess.run(command, stdout=subprocess.DEVNULL).returncode
    wall = time.time() - start
    if status not in (0, contract.NOT_BLESSED_EXIT_CODE):
        raise SystemExit(f"{' '.join(command)} failed with exit status {status}")
    record = run_record.latest_run(output_layout.metadata_path(output_root))
    with open(os.path.join(record.output("Trainer", "model_run").uri, HISTORY_FILE)) as f:
        history = json.load(f)
    with open(max(glob.glob(os.path.join(output_root, "summary-*.json")), key=os.path.getmtime)) as f:
        summary = json.load(f)
    return {"record": record, "history": history, "summary": summary, "start": start, "wall": wall}


def run_notebook(dataset_file, export_dir, epochs):
    """benchmarks/notebook.py as its own process: its report, with the process's wall time."""
    command = [sys.executable, "-m", "benchmarks.notebook", dataset_file, export_dir, "--epochs", str(epochs)]
    print("==", " ".join(command), file=sys.stderr, flush=True)
    start = time.time()
    result = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["process_seconds"] = time.time() - start
    return report


def steady_examples_per_second(history, train_examples):
    """Training examples per second over the epochs after the first (which traces the model), validation
    included; `history["epoch"]` places each validation in epochs when there are several per epoch."""
    positions = history.get("epoch") or list(range(1, len(history["epoch_seconds"]) + 1))
    previous = [0.0] + positions[:-1]
    spans = list(zip(previous, positions, history["epoch_seconds"]))
    later = [(end - begin, seconds) for begin, end, seconds in spans if begin >= 1.0 - 1e-6] or [
        (end - begin, seconds) for begin, end, seconds in spans]  # one epoch only: all of it
    return train_examples * sum(e for e, _ in later) / sum(s for _, s in later)


def split_ids(transformed_uri, split, max_length):
    """The token ids of one split of the Transform's output, [examples, max_length]."""
    spec = {features.TOKEN_IDS_KEY: tf.io.FixedLenFeature([max_length], tf.int64)}
    files = sorted(glob.glob(os.path.join(transformed_uri, f"Split-{split}", "*")))
    batches = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096).map(
        lambda b: tf.io.parse_example(b, spec))
    return np.concatenate([b[features.TOKEN_IDS_KEY].numpy() for b in batches])


def steps_per_example(ids, config: ModelConfig):
    """LSTM steps per training example: real tokens, with bucketed batches, and with full-width batches."""
    labels = np.zeros(len(ids), dtype=np.int64)
    examples = tf.data.Dataset.from_tensor_slices(({features.TOKEN_IDS_KEY: ids}, labels))
    batches = bucketed_batches(examples, len(ids), config.training.batch_size, True, config.training.bucket_window)
    bucketed = sum(b[features.TOKEN_IDS_KEY].size for b, _ in batches.as_numpy_iterator())
    return {"real tokens": float(token_lengths(ids).mean()), "bucketed": bucketed / len(ids),
            "full width": float(ids.shape[1])}


def time_calls(function, argument, repeats):
    function(argument)  # warm-up: tracing and first-call allocations
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def serving_numbers(pushed_dir, model_run_dir, transform_graph_uri, headlines):
    """Latency and throughput of both signatures and of the Keras model on token ids."""
    saved = tf.saved_model.load(pushed_dir)
    by_text = saved.signatures[HEADLINES_SIGNATURE]
    by_example = saved.signatures[DEFAULT_SIGNATURE]
    model = keras.saving.load_model(os.path.join(model_run_dir, KERAS_MODEL_FILE))
    keras_on_ids = tf.function(lambda ids: model({features.TOKEN_IDS_KEY: ids}, training=False))

    def examples_of(batch):
        return tf.constant([
            tf.train.Example(features=tf.train.Features(feature={
                features.TEXT_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[h.encode()]))
            })).SerializeToString() for h in batch])

    tft_layer = tft.TFTransformOutput(transform_graph_uri).transform_features_layer()

    def ids_of(batch):
        return tft_layer({features.TEXT_KEY: tf.reshape(tf.constant(batch), [-1, 1])})[features.TOKEN_IDS_KEY]

    callers = {
        "headlines signature": (lambda x: by_text(headline=x)[OUTPUT_KEY], lambda b: tf.constant(b)),
        "serving_default (tf.Example)": (lambda x: by_example(examples=x)[OUTPUT_KEY], examples_of),
        "Keras model on token ids (baseline)": (keras_on_ids, ids_of),
    }
    return {name: call_timings(call, prepare, headlines) for name, (call, prepare) in callers.items()}


LATENCY_CALLS, BATCH_CALLS = 300, 30


def call_timings(call, prepare, headlines):
    """p50 and p99 milliseconds of `call` on one headline (`LATENCY_CALLS` calls), and headlines per second in
    batches of 64 and 256 (median of `BATCH_CALLS` calls); `prepare` turns a list of headlines into the call's
    argument."""
    single = time_calls(call, prepare(headlines[:1]), LATENCY_CALLS) * 1000
    row = {"p50_ms": float(np.percentile(single, 50)), "p99_ms": float(np.percentile(single, 99))}
    for batch in (64, 256):
        row[f"batch{batch}_per_s"] = float(batch / np.median(time_calls(call, prepare(headlines[:batch]),
                                                                        BATCH_CALLS)))
    return row


SERVING_COST_SECTION = "## 7. Serving cost: one model, a distilled model, ensembles"
SERVING_COST_ROUNDS = 5


def serving_cost(models, headlines, rounds: int = SERVING_COST_ROUNDS, conditions: str = "") -> str:
    """Section 7: p50 latency for one headline and throughput at batches 64 and 256 of both scoring signatures of
    pushed SavedModels (`models`: (label, folder) pairs, the first the baseline), measured in `rounds` rounds
    that take every model in turn (A, B, C, A, B, C, ...), so that the machine's drift hits them alike; each
    ratio is a model's over the baseline's of the same round, reported as median, min and max."""
    loaded = [(label, folder, tf.saved_model.load(folder)) for label, folder in models]
    signatures = ((HEADLINES_SIGNATURE, lambda b: {"headline": tf.constant(b)}),
                  (DEFAULT_SIGNATURE, lambda b: {"examples": tf.constant([serialized_example(h.encode()) for h in b])}))
    measured = {}  # (label, signature) -> one call_timings row per round
    for _ in range(rounds):
        for label, _, saved in loaded:
            for signature, prepare in signatures:
                function = saved.signatures[signature]
                call = lambda inputs, function=function: function(**inputs)[OUTPUT_KEY].numpy()  # noqa: E731
                measured.setdefault((label, signature), []).append(call_timings(call, prepare, headlines))
    baseline = models[0][0]

    def spread(values):
        return f"{np.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    out = [SERVING_COST_SECTION, "",
           f"Measured {time.strftime('%Y-%m-%d %H:%M')} in one process, CPU, in {rounds} rounds that each measure every "
           "model in turn; figures are medians over the rounds, ratios are against the baseline's figure of the same "
           "round: median (min-max). A p50 ratio below 1.3 and a throughput ratio above 1/1.3 = 0.77 in every round "
           "are within 1.3x of the baseline" + (f"; {conditions}" if conditions else "") + ".", "",
           "| model | signature | p50 ms (batch 1) | p99 ms (batch 1) | headlines/s at 64 | headlines/s at 256 "
           "| p50 ratio | batch-256 ratio |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, folder, _ in loaded:
        for signature, _ in signatures:
            rows, bases = measured[(label, signature)], measured[(baseline, signature)]
            median = {key: float(np.median([row[key] for row in rows])) for key in rows[0]}
            p50 = [row["p50_ms"] / base["p50_ms"] for row, base in zip(rows, bases)]
            batch256 = [row["batch256_per_s"] / base["batch256_per_s"] for row, base in zip(rows, bases)]
            shown = os.path.relpath(folder) if not os.path.relpath(folder).startswith("..") else folder
            out.append(f"| {label}: `{shown}` | {signature} | {median['p50_ms']:.2f} | {median['p99_ms']:.2f} | "
                       f"{median['batch64_per_s']:.0f} | {median['batch256_per_s']:.0f} | {spread(p50)} | "
                       f"{spread(batch256)} |")
    return "\n".join(out) + "\n"


SERVING_CHECK_SECTION = "## 8. Serving check: figures, budgets and cost"
SERVING_CHECK_FIGURES = (("load_total_seconds", "load + warm-up s", 2), ("p50_ms", "p50 ms", 2),
                         ("p99_ms", "p99 ms", 2), ("headlines_per_second", "headlines/s at 64", 0),
                         ("peak_memory_mb", "peak MB", 0))


def serving_check_figures(summary_paths, repeats: int = 3, conditions: str = "") -> str:
    """Section 8: the serving check's own figures for the pushed model of each run (its summary file), measured
    again `repeats` times by the check's child process, the runs' models interleaved (A, B, C, A, B, C, ...);
    the budgets each run was held to, and what the check cost inside each run."""
    import tempfile

    from textrnn.components import serving_check

    runs = []
    for path in summary_paths:
        with open(path) as f:
            summary = json.load(f)
        if not summary.get("pushed_to") or "serving_check" not in summary:
            raise SystemExit(f"{path}: the run pushed no model or had no serving check")
        runs.append((summary.get("preset", "?"), summary))
    from textrnn.pipeline import data

    headlines = [json.loads(line)["headline"].encode()
                 for line in open(os.path.join(data.ensure_dataset(), DATASET))][:serving_check.CANARY_SIZE]
    measured = {preset: [] for preset, _ in runs}
    for _ in range(repeats):
        for preset, summary in runs:
            request = serving_check.probe_request(summary["pushed_to"], headlines)  # as the check asks it
            with tempfile.TemporaryDirectory() as folder:
                result = serving_check.run_probe(request, folder, 600, None)
            if "error" in result:
                raise SystemExit(f"{preset}: {result['error']}")
            result["load_total_seconds"] = result["load_seconds"] + result["warmup_seconds"]
            measured[preset].append(result)
    out = [SERVING_CHECK_SECTION, "",
           f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores: each preset's pushed model (full "
           f"dataset, seed 0) probed {repeats} times by the check's child process (components/serving_probe.py: "
           f"TF Serving's session loader, warm-up replay, {serving_check.ROUNDS} rounds of "
           f"{serving_check.LATENCY_REQUESTS} batch-1 requests and of batch-{serving_check.THROUGHPUT_BATCH} "
           "requests, alone: nothing served beside it), "
           "the presets interleaved; median (min-max)" + (f"; {conditions}" if conditions else "") + ".", "",
           "| preset | " + " | ".join(label for _, label, _ in SERVING_CHECK_FIGURES) + " |",
           "| --- |" + " --- |" * len(SERVING_CHECK_FIGURES)]
    for preset, _ in runs:
        cells = []
        for key, _, digits in SERVING_CHECK_FIGURES:
            values = [r[key] for r in measured[preset]]
            cells.append(f"{np.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})")
        out.append(f"| `{preset}` | " + " | ".join(cells) + " |")
    out += ["", "The budgets each run was held to (pipeline/options.py's defaults; `best` sets its own in "
            "models/presets.py), and the check inside that run: its figures, and its whole cost (child process "
            "start, TensorFlow import, load, warm-up, canary against the Keras model, measurements, contract).", "",
            "| preset | budgets: load s, p50 ms, p99 ms, min headlines/s, MB | in the run: load s, p50 ms, p99 ms, "
            "headlines/s, MB | check cost s |", "| --- | --- | --- | --- |"]
    for preset, summary in runs:
        check = summary["serving_check"]
        budgets = check.get("budgets", {})
        shown = ", ".join("-" if budgets.get(k) is None else f"{budgets[k]:g}" for k in (
            "max_load_seconds", "max_p50_ms", "max_p99_ms", "min_headlines_per_second", "max_memory_mb"))
        figures = ", ".join(f"{check[k]:.{d}f}" for k, _, d in SERVING_CHECK_FIGURES)
        out.append(f"| `{preset}` | {shown} | {figures} | {check['check_seconds']:.1f} |")
    return "\n".join(out) + "\n"


def replace_section(report: str, heading: str, section: str) -> str:
    """`report` with the section under `heading` (up to the next "## " heading) replaced by `section`, or
    `section` appended."""
    if heading not in report:
        return report.rstrip("\n") + "\n\n" + section
    before, after = report.split(heading, 1)
    rest = after.split("\n## ", 1)
    return before + section.rstrip("\n") + ("\n\n## " + rest[1] if len(rest) > 1 else "\n")


def lstm_flops_per_step(config: ModelConfig):
    """FLOPs of one time step of every BiLSTM layer, forward pass, multiply-adds counted as 2; and the dense head."""
    lines, per_step, architecture = [], 0, config.architecture
    inputs = architecture.embedding_dim
    for units in architecture.lstm_units:
        layer = 2 * 2 * 4 * (inputs + units) * units  # two directions, four gates: W·x + U·h
        lines.append(f"BiLSTM({units}) on {inputs} inputs, per step: 2 directions x 2 x 4 x ({inputs}+{units}) x {units} = {layer:,}")
        per_step += layer
        inputs = 2 * units
    dense = 2 * inputs * architecture.dense_units + 2 * architecture.dense_units
    lines.append(f"Dense({architecture.dense_units}) and output, per example: 2 x {inputs} x {architecture.dense_units} + 2 x {architecture.dense_units} = {dense:,}")
    return per_step, dense, lines


def peak_flops():
    """FP32 peak of this machine's cores: cores x clock x FLOPs per cycle (2 FMA pipes x 8 lanes x 2)."""
    cores = os.cpu_count()
    mhz = max(float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz"))
    per_cycle = 32  # AMD Zen 4 / Intel with 2 x 256-bit FMA pipes, FP32 (AVX-512 is double-pumped on Zen 4)
    return cores * mhz * 1e6 * per_cycle, f"{cores} cores x {mhz:.0f} MHz x {per_cycle} FLOPs/cycle"


def write_slice(count, folder, mirror):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(mirror, DATASET), "rb") as source, open(os.path.join(folder, DATASET), "wb") as target:
        for _, line in zip(range(count), source):
            target.write(line)
    return folder


def spread(values, digits: int = 2) -> str:
    """"median (min-max)" of `values`.

    >>> spread([1.2, 0.9, 1.0])
    '1.00 (0.90-1.20)'
    """
    return f"{np.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def measure_round(index: int, work: str, dataset_file: str, epochs: int, cached_root: str) -> dict:
    """One round: the notebook, `textrnn run --epochs N` and the default `textrnn run` (each on a fresh output
    root), then the Trainer variants on `cached_root`; every textrnn run of the round is seeded with `index`."""
    seed = ["--seed", str(index)]
    runs = {NOTEBOOK: run_notebook(dataset_file, os.path.join(work, f"notebook-{time.time_ns()}"), epochs)}
    runs[FIXED_EPOCHS] = run_pipeline(os.path.join(work, f"fixed-{time.time_ns()}"), fixed_epochs(epochs) + seed)
    runs[DEFAULT_RUN] = run_pipeline(os.path.join(work, f"default-{time.time_ns()}"), seed)
    for name, flags in TRAINER_VARIANTS.items():
        runs[name] = run_pipeline(cached_root, fixed_epochs(epochs) + seed + flags)
    return runs


def round_figures(runs: dict, train_examples: int) -> dict:
    """The figures of one round that the report compares: wall times, test accuracies, training examples/s and the
    seconds outside training of the fixed-epochs run."""
    notebook = runs[NOTEBOOK]
    fixed = runs[FIXED_EPOCHS]
    throughput = {"notebook": steady_examples_per_second({"epoch_seconds": notebook["epoch_seconds"]},
                                                         notebook["train_examples"]),
                  DEFAULT_TRAINER: steady_examples_per_second(fixed["history"], train_examples)}
    throughput.update({name: steady_examples_per_second(runs[name]["history"], train_examples)
                       for name in TRAINER_VARIANTS})
    default = runs[DEFAULT_RUN]
    return {
        "wall": {NOTEBOOK: notebook["process_seconds"], FIXED_EPOCHS: fixed["wall"], DEFAULT_RUN: default["wall"]},
        "training": {NOTEBOOK: sum(notebook["epoch_seconds"]), FIXED_EPOCHS: sum(fixed["history"]["epoch_seconds"]),
                     DEFAULT_RUN: sum(default["history"]["epoch_seconds"])},
        "test_accuracy": {NOTEBOOK: notebook["test_accuracy"], FIXED_EPOCHS: fixed["summary"].get("test_accuracy"),
                          DEFAULT_RUN: default["summary"].get("test_accuracy")},
        "default_epochs": default["history"]["epoch"][-1] if default["history"].get("epoch") else len(
            default["history"]["epoch_seconds"]),
        "throughput": throughput,
        "outside": outside_training(fixed["record"], fixed["history"], fixed["start"], fixed["wall"]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every fixed-epochs run (throughput: the epochs after the first)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of the interleaved processes (at least 3 "
                        "for a worst round worth the name)")
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument("--work-dir", default="textrnn_output/benchmarks/performance")
    parser.add_argument("--serving-cost", nargs="+", metavar="LABEL=FOLDER",
                        help="only measure section 7 on these pushed version folders (the first, e.g. "
                             "default=textrnn_output/serving_model/textrnn/1796047488, is the baseline) and rewrite "
                             "it in the report")
    parser.add_argument("--serving-check", nargs="+", metavar="SUMMARY",
                        help="only measure section 8 on the pushed models of these runs (their summary-*.json) and "
                             "rewrite it in the report")
    parser.add_argument("--conditions", default="", help="what else ran on the machine meanwhile")
    args = parser.parse_args(argv)
    if args.serving_cost is not None and (len(args.serving_cost) < 2 or not all("=" in m for m in args.serving_cost)):
        parser.error("--serving-cost takes at least two LABEL=FOLDER, the baseline first")
    from textrnn.pipeline import data

    # Sections measured on their own: one is measured and rewritten in the report, the others kept.
    section = None
    if args.serving_cost:
        dataset_dir = data.ensure_dataset()
        headlines = [json.loads(line)["headline"] for line in open(os.path.join(dataset_dir, DATASET))][:256]
        models = [tuple(model.split("=", 1)) for model in args.serving_cost]
        heading, section = SERVING_COST_SECTION, serving_cost(models, headlines, conditions=args.conditions)
    elif args.serving_check:
        heading, section = SERVING_CHECK_SECTION, serving_check_figures(args.serving_check, conditions=args.conditions)
    if section is not None:
        path = os.path.join(args.output_dir, "performance.md")
        with open(path) as f:
            report = replace_section(f.read(), heading, section)
        with open(path, "w") as f:
            f.write(report)
        print(section)
        return 0

    work = os.path.abspath(args.work_dir)
    dataset_dir = data.ensure_dataset()
    dataset_file = os.path.join(dataset_dir, DATASET)
    config = ModelConfig()
    started = time.strftime("%Y-%m-%d %H:%M")
    cached_root = os.path.join(work, f"cached-{time.time_ns()}")
    first = run_pipeline(cached_root, fixed_epochs(1))  # fills the variants' cache; not measured
    train_ids = split_ids(first["record"].output("Transform", "transformed_examples").uri, "train",
                          config.tokenizer.max_length)
    rounds = []
    for index in range(args.rounds):
        print(f"== round {index + 1} of {args.rounds}", file=sys.stderr, flush=True)
        runs = measure_round(index, work, dataset_file, args.epochs, cached_root)
        rounds.append(round_figures(runs, len(train_ids)))
    last = runs[FIXED_EPOCHS]

    headlines = [json.loads(line)["headline"] for line in open(dataset_file)][:256]
    pushed = last["record"].output("Pusher", "pushed_model")
    serving = serving_numbers(run_record.custom_property(pushed, "pushed_destination"),
                              last["record"].output("Trainer", "model_run").uri,
                              last["record"].output("Transform", "transform_graph").uri, headlines)

    scaling = {}
    for count in (1000, 5000):
        folder = write_slice(count, os.path.join(work, f"slice-{count}", "input"), dataset_dir)
        run = run_pipeline(os.path.join(work, f"slice-{count}", f"run-{time.time_ns()}"), fixed_epochs(args.epochs),
                           input_dir=folder)
        scaling[count] = (run["record"].seconds["Transform"], sum(run["history"]["epoch_seconds"]), run["wall"])
    scaling[sum(1 for _ in open(dataset_file))] = tuple(
        float(np.median([figure(r) for r in rounds])) for figure in (
            lambda r: r["outside"]["parts"]["Transform"], lambda r: r["training"][FIXED_EPOCHS],
            lambda r: r["wall"][FIXED_EPOCHS]))

    report = render(args, started, config, rounds, serving, steps_per_example(train_ids, config), scaling)
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "performance.md")
    earlier = open(path).read() if os.path.exists(path) else ""
    for heading in (SERVING_COST_SECTION, SERVING_CHECK_SECTION):  # measured on their own: kept
        if heading in earlier:
            kept = earlier.split(heading, 1)[1].split("\n## ", 1)[0]
            report = replace_section(report, heading, heading + kept)
    with open(path, "w") as f:
        f.write(report)
    with open(os.path.join(args.output_dir, "performance.json"), "w") as f:
        json.dump({"provenance": provenance(__doc__.split("\n\n")[0], vars(args)), "started": started,
                   "epochs": args.epochs, "rounds": rounds}, f, indent=1)
    print(report)
    return 0


BUILDING = "Trainer: building and compiling the model"
AROUND_EPOCHS = "Trainer: Keras' fit around the epochs (set-up, callbacks, restoring the best weights)"
REST_OF_TRAINING = "Trainer: the rest of its training phase (seeding, batching, deleting fit's iterators)"
PROCESS_START = "process start (imports, data check, pipeline compile)"
AFTER_LAST = "after the last component (summary, report copy, exit)"


def outside_training(record, history, start, wall):
    """Seconds of the run outside model training: before the first component, each component (the Trainer by
    part: its `phase_seconds`, with the training phase split into building the model, Keras' fit around the
    epochs and the rest; TFX's executor around `run_fn` is what the parts leave), between components, and after
    the last one; `trainer` totals the Trainer's parts. `history` is one model's."""
    training = sum(history["epoch_seconds"])
    first = min(record.started.values())
    last = max(record.started[node] + record.seconds[node] for node in record.seconds)
    parts = {PROCESS_START: first - start}
    trainer = {}
    for node in sorted(record.seconds, key=record.started.get):
        if node != "Trainer":
            parts[node] = record.seconds[node]
            continue
        phases = history.get("phase_seconds", {})
        for phase, seconds in phases.items():  # in the order run_fn ran them
            if phase != "training":
                trainer[f"Trainer: {phase}"] = seconds
                continue
            fit = history.get("fit_seconds", training)
            trainer[BUILDING] = history.get("build_seconds", 0.0)
            trainer[AROUND_EPOCHS] = fit - training
            trainer[REST_OF_TRAINING] = seconds - trainer[BUILDING] - fit
        trainer["Trainer: TFX's executor around run_fn"] = record.seconds[node] - sum(phases.values())
        parts.update(trainer)
    parts["between components (TFX launcher)"] = (last - first) - sum(record.seconds.values())
    parts[AFTER_LAST] = start + wall - last
    return {"parts": parts, "training": training, "total": wall - training, "trainer": sum(trainer.values())}


TARGETS_SECTION = "## Targets"


Target = collections.namedtuple("Target", "what bound values worst met style")


def targets(rounds: list, useful_per_example: float, peak: float) -> list:
    """A `Target` for each target of the issue "Training at the speed of the real tokens": its figure in each
    round, the worst round's (the lowest for a floor, the highest for a ceiling) and whether that meets it."""
    rows = [  # what, a floor (True) or a ceiling, the bound, how figures are written, the figure of a round
        ("training examples/s, row-wise updates over the default Trainer", True, 1.8, "{:.2f}",
         lambda r: r["throughput"][ROW_WISE_VARIANT] / r["throughput"][DEFAULT_TRAINER]),
        ("useful FLOP/s of the Trainer with row-wise updates, share of peak", True, 0.15, "{:.1%}",
         lambda r: useful_per_example * r["throughput"][ROW_WISE_VARIANT] / peak),
        ("useful FLOP/s of the default Trainer, share of peak", True, 0.15, "{:.1%}",
         lambda r: useful_per_example * r["throughput"][DEFAULT_TRAINER] / peak),
        ("seconds outside training, `textrnn run --epochs N`", False, 25, "{:.1f}", lambda r: r["outside"]["total"]),
        ("the Trainer's seconds around its epochs", False, 5, "{:.1f}", lambda r: r["outside"]["trainer"]),
        ("process start (before the first component)", False, 5, "{:.1f}",
         lambda r: r["outside"]["parts"][PROCESS_START]),
        ("`textrnn run --epochs N` over the notebook's wall time", False, 0.8, "{:.2f}",
         lambda r: r["wall"][FIXED_EPOCHS] / r["wall"][NOTEBOOK]),
        ("default `textrnn run` over the notebook's wall time", False, 0.6, "{:.2f}",
         lambda r: r["wall"][DEFAULT_RUN] / r["wall"][NOTEBOOK]),
        ("default `textrnn run`'s test accuracy less the notebook's", True, 0.0, "{:+.4f}",
         lambda r: r["test_accuracy"][DEFAULT_RUN] - r["test_accuracy"][NOTEBOOK]),
    ]
    out = []
    for what, floor, limit, style, figure in rows:
        values = [figure(r) for r in rounds]
        worst = min(values) if floor else max(values)
        out.append(Target(what, (">= " if floor else "<= ") + style.format(limit), values, worst,
                          worst >= limit if floor else worst <= limit, style))
    return out


def render(args, started, config, rounds, serving, steps, scaling):
    count = len(rounds)
    fixed = FIXED_EPOCHS.format(epochs=args.epochs)
    per_step, dense, lines = lstm_flops_per_step(config)
    useful = 3 * (steps["real tokens"] * per_step + dense)
    peak, peak_line = peak_flops()

    def column(function):
        return [function(r) for r in rounds]

    out = ["# Performance benchmark", "",
           f"Machine: {os.cpu_count()} cores; full dataset (26,709 headlines); `default` preset; one run of "
           f"`scripts/run_benchmark.sh performance` started {started}: {count} rounds, each running the notebook, "
           f"{fixed}, the default `textrnn run` and the Trainer variants of section 2 in that order, so that the "
           "machine's drift (up to 2x within minutes) hits them alike. Every ratio is a figure over its baseline's "
           "of the same round: median (min-max) over the rounds; the worst round decides a target"
           + (f"; {args.conditions}" if args.conditions else "") + ". The rounds' figures are in performance.json.",
           "", TARGETS_SECTION, "", "| target | bound | each round | worst round | met |",
           "| --- | --- | --- | --- | --- |"]
    for target in targets(rounds, useful, peak):
        out.append(f"| {target.what.replace('--epochs N', f'--epochs {args.epochs}')} | {target.bound} | "
                   f"{', '.join(target.style.format(v) for v in target.values)} | "
                   f"{target.style.format(target.worst)} | {'yes' if target.met else '**no**'} |")
    out += ["", "## 1. Against the notebook (whole process, wall time)", "",
            "| | wall time s, each round | ratio | training s | test accuracy |", "| --- | --- | --- | --- | --- |"]
    for name in (NOTEBOOK, FIXED_EPOCHS, DEFAULT_RUN):
        walls = column(lambda r: r["wall"][name])
        ratios = column(lambda r: r["wall"][name] / r["wall"][NOTEBOOK])
        accuracy = [a for a in column(lambda r: r["test_accuracy"][name]) if a is not None]
        out.append(f"| {name.format(epochs=args.epochs)} | {', '.join(f'{w:.1f}' for w in walls)} | "
                   f"**{spread(ratios)}** | {np.median(column(lambda r: r['training'][name])):.1f} | "
                   f"{spread(accuracy, 4) if accuracy else ''} |")
    out += ["", f"The notebook trains {args.epochs} epochs on its own 80/10/10 split in file order; the runs "
            "report the test split of TFX's hash split (about a tenth of the headlines). The default run stopped "
            f"after {', '.join(format(r['default_epochs'], 'g') for r in rounds)} epochs.", "",
            "## 2. Trainer throughput", "",
            "| | training examples/s, each round | median | ratio to the notebook | ratio to the default Trainer |",
            "| --- | --- | --- | --- | --- |"]
    names = ["notebook", DEFAULT_TRAINER, *TRAINER_VARIANTS]
    for name in names:
        values = column(lambda r: r["throughput"][name])
        label = ("notebook, plain Keras, full-width batches (baseline)" if name == "notebook"
                 else f"TFX Trainer, {name}")
        out.append(f"| {label} | {', '.join(f'{v:.0f}' for v in values)} | {np.median(values):.0f} | "
                   f"{spread(column(lambda r: r['throughput'][name] / r['throughput']['notebook']))} | "
                   f"{spread(column(lambda r: r['throughput'][name] / r['throughput'][DEFAULT_TRAINER]))} |")
    out += ["", f"The default Trainer's figures are those of the {fixed} runs of section 1; the variants ran on an "
            "output root whose data components were cached.", "",
            f"## 3. Outside training (`textrnn run --epochs {args.epochs}` on a fresh output root)", "",
            "| part | seconds: median (min-max) |", "| --- | --- |"]
    for part in rounds[0]["outside"]["parts"]:
        out.append(f"| {part} | {spread(column(lambda r: r['outside']['parts'][part]), 1)} |")
    out += [f"| **the Trainer around its epochs** | **{spread(column(lambda r: r['outside']['trainer']), 1)}** |",
            f"| **total outside training** | **{spread(column(lambda r: r['outside']['total']), 1)}** |",
            f"| training (the epochs, validation included) | {spread(column(lambda r: r['training'][FIXED_EPOCHS]), 1)} |",
            "", "## 4. Serving (pushed SavedModel, this process, CPU)", "",
            f"The last round's {fixed} model, measured after the rounds.", "",
            "| caller | p50 ms (batch 1) | p99 ms (batch 1) | headlines/s at 64 | headlines/s at 256 | batch-256 ratio to baseline |",
            "| --- | --- | --- | --- | --- | --- |"]
    baseline = serving["Keras model on token ids (baseline)"]["batch256_per_s"]
    for name, row in serving.items():
        out.append(f"| {name} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['batch64_per_s']:.0f} | "
                   f"{row['batch256_per_s']:.0f} | {row['batch256_per_s'] / baseline:.2f} |")
    out += ["", "## 5. Efficiency", ""] + [f"- {line}" for line in lines]
    out.append("- LSTM steps per training example (train split): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    out.append("- training FLOPs per example = 3 x (forward: steps x per-step + dense head), backward taken as twice "
               "the forward pass")
    for label, name, run_steps in (("full-width Trainer", FULL_WIDTH_VARIANT, steps["full width"]),
                                   ("default Trainer", DEFAULT_TRAINER, steps["bucketed"]),
                                   ("Trainer with row-wise updates", ROW_WISE_VARIANT, steps["bucketed"])):
        eps = float(np.median(column(lambda r: r["throughput"][name])))
        padded = 3 * (run_steps * per_step + dense)
        out.append(f"- {label}: {eps:.0f} examples/s (median); padded {padded:,.0f} FLOPs/example -> "
                   f"{padded * eps / 1e9:.2f} GFLOP/s ({padded * eps / peak:.1%} of peak); useful (real tokens) "
                   f"{useful:,.0f} FLOPs/example -> {useful * eps / 1e9:.2f} GFLOP/s ({useful * eps / peak:.1%} of peak)")
    out += [f"- peak: {peak_line} = {peak / 1e9:.1f} GFLOP/s FP32", "",
            "## 6. Scaling (default preset)", "",
            f"Slices of the first 1k and 5k headlines, one run each after the rounds; all headlines: the medians of "
            f"the {fixed} runs.", "",
            "| headlines | Transform s | training s (all epochs) | training s per 1k headlines | wall time s |",
            "| --- | --- | --- | --- | --- |"]
    for headlines, (transform, training, wall) in sorted(scaling.items()):
        out.append(f"| {headlines} | {transform:.1f} | {training:.1f} | {training / headlines * 1000:.2f} | {wall:.1f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
