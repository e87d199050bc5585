"""Loads a SavedModel as TF Serving does and measures it; run as a program in a fresh process by ServingCheck.

TF Serving's SavedModelBundle imports the MetaGraph into a graph-mode session, runs the saver's restore op and
the init op, replays the version's warm-up requests (`assets.extra/tf_serving_warmup_requests`), and then
answers each request by feeding and fetching the SignatureDef's tensors by name. `SessionBundle` does the same
with `tf.compat.v1.saved_model.loader`. The model server links core TensorFlow only, so this file imports
nothing but TensorFlow, numpy and TF Serving's request protos (no textrnn, no tf.Transform, whose import would
register ops the server does not have), and it runs unchanged under the serving image's own TensorFlow.

    python serving_probe.py REQUEST.json RESULT.json

REQUEST.json: {"model_dir", "canary": {signature: [base64 input, ...]}, "latency_signature", "served_model_dir"
(optional), "rounds", "latency_requests", "throughput_batch", "throughput_seconds", "memory_only" (optional)}.
RESULT.json: the canary's outputs, the timings, the model's peak memory before the served version joined it,
"served" (the served version's figures) and "rounds" (each round's ratios), and the process's peak memory; with
"error" and "step" when a step failed.
"""
import base64
import json
import os
import resource
import sys
import time
import traceback
from typing import Dict, List

SERVE_TAG = "serve"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


class SessionBundle:
    """A SavedModel loaded into a TF1 graph-mode session, the way TF Serving loads a version.

    Example (with a SavedModel at `path`):

        bundle = SessionBundle(path)
        bundle.run("headlines", {"headline": np.array([b"area man wins"], dtype=object)})["probability"]
    """

    def __init__(self, path: str):
        import tensorflow as tf

        self.path = path
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        meta_graph = tf.compat.v1.saved_model.loader.load(self.session, [SERVE_TAG], path)
        # TF Serving serves the SignatureDefs, less the init op's (not a signature one can call).
        self.signature_defs = {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}

    def signature_names(self) -> List[str]:
        return sorted(self.signature_defs)

    def input_names(self, signature_name: str) -> List[str]:
        return sorted(self.signature_defs[signature_name].inputs)

    def input_dtypes(self, signature_name: str) -> Dict[str, "tf.DType"]:
        import tensorflow as tf

        return {name: tf.as_dtype(info.dtype) for name, info in self.signature_defs[signature_name].inputs.items()}

    def run(self, signature_name: str, inputs: Dict[str, "np.ndarray"]) -> Dict[str, "np.ndarray"]:
        """Feeds `inputs` to the SignatureDef's input tensors and fetches its output tensors, by name."""
        signature = self.signature_defs[signature_name]
        unknown = sorted(set(inputs) - set(signature.inputs))
        if unknown:  # TF Serving answers such a request with INVALID_ARGUMENT
            raise KeyError(f"signature {signature_name!r} has no input {', '.join(unknown)} "
                           f"(its inputs: {', '.join(sorted(signature.inputs))})")
        feeds = {signature.inputs[name].name: value for name, value in inputs.items()}
        fetches = {name: info.name for name, info in signature.outputs.items()}
        return self.session.run(fetches, feeds)


def replay_warmup(bundle: SessionBundle) -> int:
    """Runs every PredictRequest of the version's warm-up file, as TF Serving does before serving it; returns how
    many there were (a version without the file has none)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(bundle.path, WARMUP_FILE)
    if not os.path.exists(path):
        return 0
    count = 0
    for record in tf.compat.v1.io.tf_record_iterator(path):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"warm-up record {count} is a {log.WhichOneof('log_type')}; only predict_log is "
                             "replayed here")
        request = log.predict_log.request
        signature = request.model_spec.signature_name or "serving_default"
        if signature not in bundle.signature_defs:
            raise KeyError(f"warm-up record {count} calls signature {signature!r}, which the model does not have")
        bundle.run(signature, {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()})
        count += 1
    return count


def _single_input(bundle: SessionBundle, signature: str) -> str:
    names = list(bundle.signature_defs[signature].inputs)
    if len(names) != 1:
        raise ValueError(f"signature {signature!r} takes {len(names)} inputs ({', '.join(names)}); the canary "
                         "feeds signatures of one string input")
    return names[0]


def _load(path: str, into: dict) -> SessionBundle:
    """Loads and warms up the version at `path` as TF Serving does, timing both into `into`."""
    into["step"] = "load"
    started = time.perf_counter()
    bundle = SessionBundle(path)
    into["load_seconds"] = time.perf_counter() - started
    into["step"] = "warm-up"
    started = time.perf_counter()
    into["warmup_requests"] = replay_warmup(bundle)
    into["warmup_seconds"] = time.perf_counter() - started
    return bundle


def _percentile_ms(seconds: List[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(seconds, q) * 1000)


def measure(models: list, latency_batches: list, throughput_batches: list, rounds: int, latency_requests: int,
            throughput_seconds: float) -> dict:
    """Times `models` ((bundle, signature, input name) each: one model, or the candidate and the served version)
    side by side. Each round sends `latency_requests` batch-1 requests (from `latency_batches`) to each model in
    turns (A B, B A, A B, ...), then full batches (`throughput_batches`) in turns until `throughput_seconds` have
    passed (3 each at least), so that whatever else the machine does falls on both alike. Returns each model's
    figures over all rounds and, for two models, each round's ratios (the first model's over the second's)."""
    import numpy as np

    call = [lambda batch, m=m: m[0].run(m[1], {m[2]: batch}) for m in models]
    for run, batch, full in zip(call, latency_batches, throughput_batches):
        for index in range(5):  # not measured: the first calls of each batch shape allocate
            run(batch[index % len(batch):][:1])
        run(full)
    latency = [[] for _ in models]
    busy = [[] for _ in models]
    counted = [0 for _ in models]
    ratios = []
    for _ in range(rounds):
        latency_round = [[] for _ in models]
        for index in range(latency_requests):
            order = range(len(models)) if index % 2 == 0 else reversed(range(len(models)))
            for which in order:
                one = latency_batches[which][index % len(latency_batches[which]):][:1]
                started = time.perf_counter()
                call[which](one)
                latency_round[which].append(time.perf_counter() - started)
        busy_round, pairs, round_started = [0.0 for _ in models], 0, time.perf_counter()
        while pairs < 3 or time.perf_counter() - round_started < throughput_seconds:
            order = range(len(models)) if pairs % 2 == 0 else reversed(range(len(models)))
            for which in order:
                started = time.perf_counter()
                call[which](throughput_batches[which])
                busy_round[which] += time.perf_counter() - started
            pairs += 1
        for which in range(len(models)):
            latency[which] += latency_round[which]
            busy[which].append(busy_round[which])
            counted[which] += pairs * len(throughput_batches[which])
        if len(models) == 2:
            ratios.append({"p50": _percentile_ms(latency_round[0], 50) / _percentile_ms(latency_round[1], 50),
                           "p99": _percentile_ms(latency_round[0], 99) / _percentile_ms(latency_round[1], 99),
                           # the same count of headlines each: the rate's ratio is that of the times, inverted
                           "throughput": busy_round[1] / busy_round[0]})
    figures = [{"p50_ms": _percentile_ms(latency[w], 50), "p99_ms": _percentile_ms(latency[w], 99),
                "headlines_per_second": counted[w] / float(np.sum(busy[w]))} for w in range(len(models))]
    return {"figures": figures, "rounds": ratios}


