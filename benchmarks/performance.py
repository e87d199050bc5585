"""Performance benchmark: what the pipeline costs, each number against a baseline measured in the same run.

    scripts/run_benchmark.sh performance [--epochs 3] [--output-dir benchmarks/results]

1. Against the notebook: `textrnn run` (the `default` preset, a fresh output root, the same epochs with early
   stopping off) against `benchmarks/notebook.py`, the plain Keras script a reader of the book would copy (load,
   vectorise, train, evaluate, export), each timed as a whole process, one after the other.
2. Trainer throughput: training examples/s (epochs after the first, validation included) of the TFX Trainer with
   full-width batches as before length bucketing, with bucketed batches, and with the default schedule (bucketed,
   four validations per epoch), against the notebook's plain Keras epochs.
3. Where the seconds outside training go: process start, each component (the Trainer without its epochs), the
   gaps between components, and the summary, for the run of section 1.
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
9. Row-wise embedding updates: `--row-wise REPEATS` runs the Trainer with Adam on the whole embedding table and
   with row-wise updates, interleaved, and reports each pairing's ratio (median, min, max).
"""
import argparse
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

from textrnn.models.batching import bucketed_batches, token_lengths
from textrnn.models.config import ModelConfig
from textrnn.models.export import DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, OUTPUT_KEY, serialized_example
from textrnn.models.train import HISTORY_FILE, KERAS_MODEL_FILE
from textrnn import contract
from textrnn.components import output_layout, run_record
from textrnn.pipeline import options
from textrnn.preprocessing import features

DATASET = "Sarcasm_Headlines_Dataset.json"

# The Trainer settings of section 2: name -> `textrnn run` flags. They run in this order on one output root: the
# first (the default) on a fresh root, as the notebook has no cache either, the others reusing its data nodes.
DEFAULT_VARIANT = "bucketed batches, 4 validations per epoch (the default)"
FULL_WIDTH_VARIANT = "full-width batches (before bucketing), 1 validation per epoch"
TRAINER_VARIANTS = {
    DEFAULT_VARIANT: [],
    FULL_WIDTH_VARIANT: ["--bucket-window", "0", "--validations-per-epoch", "1"],
    "bucketed batches, 1 validation per epoch": ["--validations-per-epoch", "1"],
}


def run_pipeline(output_root, epochs, flags=(), input_dir=None):
    """One `textrnn run` that trains exactly `epochs` epochs; returns its MLMD record, training history, and the
    process's start time and wall time."""
    command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run", "--output-root", output_root,
               "--epochs", str(epochs), "--early-stopping-patience", "1000", "--eval-loss-bound", "10",
               "--eval-loss-tolerance", "10", *flags]
    if input_dir:
        command += ["--input-dir", input_dir]
    print("==", " ".join(command), file=sys.stderr, flush=True)
    start = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - start
    record = run_record.latest_run(output_layout.metadata_path(output_root))
    with open(os.path.join(record.output("Trainer", "model_run").uri, HISTORY_FILE)) as f:
        return record, json.load(f), start, wall


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
           "TF Serving's session loader, warm-up replay, batch-1 latency over "
           f"{serving_check.LATENCY_REQUESTS} requests, throughput at batch {serving_check.THROUGHPUT_BATCH}), "
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


ROW_WISE_SECTION = "## 9. Row-wise embedding updates: Trainer throughput, interleaved"
ROW_WISE_VARIANTS = (("Adam on the whole table (the default)", []),
                     ("row-wise embedding updates", ["--row-wise-embedding-updates"]))


