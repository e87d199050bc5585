"""Loads a SavedModel as TF Serving does and measures it; run as a program in a fresh process by ServingCheck.

TF Serving's SavedModelBundle imports the MetaGraph into a graph-mode session, runs the saver's restore op and
the init op, replays the version's warm-up requests (`assets.extra/tf_serving_warmup_requests`), and then
answers each request by feeding and fetching the SignatureDef's tensors by name. `SessionBundle` does the same
with `tf.compat.v1.saved_model.loader`. The model server links core TensorFlow only, so this file imports
nothing but TensorFlow, numpy and TF Serving's request protos (no textrnn, no tf.Transform, whose import would
register ops the server does not have), and it runs unchanged under the serving image's own TensorFlow.

    python serving_probe.py REQUEST.json RESULT.json

REQUEST.json: {"model_dir", "canary": {signature: [base64 input, ...]}, "latency_signature",
"latency_requests", "throughput_batch", "throughput_seconds"}. RESULT.json: the canary's outputs, the timings
and the process's peak memory; with "error" and "step" when a step failed.
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


def probe(request: dict, result: dict) -> None:
    """Loads, warms up, scores the canary and measures, into `result` (JSON-ready); `result["step"]` names the
    step under way, which stays there when one fails."""
    import numpy as np
    import tensorflow as tf

    result["tensorflow"] = tf.__version__
    result["step"] = "load"
    started = time.perf_counter()
    bundle = SessionBundle(request["model_dir"])
    result["load_seconds"] = time.perf_counter() - started

    result["step"] = "warm-up"
    started = time.perf_counter()
    result["warmup_requests"] = replay_warmup(bundle)
    result["warmup_seconds"] = time.perf_counter() - started

    result["step"] = "canary"
    canary, batches = {}, {}
    for signature, values in request["canary"].items():
        if signature not in bundle.signature_defs:
            raise KeyError(f"the model has no signature {signature!r} (it has {', '.join(bundle.signature_names())})")
        batch = np.array([base64.b64decode(v) for v in values], dtype=object)
        batches[signature] = (_single_input(bundle, signature), batch)
        outputs = bundle.run(signature, {batches[signature][0]: batch})
        canary[signature] = {name: np.asarray(value).tolist() for name, value in outputs.items()
                             if np.asarray(value).dtype != object}
    result["canary"] = canary

    result["step"] = "latency"
    name, batch = batches[request["latency_signature"]]
    for index in range(5):  # not measured: the first calls of each batch shape allocate
        bundle.run(request["latency_signature"], {name: batch[index % len(batch):][:1]})
    seconds = []
    for index in range(request["latency_requests"]):
        one = batch[index % len(batch):][:1]
        started = time.perf_counter()
        bundle.run(request["latency_signature"], {name: one})
        seconds.append(time.perf_counter() - started)
    result["p50_ms"] = float(np.percentile(seconds, 50) * 1000)
    result["p99_ms"] = float(np.percentile(seconds, 99) * 1000)

    result["step"] = "throughput"
    size = request["throughput_batch"]
    full = np.resize(batch, size)  # the canary repeated to the batch size
    bundle.run(request["latency_signature"], {name: full})
    count, started = 0, time.perf_counter()
    while count < 3 or time.perf_counter() - started < request["throughput_seconds"]:
        bundle.run(request["latency_signature"], {name: full})
        count += 1
    result["headlines_per_second"] = count * size / (time.perf_counter() - started)
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
    result["peak_memory_mb"] = peak_memory_mb()
    with open(result_path, "w") as f:
        json.dump(result, f)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