def probe(request: dict, result: dict) -> None:
    """Loads, warms up and scores the canary through the model at `model_dir`, notes its peak memory, then (unless
    `memory_only`) loads the served version at `served_model_dir` too, if any, and measures both side by side
    (`measure`), into `result` (JSON-ready); `result["step"]` names the step under way, which stays there when
    one fails. A `memory_only` probe skips canary signatures the model does not have (a served version may
    predate them)."""
    import numpy as np
    import tensorflow as tf

    result["tensorflow"] = tf.__version__
    bundle = _load(request["model_dir"], result)

    result["step"] = "canary"
    canary, batches = {}, {}
    for signature, values in request["canary"].items():
        if signature not in bundle.signature_defs:
            if request.get("memory_only"):
                continue
            raise KeyError(f"the model has no signature {signature!r} (it has {', '.join(bundle.signature_names())})")
        batch = np.array([base64.b64decode(v) for v in values], dtype=object)
        batches[signature] = (_single_input(bundle, signature), batch)
        outputs = bundle.run(signature, {batches[signature][0]: batch})
        canary[signature] = {name: np.asarray(value).tolist() for name, value in outputs.items()
                             if np.asarray(value).dtype != object}
    result["canary"] = canary
    # The model's own serving footprint: before a second model shares the process.
    result["peak_memory_mb"] = peak_memory_mb()
    if request.get("memory_only"):
        result.pop("step")
        return

    signature = request["latency_signature"]
    models, latency_batches = [(bundle, signature, batches[signature][0])], [batches[signature][1]]
    if request.get("served_model_dir"):
        served = result["served"] = {}
        try:
            served_bundle = _load(request["served_model_dir"], served)
            served["step"] = "canary"
            served_input = _single_input(served_bundle, signature)
            served_bundle.run(signature, {served_input: batches[signature][1]})
            served.pop("step")
            models.append((served_bundle, signature, served_input))
            latency_batches.append(batches[signature][1])
        except Exception as error:  # the candidate is still measured, alone; the parent says why
            served["error"] = f"{type(error).__name__}: {error}".strip()

    result["step"] = "measure"
    size = request["throughput_batch"]
    measured = measure(models, latency_batches, [np.resize(b, size) for b in latency_batches],  # canary repeated
                       request["rounds"], request["latency_requests"], request["throughput_seconds"])
    result.update(measured["figures"][0])
    if len(models) == 2:
        result["served"].update(measured["figures"][1])
        result["rounds"] = measured["rounds"]
    result.pop("step")


def peak_memory_mb() -> float:
    """This program's peak resident memory: VmHWM, the high-water mark of its own address space. Not ru_maxrss,
    which Linux carries over from the parent across fork and exec (a pipeline process of gigabytes)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # elsewhere than Linux: KiB on Linux only


def main(argv: List[str]) -> int:
    request_path, result_path = argv[1], argv[2]
    with open(request_path) as f:
        request = json.load(f)
    result = {}
    try:
        probe(request, result)
        status = 0
    except Exception as error:  # reported to the parent, which names the step and refuses the model
        result.update(error=f"{type(error).__name__}: {error}".strip(), traceback=traceback.format_exc()[-4000:])
        status = 1
    result["process_peak_memory_mb"] = peak_memory_mb()
    result.setdefault("peak_memory_mb", result["process_peak_memory_mb"])  # a probe that failed before its canary
    with open(result_path, "w") as f:
        json.dump(result, f)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