def row_wise_comparison(work: str, epochs: int, repeats: int, conditions: str = "") -> str:
    """Section 9: the `default` Trainer's steady training examples/s with Adam on the whole embedding table (A)
    and with row-wise updates (B), run A, B, A, B, ... `repeats` times each on one output root (the data
    components cached after a first, unmeasured run); each B against the A just before it, median, min and max
    of those ratios, and the useful FLOP/s of each (as section 5 counts them) against this machine's peak."""
    config = ModelConfig()
    root = os.path.join(work, f"row-wise-{time.time_ns()}")
    run_pipeline(root, 1, ["--seed", "0"])  # fills the cache: the measured runs differ only from the Trainer on
    measured = {label: [] for label, _ in ROW_WISE_VARIANTS}
    train_ids = None
    for _ in range(repeats):
        for label, flags in ROW_WISE_VARIANTS:
            record, history, _, _ = run_pipeline(root, epochs, ["--seed", "0", *flags])
            if train_ids is None:
                train_ids = split_ids(record.output("Transform", "transformed_examples").uri, "train",
                                      config.tokenizer.max_length)
            measured[label].append(steady_examples_per_second(history, len(train_ids)))
    (base_label, _), (row_label, _) = ROW_WISE_VARIANTS
    ratios = [b / a for a, b in zip(measured[base_label], measured[row_label])]
    steps = steps_per_example(train_ids, config)
    per_step, dense, _ = lstm_flops_per_step(config)
    useful = 3 * (steps["real tokens"] * per_step + dense)
    peak, peak_line = peak_flops()
    out = [ROW_WISE_SECTION, "",
           f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores: `textrnn run --epochs {epochs}` "
           f"(early stopping off, seed 0) with each variant, interleaved A, B, A, B, ... ({repeats} each) on one "
           "output root; training examples per second over the epochs after the first, validation included"
           + (f"; {conditions}" if conditions else "") + ".", "",
           "| variant | examples/s, each run in order | median | useful FLOP/s (median), share of peak |",
           "| --- | --- | --- | --- |"]
    for label, _ in ROW_WISE_VARIANTS:
        values = measured[label]
        median = float(np.median(values))
        out.append(f"| {label} | {', '.join(f'{v:.0f}' for v in values)} | {median:.0f} | "
                   f"{useful * median / 1e9:.2f} GFLOP/s, {useful * median / peak:.1%} |")
    out += ["", f"Row-wise against the whole table, each B over the A run just before it: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}; median {np.median(ratios):.2f}, min (the worst pairing) "
            f"{min(ratios):.2f}, max {max(ratios):.2f}. Useful FLOPs per example {useful:,.0f} (section 5); peak "
            f"{peak_line} = {peak / 1e9:.1f} GFLOP/s."]
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every training run (throughput: the epochs after the first)")
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument("--work-dir", default="textrnn_output/benchmarks/performance")
    parser.add_argument("--serving-cost", nargs="+", metavar="LABEL=FOLDER",
                        help="only measure section 7 on these pushed version folders (the first, e.g. "
                             "default=textrnn_output/serving_model/textrnn/1796047488, is the baseline) and rewrite "
                             "it in the report")
    parser.add_argument("--serving-check", nargs="+", metavar="SUMMARY",
                        help="only measure section 8 on the pushed models of these runs (their summary-*.json) and "
                             "rewrite it in the report")
    parser.add_argument("--row-wise", type=int, metavar="REPEATS",
                        help="only measure section 9 (row-wise embedding updates against Adam on the whole table, "
                             "REPEATS runs of each, interleaved) and rewrite it in the report")
    parser.add_argument("--conditions", default="", help="what else ran on the machine meanwhile (sections 7-9)")
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
    elif args.row_wise:
        heading, section = ROW_WISE_SECTION, row_wise_comparison(
            os.path.abspath(args.work_dir), args.epochs, args.row_wise, args.conditions)
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
    config = ModelConfig()

    notebook = run_notebook(os.path.join(dataset_dir, DATASET), os.path.join(work, f"notebook-{time.time_ns()}"),
                            args.epochs)
    root = os.path.join(work, f"full-{time.time_ns()}")
    variants = {name: run_pipeline(root, args.epochs, flags) for name, flags in TRAINER_VARIANTS.items()}
    record, history, start, wall = variants[DEFAULT_VARIANT]
    transformed = record.output("Transform", "transformed_examples").uri
    train_ids = split_ids(transformed, "train", config.tokenizer.max_length)

    throughput = {name: steady_examples_per_second(run[1], len(train_ids)) for name, run in variants.items()}
    notebook_eps = steady_examples_per_second({"epoch_seconds": notebook["epoch_seconds"]}, notebook["train_examples"])
    overhead = outside_training(record, history, start, wall)

    headlines = [json.loads(line)["headline"] for line in open(os.path.join(dataset_dir, DATASET))][:256]
    pushed = record.output("Pusher", "pushed_model")
    serving = serving_numbers(run_record.custom_property(pushed, "pushed_destination"),
                              record.output("Trainer", "model_run").uri,
                              record.output("Transform", "transform_graph").uri, headlines)

    steps = steps_per_example(train_ids, config)
    peak, peak_line = peak_flops()

    scaling = {}
    for count in (1000, 5000):
        folder = write_slice(count, os.path.join(work, f"slice-{count}", "input"), dataset_dir)
        scaling[count] = run_pipeline(os.path.join(work, f"slice-{count}", f"run-{time.time_ns()}"), args.epochs,
                                      input_dir=folder)
    scaling[sum(1 for _ in open(os.path.join(dataset_dir, DATASET)))] = variants[DEFAULT_VARIANT]

    report = render(args, config, notebook, notebook_eps, wall, throughput, overhead, serving, steps, peak,
                    peak_line, scaling)
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "performance.md")
    earlier = open(path).read() if os.path.exists(path) else ""
    for heading in (ENSEMBLE_SECTION, SERVING_CHECK_SECTION, ROW_WISE_SECTION):  # measured on their own: kept
        if heading in earlier:
            kept = earlier.split(heading, 1)[1].split("\n## ", 1)[0]
            report = replace_section(report, heading, heading + kept)
    with open(path, "w") as f:
        f.write(report)
    print(report)
    return 0


