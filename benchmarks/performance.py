"""Performance benchmark: what the pipeline costs beyond the model, each number against a baseline run here.

    scripts/run_benchmark.sh performance [--epochs 5] [--output-dir benchmarks/results]

1. Trainer throughput: training examples/s inside the TFX Trainer against a bare Keras loop over the same
   transformed examples with the same model and batch size (fastest epoch after the first: on this 2-core
   machine the epochs of one quiet process vary between 8 and 18 s, so medians of a few epochs are noise).
2. Pipeline overhead: per-component wall time from MLMD and the time outside model training, for Beam's
   DirectRunner as `--beam-mode auto` picks it for this dataset (in_memory) and in multi_processing mode,
   there with and without `--setup_file` (without it TFX packs its own installation in every Beam component).
3. Serving: p50/p99 latency at batch 1 and throughput at batches 64 and 256 for both signatures of the
   pushed SavedModel, against the Keras model called directly on token ids.
4. Efficiency: achieved FLOP/s of the training step against this machine's peak, arithmetic written out.
5. Scaling: Transform and training time at 1k, 5k and all headlines (`--beam-mode auto`).
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

from textrnn.models.config import ModelConfig
from textrnn.models.export import DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, OUTPUT_KEY
from textrnn.models.model import build_model
from textrnn.models.train import EpochTimer, HISTORY_FILE, KERAS_MODEL_FILE
from textrnn.pipeline import configs, run_record
from textrnn.preprocessing import features

DATASET = "Sarcasm_Headlines_Dataset.json"


# The pipeline runs of section 2: name -> (--beam-mode, environment overrides).
OVERHEAD_RUNS = {
    "auto (in_memory)": ("auto", {}),
    "multi_processing": ("multi_processing", {}),
    "multi_processing, TFX packs itself": ("multi_processing", {"TEXTRNN_BEAM_SETUP_FILE": ""}),
}


def run_pipeline(output_root, epochs, beam_mode, input_dir=None, env=None):
    """One `textrnn run` with a fixed number of epochs; returns its MLMD record and training history."""
    command = [os.path.join(os.path.dirname(sys.executable), "textrnn"), "run", "--output-root", output_root,
               "--epochs", str(epochs), "--early-stopping-patience", str(epochs + 1), "--eval-loss-bound", "10", "--eval-loss-tolerance", "10",
               "--beam-mode", beam_mode]
    if input_dir:
        command += ["--input-dir", input_dir]
    print("==", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    record = run_record.latest_run(configs.metadata_path(output_root))
    with open(os.path.join(record.output("Trainer", "model_run").uri, HISTORY_FILE)) as f:
        return record, json.load(f)


def steady_epoch_seconds(epoch_seconds):
    """The fastest epoch after the first (which traces the model): the cost without interference."""
    return min(epoch_seconds[1:] or epoch_seconds)


def split_records(examples_uri, split, spec=None):
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return dataset if spec is None else dataset.batch(4096).map(lambda b: tf.io.parse_example(b, spec))


def bare_keras_epoch_seconds(transformed_uri, config: ModelConfig, epochs):
    """The same model trained by plain Keras on the Transform's output: seconds of its fastest steady epoch."""
    spec = {features.TOKEN_IDS_KEY: tf.io.FixedLenFeature([config.max_length], tf.int64),
            features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    def load(split):
        batches = list(split_records(transformed_uri, split, spec))
        ids = np.concatenate([b[features.TOKEN_IDS_KEY].numpy() for b in batches])
        labels = np.concatenate([b[features.LABEL_KEY].numpy() for b in batches])
        return tf.data.Dataset.from_tensor_slices(({features.TOKEN_IDS_KEY: ids}, labels))
    train = load("train").shuffle(10_000).batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    validation = load("eval").batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    model = build_model(config)
    timer = EpochTimer()
    model.fit(train, validation_data=validation, epochs=epochs, callbacks=[timer], verbose=0)
    return steady_epoch_seconds(timer.seconds)


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
    results = {}
    for name, (call, prepare) in callers.items():
        single = time_calls(call, prepare(headlines[:1]), 300) * 1000
        row = {"p50_ms": float(np.percentile(single, 50)), "p99_ms": float(np.percentile(single, 99))}
        for batch in (64, 256):
            seconds = time_calls(call, prepare(headlines[:batch]), 30)
            row[f"batch{batch}_per_s"] = float(batch / np.median(seconds))
        results[name] = row
    return results


def training_flops_per_example(config: ModelConfig):
    """Multiply-adds counted as 2 FLOPs; backward pass taken as twice the forward pass."""
    steps = config.max_length  # the LSTMs run every step; the mask only carries state over padding
    lines, forward = [], 0
    inputs = config.embedding_dim
    for units in config.lstm_units:
        per_step = 2 * 4 * (inputs + units) * units  # four gates: W·x + U·h
        per_layer = 2 * steps * per_step  # two directions
        lines.append(f"BiLSTM({units}) on {inputs} inputs: 2 directions x {steps} steps x 2 x 4 x ({inputs}+{units}) x {units} = {per_layer:,}")
        forward += per_layer
        inputs = 2 * units
    dense = 2 * inputs * config.dense_units + 2 * config.dense_units
    lines.append(f"Dense({config.dense_units}) and output: 2 x {inputs} x {config.dense_units} + 2 x {config.dense_units} = {dense:,}")
    forward += dense
    lines.append(f"forward {forward:,} FLOPs per example; training (forward + backward = 3x forward) {3 * forward:,}")
    return 3 * forward, lines


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
    parser.add_argument("--epochs", type=int, default=5, help="epochs per training run (throughput: the fastest epoch after the first)")
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument("--work-dir", default="textrnn_output/benchmarks/performance")
    args = parser.parse_args(argv)
    from textrnn.pipeline import data

    work = os.path.abspath(args.work_dir)
    dataset_dir = data.ensure_dataset()
    config = ModelConfig(epochs=args.epochs, early_stopping_patience=args.epochs + 1)

    runs = {name: run_pipeline(os.path.join(work, f"full-{index}"), args.epochs, mode, env=env)
            for index, (name, (mode, env)) in enumerate(OVERHEAD_RUNS.items())}
    record, history = runs["auto (in_memory)"]
    train_examples = sum(1 for _ in split_records(record.output("JsonExampleGen", "examples").uri, "train"))

    trainer_eps = {name: train_examples / steady_epoch_seconds(run_history["epoch_seconds"])
                   for name, (_, run_history) in runs.items()}
    bare_eps = train_examples / bare_keras_epoch_seconds(record.output("Transform", "transformed_examples").uri,
                                                         config, args.epochs)

    overhead = {}
    for mode, (mode_record, mode_history) in runs.items():
        total = sum(mode_record.seconds.values())
        overhead[mode] = {"components": mode_record.seconds, "total": total,
                          "outside_training": total - sum(mode_history["epoch_seconds"])}

    headlines = [json.loads(line)["headline"] for line in open(os.path.join(dataset_dir, DATASET))][:256]
    pushed = record.output("Pusher", "pushed_model")
    serving = serving_numbers(run_record.custom_property(pushed, "pushed_destination"),
                              record.output("Trainer", "model_run").uri,
                              record.output("Transform", "transform_graph").uri, headlines)

    flops, flop_lines = training_flops_per_example(config)
    peak, peak_line = peak_flops()
    achieved = flops * trainer_eps["auto (in_memory)"]

    scaling = {}
    for count in (1000, 5000):
        folder = write_slice(count, os.path.join(work, f"slice-{count}", "input"), dataset_dir)
        scaling[count] = run_pipeline(os.path.join(work, f"slice-{count}", "run"), args.epochs, "auto", folder)
    scaling[26709] = runs["auto (in_memory)"]

    report = render(args, train_examples, trainer_eps, bare_eps, overhead, serving, flop_lines, flops, achieved,
                    peak, peak_line, scaling)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "performance.md"), "w") as f:
        f.write(report)
    print(report)
    return 0


