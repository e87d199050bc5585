"""Proves, before the Pusher, that the trained model serves: TFX's InfraValidator, without a model server.

InfraValidator starts TF Serving in Docker or in a Kubernetes pod, which neither a local run nor a Kubeflow task
can do. ServingCheck runs the model server's part itself, in a fresh child process (components/serving_probe.py)
with a time limit and a memory limit, and emits the same `InfraBlessing` artifact, so that the Pusher's
`infra_blessing` input gates the push as in any TFX pipeline. It refuses the model when:

- it does not load under TF Serving's session loader, or its warm-up requests fail;
- a fixed canary (the first CANARY_SIZE headlines of the eval split) scored through each scoring signature
  differs from the Trainer's Keras model (`model.keras` on the Transform's output) by more than 1e-5;
- its signature interface (names, inputs, their dtypes and shapes, output keys) differs from that of the version
  now being served, unless the run allows it (`allow_signature_change`); the difference is named;
- it is over a budget. The budgets that matter compare it with the version now being served, measured side by
  side in the same child process: batch-1 p50 and p99 latency and headlines per second at batch 64 from
  requests interleaved one by one (candidate, served, served, candidate, ...) over several rounds, so that a slow
  or busy machine slows both alike and the ratios keep their meaning on any machine; and its own peak memory
  against the served version's, each loaded alone in a process. Absolute budgets (load time with warm-up,
  latency, throughput, peak memory) catch what is pathological on any machine, and protect the machine. The
  first push of a push destination has nothing to compare with: the model must load, warm up and answer, and
  its figures are recorded.

The figures and reasons are the artifact's custom properties and its `serving_check.json`; the child's log is
`serving_check.log` beside it.

Example:

>>> from tfx import v1 as tfx
>>> from textrnn.components.serving_check import ServingCheck
>>> channel = lambda t: tfx.dsl.Channel(type=getattr(tfx.types.standard_artifacts, t))
>>> check = ServingCheck(model=channel("Model"), model_run=channel("ModelRun"),
...                      transform_graph=channel("TransformGraph"), examples=channel("Examples"),
...                      serving_model_dir="/srv/models/textrnn", budgets='{"max_p50_ratio": 1.5}')
>>> check.id, list(check.outputs)
('ServingCheck', ['blessing'])
"""
import base64
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from textrnn.contract import DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, KERAS_MODEL_FILE, OUTPUT_KEY

InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
Parameter = tfx.dsl.components.Parameter

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serving_probe.py")
RESULT_FILE = "serving_check.json"
LOG_FILE = "serving_check.log"
CANARY_SIZE = 64
CANARY_TOLERANCE = 1e-5
# The side-by-side measurement: ROUNDS rounds, each of LATENCY_REQUESTS batch-1 requests per model and batch-64
# requests for THROUGHPUT_SECONDS; the rounds' ratios give the spread (benchmarks/results/serving-ratios.md).
ROUNDS = 5
LATENCY_REQUESTS = 200
THROUGHPUT_BATCH = 64
THROUGHPUT_SECONDS = 0.4
# The child is killed when its resident memory passes this multiple of the memory budget (it is refused for
# passing the budget itself; the limit protects the machine from a model that keeps growing).
MEMORY_LIMIT_FACTOR = 2.0