def outside_training(record, history, start, wall):
    """Seconds of the run outside model training: before the first component, each component (the Trainer
    without its epochs), between components, and after the last one."""
    training = sum(history["epoch_seconds"])
    first = min(record.started.values())
    last = max(record.started[node] + record.seconds[node] for node in record.seconds)
    parts = {"process start (imports, data check, pipeline compile)": first - start}
    for node, seconds in record.seconds.items():
        parts[node + (" (without training)" if node == "Trainer" else "")] = seconds - (training if node == "Trainer" else 0)
    parts["between components (TFX launcher)"] = (last - first) - sum(record.seconds.values())
    parts["after the last component (summary: test accuracy, demo)"] = start + wall - last
    return {"parts": parts, "training": training, "total": wall - training}


def render(args, config, notebook, notebook_eps, wall, throughput, overhead, serving, steps, peak, peak_line,
           scaling):
    ratio = wall / notebook["process_seconds"]
    out = ["# Performance benchmark", "",
           f"Machine: {os.cpu_count()} cores; full dataset (26,709 headlines); `default` preset; {args.epochs} epochs "
           "in every training run, early stopping off; measured one after the other in one run of "
           f"`scripts/run_benchmark.sh performance` ({time.strftime('%Y-%m-%d %H:%M')}). Ratios are against "
           "baselines measured in the same run.", "",
           "## 1. Against the notebook (whole process, wall time)", "",
           "| | wall time | ratio | training | test accuracy |", "| --- | --- | --- | --- | --- |",
           f"| `benchmarks/notebook.py` (plain Keras: load, vectorise, train, evaluate, export; baseline) | "
           f"{notebook['process_seconds']:.1f} s | 1.00 | {sum(notebook['epoch_seconds']):.1f} s | "
           f"{notebook['test_accuracy']:.4f} |",
           f"| `textrnn run` (whole pipeline, fresh output root) | {wall:.1f} s | **{ratio:.2f}** | "
           f"{overhead['training']:.1f} s | |", "",
           "The notebook's steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in notebook["steps"].items()) + ".", "",
           "## 2. Trainer throughput", "",
           "| | training examples/s | ratio |", "| --- | --- | --- |",
           f"| notebook, plain Keras, full-width batches (baseline) | {notebook_eps:.0f} | 1.00 |"]
    out += [f"| TFX Trainer, {name} | {eps:.0f} | {eps / notebook_eps:.2f} |" for name, eps in throughput.items()]
    before = throughput[FULL_WIDTH_VARIANT]
    out += ["", "Against the Trainer's full-width batches: " + ", ".join(
        f"{name} {eps / before:.2f}" for name, eps in throughput.items()) + ".", "",
            "## 3. Outside training (the run of section 1)", "",
            "| part | seconds |", "| --- | --- |"]
    out += [f"| {part} | {seconds:.1f} |" for part, seconds in overhead["parts"].items()]
    out += [f"| **total outside training** | **{overhead['total']:.1f}** |",
            f"| training (the epochs, validation included) | {overhead['training']:.1f} |", "",
            "## 4. Serving (pushed SavedModel, this process, CPU)", "",
            "| caller | p50 ms (batch 1) | p99 ms (batch 1) | headlines/s at 64 | headlines/s at 256 | batch-256 ratio to baseline |",
            "| --- | --- | --- | --- | --- | --- |"]
    baseline = serving["Keras model on token ids (baseline)"]["batch256_per_s"]
    for name, row in serving.items():
        out.append(f"| {name} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['batch64_per_s']:.0f} | "
                   f"{row['batch256_per_s']:.0f} | {row['batch256_per_s'] / baseline:.2f} |")
    per_step, dense, lines = lstm_flops_per_step(config)
    out += ["", "## 5. Efficiency", ""] + [f"- {line}" for line in lines]
    out.append("- LSTM steps per training example (train split): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    out.append("- training FLOPs per example = 3 x (forward: steps x per-step + dense head), backward taken as twice "
               "the forward pass")
    bucketed_eps = throughput[DEFAULT_VARIANT]
    for label, eps, run_steps in (("full-width Trainer", before, steps["full width"]),
                                  ("bucketed Trainer (default)", bucketed_eps, steps["bucketed"])):
        padded = 3 * (run_steps * per_step + dense)
        useful = 3 * (steps["real tokens"] * per_step + dense)
        out.append(f"- {label}: {eps:.0f} examples/s; padded {padded:,.0f} FLOPs/example -> "
                   f"{padded * eps / 1e9:.2f} GFLOP/s ({padded * eps / peak:.1%} of peak); useful (real tokens) "
                   f"{useful:,.0f} FLOPs/example -> {useful * eps / 1e9:.2f} GFLOP/s ({useful * eps / peak:.1%} of peak)")
    out += [f"- peak: {peak_line} = {peak / 1e9:.1f} GFLOP/s FP32", "",
            "## 6. Scaling (default preset)", "",
            "| headlines | Transform s | training s (all epochs) | training s per 1k headlines | wall time s |",
            "| --- | --- | --- | --- | --- |"]
    for count, (record, history, _, run_wall) in sorted(scaling.items()):
        training = sum(history["epoch_seconds"])
        out.append(f"| {count} | {record.seconds['Transform']:.1f} | {training:.1f} | {training / count * 1000:.2f} | {run_wall:.1f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