def render(args, train_examples, trainer_eps, bare_eps, overhead, serving, flop_lines, flops, achieved, peak,
           peak_line, scaling):
    out = ["# Performance benchmark", "",
           f"Machine: {os.cpu_count()} cores; full dataset; default model; {args.epochs} epochs per run; "
           "`textrnn run` with its default `--beam-mode auto` unless a column says otherwise "
           "(fastest epoch after the first, for throughput). Ratios are against baselines measured in the same run.", "",
           "## 1. Trainer throughput", "",
           "| | training examples/s | ratio |", "| --- | --- | --- |",
           f"| bare Keras on the transformed examples (baseline) | {bare_eps:.0f} | 1.00 |"]
    out += [f"| TFX Trainer, {name} run | {eps:.0f} | {eps / bare_eps:.2f} |" for name, eps in trainer_eps.items()]
    out += ["",
           "## 2. Pipeline overhead (seconds, from MLMD)", "",
           "| component | " + " | ".join(overhead) + " |", "| --- |" + " --- |" * len(overhead)]
    for component in overhead["auto (in_memory)"]["components"]:
        out.append(f"| {component} | " + " | ".join(f"{o['components'].get(component, 0):.1f}" for o in overhead.values()) + " |")
    out.append("| total | " + " | ".join(f"{o['total']:.1f}" for o in overhead.values()) + " |")
    out.append("| outside model training | " + " | ".join(f"{o['outside_training']:.1f}" for o in overhead.values()) + " |")
    base = overhead["multi_processing, TFX packs itself"]["outside_training"]
    out += ["", "Outside training, against multi_processing with TFX packing itself: "
            + ", ".join(f"{name} {o['outside_training'] / base:.2f}" for name, o in overhead.items()) + ".", "",
            "## 3. Serving (pushed SavedModel, this process, CPU)", "",
            "| caller | p50 ms (batch 1) | p99 ms (batch 1) | headlines/s at 64 | headlines/s at 256 | batch-256 ratio to baseline |",
            "| --- | --- | --- | --- | --- | --- |"]
    baseline = serving["Keras model on token ids (baseline)"]["batch256_per_s"]
    for name, row in serving.items():
        out.append(f"| {name} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['batch64_per_s']:.0f} | "
                   f"{row['batch256_per_s']:.0f} | {row['batch256_per_s'] / baseline:.2f} |")
    out += ["", "## 4. Efficiency", ""] + [f"- {line}" for line in flop_lines] + [
        f"- achieved: {flops:,} FLOPs x {achieved / flops:.0f} examples/s (Trainer, auto run) = {achieved / 1e9:.2f} GFLOP/s",
        f"- peak: {peak_line} = {peak / 1e9:.1f} GFLOP/s FP32",
        f"- efficiency: {achieved / peak:.1%} of peak", "",
        "## 5. Scaling", "",
        "| headlines | Transform s | training s (all epochs) | training s per 1k headlines |", "| --- | --- | --- | --- |"]
    for count, (record, history) in sorted(scaling.items()):
        training = sum(history["epoch_seconds"])
        out.append(f"| {count} | {record.seconds['Transform']:.1f} | {training:.1f} | {training / count * 1000:.2f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