@dataclasses.dataclass(frozen=True)
class ServingBudgets:
    """What a model may cost under TF Serving, as ServingCheck measures it (None: not checked): ratios to the
    version being served (`*_ratio`), and absolute figures.

    Example:

    >>> from textrnn.components.serving_check import ServingBudgets
    >>> ServingBudgets(max_p50_ratio=1.5).exceeded({"ratios": {"p50": {"ratio": 4.0, "low": 3.5, "high": 4.4}},
    ...                                             "p50_ms": 4.0, "served": {"p50_ms": 1.0}})
    ["p50 latency at batch 1 is 4.00x the served version's (3.50-4.40x over its rounds; 4.00 ms against
    1.00 ms), above the budget 1.5x"]
    """

    max_p50_ratio: Optional[float] = None
    max_p99_ratio: Optional[float] = None
    min_throughput_ratio: Optional[float] = None
    max_memory_ratio: Optional[float] = None
    max_load_seconds: Optional[float] = None
    max_p50_ms: Optional[float] = None
    max_p99_ms: Optional[float] = None
    min_headlines_per_second: Optional[float] = None
    max_memory_mb: Optional[float] = None

    def exceeded(self, figures: Dict[str, float]) -> List[str]:
        """One sentence per budget the figures break (`figures`: check_model's report)."""
        reasons = []
        ratios, served = figures.get("ratios", {}), figures.get("served", {})
        for ratio_name, (budget_name, figure_name, text, unit, digits, direction) in RATIO_BUDGETS.items():
            budget, ratio = getattr(self, budget_name), ratios.get(ratio_name)
            if budget is None or ratio is None or (ratio["ratio"] - budget) * direction <= 0:
                continue
            spread = f"{ratio['low']:.2f}-{ratio['high']:.2f}x over its rounds; " if "low" in ratio else ""
            reasons.append(f"{text} is {ratio['ratio']:.2f}x the served version's ({spread}"
                           f"{figures[figure_name]:.{digits}f} {unit} against "
                           f"{served[figure_name]:.{digits}f} {unit}), "
                           f"{'above' if direction > 0 else 'below'} the budget {budget:g}x")
        checks = (
            ("max_load_seconds", "load_total_seconds", "load time with warm-up {:.2f} s is above the budget {:g} s", 1),
            ("max_p50_ms", "p50_ms", "p50 latency at batch 1 {:.1f} ms is above the budget {:g} ms", 1),
            ("max_p99_ms", "p99_ms", "p99 latency at batch 1 {:.1f} ms is above the budget {:g} ms", 1),
            ("min_headlines_per_second", "headlines_per_second",
             f"throughput at batch {THROUGHPUT_BATCH} {{:.0f}} headlines/s is below the budget {{:g}}", -1),
            ("max_memory_mb", "peak_memory_mb", "peak memory {:.0f} MB is above the budget {:g} MB", 1),
        )
        for budget_name, figure_name, sentence, direction in checks:
            budget, value = getattr(self, budget_name), figures.get(figure_name)
            if budget is not None and value is not None and (value - budget) * direction > 0:
                reasons.append(sentence.format(value, budget))
        return reasons


# Each ratio to the served version: its budget, the figure it divides, how it reads, its unit and digits, and
# whether it may not be above (1) or below (-1) the budget.
RATIO_BUDGETS = {
    "p50": ("max_p50_ratio", "p50_ms", "p50 latency at batch 1", "ms", 2, 1),
    "p99": ("max_p99_ratio", "p99_ms", "p99 latency at batch 1", "ms", 2, 1),
    "throughput": ("min_throughput_ratio", "headlines_per_second", f"throughput at batch {THROUGHPUT_BATCH}",
                   "headlines/s", 0, -1),
    "memory": ("max_memory_ratio", "peak_memory_mb", "peak memory", "MB", 0, 1),
}


def ratios_to_served(report: dict, rounds: List[dict]) -> Dict[str, dict]:
    """Each ratio of the candidate's figure to the served version's (`report` and `report["served"]`): the pooled
    figures' ratio, and for the timed ones the lowest and highest of the rounds' own ratios.

    Example:

    >>> from textrnn.components.serving_check import ratios_to_served
    >>> report = {"p50_ms": 2.0, "p99_ms": 3.0, "headlines_per_second": 500.0, "peak_memory_mb": 800.0,
    ...           "served": {"p50_ms": 1.0, "p99_ms": 2.0, "headlines_per_second": 1000.0, "peak_memory_mb": 800.0}}
    >>> rounds = [{"p50": 1.9, "p99": 1.2, "throughput": 0.45}, {"p50": 2.1, "p99": 1.8, "throughput": 0.55}]
    >>> ratios_to_served(report, rounds)["p50"], ratios_to_served(report, rounds)["memory"]
    ({'ratio': 2.0, 'low': 1.9, 'high': 2.1}, {'ratio': 1.0})
    """
    served, ratios = report["served"], {}
    for name, (_, figure, *_rest) in RATIO_BUDGETS.items():
        if figure not in report or not served.get(figure):
            continue
        ratios[name] = {"ratio": report[figure] / served[figure]}
        per_round = [r[name] for r in rounds if name in r]
        if per_round:
            ratios[name].update(low=min(per_round), high=max(per_round))
    return ratios


# --- the signature interface ------------------------------------------------------------------------------------


def signature_interface(saved_model_dir: str) -> Dict[str, dict]:
    """What clients of a SavedModel depend on, read from its saved_model.pb: each serving signature's inputs and
    outputs with dtype and shape (-1: any size; None: unknown rank)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    meta_graph = next(m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags)

    def tensors(infos):
        return {name: {"dtype": tf.as_dtype(info.dtype).name,
                       "shape": None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]}
                for name, info in sorted(infos.items())}

    return {name: {"inputs": tensors(signature.inputs), "outputs": tensors(signature.outputs)}
            for name, signature in sorted(meta_graph.signature_def.items()) if not name.startswith("__")}


def interface_differences(served: Dict[str, dict], candidate: Dict[str, dict]) -> List[str]:
    """Each difference between two signature interfaces as a sentence (none: the same interface).

    Example:

    >>> from textrnn.components.serving_check import interface_differences
    >>> string = {"dtype": "string", "shape": [-1]}
    >>> served = {"headlines": {"inputs": {"headline": string}, "outputs": {"probability": {"dtype": "float32", "shape": [-1]}}}}
    >>> candidate = {"headlines": {"inputs": {"text": string}, "outputs": {"probability": {"dtype": "float32", "shape": [-1]}}}}
    >>> interface_differences(served, candidate)
    ["signature 'headlines': input 'headline' is gone", "signature 'headlines': input 'text' is new"]
    """
    differences = []
    for name in sorted(set(served) | set(candidate)):
        if name not in candidate:
            differences.append(f"signature {name!r} is gone")
            continue
        if name not in served:
            differences.append(f"signature {name!r} is new")
            continue
        for side, kind in (("inputs", "input"), ("outputs", "output")):
            old, new = served[name][side], candidate[name][side]
            for key in sorted(set(old) | set(new)):
                if key not in new:
                    differences.append(f"signature {name!r}: {kind} {key!r} is gone")
                elif key not in old:
                    differences.append(f"signature {name!r}: {kind} {key!r} is new")
                elif old[key] != new[key]:
                    differences.append(f"signature {name!r}: {kind} {key!r} was {old[key]['dtype']} "
                                       f"{old[key]['shape']}, is {new[key]['dtype']} {new[key]['shape']}")
    return differences


def served_version(serving_model_dir: str) -> Optional[str]:
    """The newest version under the push destination (what TF Serving serves; a local path, gs://, ...), or None."""
    from textrnn.components.latest_pushed_model import latest_pushed_version

    return latest_pushed_version(serving_model_dir)


# --- the canary and the Trainer's model --------------------------------------------------------------------------


def canary_headlines(examples_uri: str, count: int = CANARY_SIZE) -> List[bytes]:
    """The first `count` headlines of the eval split, in file order: the same canary for the same data."""
    import tensorflow as tf

    from textrnn.components.run_artifacts import load_split
    from textrnn.preprocessing import features

    spec = {features.TEXT_KEY: tf.io.FixedLenFeature([], tf.string)}
    return [tf.io.parse_single_example(record, spec)[features.TEXT_KEY].numpy()
            for record in load_split(examples_uri, "eval").take(count)]


def keras_probabilities(model_run_uri: str, transform_graph_uri: str, headlines: List[bytes]):
    """The Trainer's Keras model (`model.keras`) on the Transform's output for `headlines`: what serving must
    reproduce."""
    import keras
    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft

    import textrnn.models.ensemble  # noqa: F401  (registers the Keras classes model.keras names)
    import textrnn.models.model  # noqa: F401
    from textrnn.preprocessing import features

    model = keras.saving.load_model(os.path.join(model_run_uri, KERAS_MODEL_FILE), compile=False)
    transformed = tft.TFTransformOutput(transform_graph_uri).transform_raw_features(
        {features.TEXT_KEY: tf.constant([[h] for h in headlines])}, drop_unused_features=True)
    inputs = {key: transformed[key] for key in (features.TOKEN_IDS_KEY, features.CHAR_IDS_KEY) if key in transformed}
    return np.reshape(model(inputs, training=False).numpy(), [-1])


# --- the child process ---------------------------------------------------------------------------------------


def _resident_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def probe_request(model_dir: str, headlines: List[bytes], served_model_dir: Optional[str] = None,
                  rounds: int = ROUNDS, latency_requests: int = LATENCY_REQUESTS,
                  throughput_batch: int = THROUGHPUT_BATCH, throughput_seconds: float = THROUGHPUT_SECONDS,
                  memory_only: bool = False) -> dict:
    """What serving_probe.py is asked to do with the model at `model_dir`: score `headlines` through both scoring
    signatures (as tf.Examples and as strings), then measure `serving_default`, side by side with the version at
    `served_model_dir` when there is one (`memory_only`: load, warm up and score only, for the peak memory)."""
    from textrnn.models.export import serialized_example

    as_text = lambda values: [base64.b64encode(v).decode() for v in values]  # noqa: E731
    return {
        "model_dir": model_dir,
        "served_model_dir": served_model_dir,
        "canary": {DEFAULT_SIGNATURE: as_text([serialized_example(h) for h in headlines]),
                   HEADLINES_SIGNATURE: as_text(headlines)},
        "latency_signature": DEFAULT_SIGNATURE,
        "rounds": rounds,
        "latency_requests": latency_requests,
        "throughput_batch": throughput_batch,
        "throughput_seconds": throughput_seconds,
        "memory_only": memory_only,
    }


def run_probe(request: dict, folder: str, timeout_seconds: float, memory_limit_mb: Optional[float],
              python: str = sys.executable) -> dict:
    """Runs serving_probe.py on `request` in a fresh process of `python` (this one's by default; the tests also
    use the serving runtime's), killed past `timeout_seconds` or past `memory_limit_mb` of resident memory;
    returns its result, or {"error": ...} saying why there is none."""
    request_path, result_path = os.path.join(folder, "request.json"), os.path.join(folder, "result.json")
    with open(request_path, "w") as f:
        json.dump(request, f)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
    with open(os.path.join(folder, LOG_FILE), "w") as log:
        child = subprocess.Popen([python, PROBE, request_path, result_path], stdout=log,
                                 stderr=subprocess.STDOUT, env=environment)
        started, killed, peak = time.monotonic(), None, 0.0
        while child.poll() is None:
            peak = max(peak, _resident_mb(child.pid))
            if time.monotonic() - started > timeout_seconds:
                killed = f"it ran past its time limit of {timeout_seconds:g} s"
            elif memory_limit_mb and peak > memory_limit_mb:
                killed = f"its memory passed the limit of {memory_limit_mb:.0f} MB"
            if killed:
                child.kill()
                child.wait()
                break
            time.sleep(0.05)
    if killed:
        return {"error": f"the serving process was killed: {killed}", "peak_memory_mb": peak}
    if not os.path.exists(result_path):
        with open(os.path.join(folder, LOG_FILE)) as f:
            tail = f.read()[-2000:]
        return {"error": f"the serving process exited with status {child.returncode} and no result: {tail}"}
    with open(result_path) as f:
        return json.load(f)


def check_model(model_uri: str, model_run_uri: str, transform_graph_uri: str, examples_uri: str,
                serving_model_dir: str, budgets: ServingBudgets, allow_signature_change: bool,
                timeout_seconds: float, folder: str) -> dict:
    """Every check of the module docstring on one trained model; the figures, `ok` and `reasons`."""
    import numpy as np
    from tfx.utils import path_utils

    started = time.monotonic()
    model_dir = path_utils.serving_model_path(model_uri)
    headlines = canary_headlines(examples_uri)
    served_dir = served_version(serving_model_dir)
    memory_limit = budgets.max_memory_mb * MEMORY_LIMIT_FACTOR if budgets.max_memory_mb else None
    result = run_probe(probe_request(model_dir, headlines, served_dir), folder, timeout_seconds, memory_limit)
    figures = ("tensorflow", "load_seconds", "warmup_seconds", "warmup_requests", "p50_ms", "p99_ms",
               "headlines_per_second", "peak_memory_mb", "process_peak_memory_mb")
    report = {key: result[key] for key in figures if key in result}
    _add_load_total(report)
    report.update(model=model_dir, canary_size=len(headlines), budgets=dataclasses.asdict(budgets),
                  served_version=served_dir, rounds=ROUNDS)
    reasons = []
    if "error" in result:
        step = f" ({result['step']})" if result.get("step") else ""
        reasons.append(f"the model does not serve{step}: {result['error']}")
    elif served_dir:
        report["served"], report["ratios"] = measure_served(result, served_dir, headlines,
                                                            timeout_seconds, memory_limit, folder)
        if report["served"].get("error"):
            report["served_error"] = report["served"].pop("error")
        for name, ratio in report["ratios"].items():  # what each ratio is held to, for the summary and the page
            budget_name, direction = RATIO_BUDGETS[name][0], RATIO_BUDGETS[name][-1]
            ratio.update(budget=getattr(budgets, budget_name), bound="max" if direction > 0 else "min")

    canary = result.get("canary", {})
    if canary:
        expected = keras_probabilities(model_run_uri, transform_graph_uri, headlines)
        differences = {}
        for signature, outputs in canary.items():
            if OUTPUT_KEY not in outputs:
                reasons.append(f"signature {signature!r} has no output {OUTPUT_KEY!r} (outputs: {', '.join(outputs)})")
                continue
            served = np.reshape(np.asarray(outputs[OUTPUT_KEY], dtype=np.float64), [-1])
            same_shape = served.shape == expected.shape
            differences[signature] = float(np.max(np.abs(served - expected))) if same_shape else None
            if differences[signature] is None:
                reasons.append(f"signature {signature!r} answered {served.size} probabilities for "
                               f"{expected.size} canary headlines")
            elif differences[signature] > CANARY_TOLERANCE:
                reasons.append(f"signature {signature!r} differs from the Trainer's Keras model by up to "
                               f"{differences[signature]:.2e} on the canary (tolerance {CANARY_TOLERANCE:g})")
        report["canary_max_difference"] = differences

    if served_dir and fileio.exists(os.path.join(model_dir, "saved_model.pb")):
        try:
            changes = interface_differences(signature_interface(served_dir), signature_interface(model_dir))
        except Exception as error:  # a candidate (or a served version) whose saved_model.pb does not parse
            changes = None
            reasons.append(f"its signatures cannot be compared with the served version's: "
                           f"{type(error).__name__}: {error}")
        report["signature_changes"] = changes
        if changes and not allow_signature_change:
            reasons.append(f"its signatures differ from the served version {os.path.basename(served_dir)}: "
                           f"{'; '.join(changes)} (set allow_signature_change if this is intended)")
    reasons += budgets.exceeded(report)
    report["ok"], report["reasons"] = not reasons, reasons
    report["check_seconds"] = time.monotonic() - started
    return report


def _add_load_total(figures: dict) -> None:
    if "load_seconds" in figures and "warmup_seconds" in figures:
        figures["load_total_seconds"] = figures["load_seconds"] + figures["warmup_seconds"]


def measure_served(result: dict, served_dir: str, headlines: List[bytes], timeout_seconds: float,
                   memory_limit: Optional[float], folder: str):
    """The served version's figures beside the candidate's (`result`, whose child measured both side by side),
    its peak memory from a child that loads it alone as the candidate's did, and the ratios; the figures say
    `error` when the served version could not be measured (the ratios are then not checked)."""
    served = dict(result.get("served", {}))
    if "error" not in served:
        alone_folder = os.path.join(folder, "served")
        os.makedirs(alone_folder, exist_ok=True)
        alone = run_probe(probe_request(served_dir, headlines, memory_only=True), alone_folder, timeout_seconds,
                          memory_limit)
        if "error" in alone:
            served["error"] = alone["error"]
        else:
            served["peak_memory_mb"] = alone["peak_memory_mb"]
    _add_load_total(served)
    served.pop("step", None)
    if "error" in served:
        return served, {}
    return served, ratios_to_served({**result, "served": served}, result.get("rounds", []))


@tfx.dsl.components.component
def ServingCheck(
    model: InputArtifact[standard_artifacts.Model],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    examples: InputArtifact[standard_artifacts.Examples],
    blessing: OutputArtifact[standard_artifacts.InfraBlessing],
    serving_model_dir: Parameter[str],
    budgets: Parameter[str] = "{}",
    allow_signature_change: Parameter[int] = 0,
    timeout_seconds: Parameter[int] = 300,
):
    """Checks that `model` serves as the module docstring says; marks `blessing` blessed (1) or not (0)."""
    from absl import logging

    folder = blessing.uri  # a local path, or gs:// and the like on a cluster: written through TFX's fileio
    fileio.makedirs(folder)
    with tempfile.TemporaryDirectory() as scratch:  # the child's files, on local disk
        report = check_model(model.uri, model_run.uri, transform_graph.uri, examples.uri, serving_model_dir,
                             ServingBudgets(**json.loads(budgets)), bool(allow_signature_change),
                             timeout_seconds, scratch)
        if os.path.exists(os.path.join(scratch, LOG_FILE)):
            fileio.copy(os.path.join(scratch, LOG_FILE), os.path.join(folder, LOG_FILE), overwrite=True)
    with fileio.open(os.path.join(folder, RESULT_FILE), "w") as f:
        f.write(json.dumps(report, indent=1))
    # As TFX's InfraValidator marks it: the Pusher reads `blessed`; a marker file for people and other tools.
    io_utils.write_string_file(os.path.join(folder, "INFRA_BLESSED" if report["ok"] else "INFRA_NOT_BLESSED"), "")
    blessing.set_int_custom_property("blessed", int(report["ok"]))
    blessing.set_int_custom_property("current_model_id", model.id)  # as the Evaluator's ModelBlessing names it
    for key in ("load_total_seconds", "p50_ms", "p99_ms", "headlines_per_second", "peak_memory_mb", "check_seconds"):
        if key in report:
            blessing.set_float_custom_property(key, float(report[key]))
    for name, ratio in report.get("ratios", {}).items():
        blessing.set_float_custom_property(f"{name}_ratio", float(ratio["ratio"]))
    blessing.set_string_custom_property("reasons", "; ".join(report["reasons"]))
    logging.info("serving check: %s", "passed" if report["ok"] else "refused: " + "; ".join(report["reasons"]))
