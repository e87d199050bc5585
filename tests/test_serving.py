"""Serving without a pipeline run: atomic pushes, the blessing gate's metric and messages, `textrnn predict`'s
inputs and errors, TF Serving's REST decoding rules, and the Kubernetes manifests.

The pipeline's own pushed model is checked against these (REST, gRPC, edge inputs, predict, a second run that
is not blessed) in test_pipeline_e2e.py.
"""
import base64
import json
import os
import pathlib
import subprocess
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
import yaml

from textrnn.components import atomic_pusher
from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_artifacts, run_summary as summary
from textrnn.pipeline import options, serving_client

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> str:
    """A small real SavedModel (a variable, a signature, several files) to push."""
    module = tf.Module()
    module.weights = tf.Variable(tf.range(1000, dtype=tf.float32))
    module.double = tf.function(lambda x: {"y": 2.0 * x}, input_signature=[tf.TensorSpec([None], tf.float32)])
    path = str(tmp_path_factory.mktemp("model") / "Format-Serving")
    tf.saved_model.save(module, path, signatures={"serving_default": module.double})
    with open(os.path.join(path, "assets", "vocabulary.txt"), "w") as f:
        f.write("to\nthe\nof\n")
    return path


def _files(folder: str) -> set:
    return {os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names}


# --- atomic pushes ---------------------------------------------------------------------------------------------


def test_push_adds_a_complete_version_and_keeps_earlier_ones(saved_model, tmp_path):
    base = str(tmp_path / "serving")
    first = atomic_pusher.push_atomically(saved_model, base)
    second = atomic_pusher.push_atomically(saved_model, base)
    assert sorted(os.listdir(base)) == sorted([os.path.basename(first), os.path.basename(second)])
    assert int(os.path.basename(second)) > int(os.path.basename(first))  # same second: the version still grows
    assert _files(first) == _files(second) == _files(saved_model)
    assert tf.saved_model.load(second).signatures["serving_default"](tf.constant([1.5]))["y"].numpy() == [3.0]


def test_interrupted_push_leaves_no_visible_version(saved_model, tmp_path, monkeypatch):
    base = str(tmp_path / "serving")
    earlier = atomic_pusher.push_atomically(saved_model, base)
    copied = []

    def failing_copy(source, destination):  # the disk fills up after two files
        if len(copied) == 2:
            raise OSError(28, "No space left on device")
        atomic_pusher.shutil.copy2(source, destination)
        copied.append(destination)

    monkeypatch.setattr(atomic_pusher, "_copy_file", failing_copy)
    with pytest.raises(OSError, match="No space left"):
        atomic_pusher.push_atomically(saved_model, base)
    assert len(copied) == 2 and all(".tmp-" in path for path in copied)  # it did write part of a version
    assert os.listdir(base) == [os.path.basename(earlier)]  # and removed it; the earlier version is untouched
    assert _files(earlier) == _files(saved_model)
    assert output_layout.pushed_versions(base) == [int(os.path.basename(earlier))]


def test_killed_push_is_invisible_and_cleared_later(saved_model, tmp_path):
    """A push killed mid-copy cannot clean up: its hidden folder is no version, and a later push removes it."""
    base = tmp_path / "serving"
    leftover = base / ".tmp-1700000000-deadbeef"
    (leftover / "variables").mkdir(parents=True)
    (leftover / "variables" / "variables.index").write_bytes(b"partial")
    assert output_layout.pushed_versions(str(base)) == atomic_pusher.versions(str(base)) == []
    with pytest.raises(serving_client.PredictError, match="no model has been pushed"):
        serving_client.resolve_model_dir(str(tmp_path), "unused", model_dir=str(base))

    old = time.time() - atomic_pusher.STALE_TEMP_SECONDS - 60
    os.utime(leftover, (old, old))
    pushed = atomic_pusher.push_atomically(saved_model, str(base))
    assert os.listdir(base) == [os.path.basename(pushed)]


def test_a_watcher_never_sees_a_partial_version(saved_model, tmp_path, monkeypatch):
    base = str(tmp_path / "serving")
    os.makedirs(base)
    expected = _files(saved_model)
    slow_copy = atomic_pusher._copy_file

    def slowly(source, destination):
        time.sleep(0.05)
        slow_copy(source, destination)

    monkeypatch.setattr(atomic_pusher, "_copy_file", slowly)
    seen, partial, done = set(), [], threading.Event()

    def watch():
        while not done.is_set():
            for name in os.listdir(base):
                if name.isdigit():
                    seen.add(name)
                    if _files(os.path.join(base, name)) != expected:
                        partial.append(name)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        time.sleep(0.05)
        hidden_seen = False
        pusher = threading.Thread(target=atomic_pusher.push_atomically, args=(saved_model, base))
        pusher.start()
        while pusher.is_alive():
            hidden_seen |= any(name.startswith(".tmp-") for name in os.listdir(base))
            time.sleep(0.01)
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:  # let the watcher look at the finished version too
            time.sleep(0.01)
    finally:
        done.set()
        watcher.join()
    assert hidden_seen  # the copy did take a while, in a folder TF Serving ignores
    assert len(seen) == 1 and not partial


def test_pusher_executor_pushes_atomically_and_only_blessed_models(saved_model, tmp_path, monkeypatch):
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    model = standard_artifacts.Model()
    model.uri = os.path.dirname(saved_model)
    base = str(tmp_path / "serving")

    def push(blessed: int):
        blessing = standard_artifacts.ModelBlessing()
        blessing.uri = str(tmp_path / f"blessing{blessed}")
        blessing.set_int_custom_property("blessed", blessed)
        pushed = standard_artifacts.PushedModel()
        pushed.uri = str(tmp_path / f"pushed-{time.monotonic_ns()}")
        destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base))
        atomic_pusher.Executor().Do(
            {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
            {"push_destination": proto_utils.proto_to_json(destination)},
        )
        return pushed

    not_blessed = push(0)
    assert not_blessed.get_int_custom_property("pushed") == 0 and not os.path.exists(base)
    pushed = push(1)
    version = pushed.get_string_custom_property("pushed_version")
    assert pushed.get_string_custom_property("pushed_destination") == os.path.join(base, version)
    assert os.listdir(base) == [version] and _files(os.path.join(base, version)) == _files(saved_model)

    def failing_copy(source, destination):
        raise OSError("copy failed")

    monkeypatch.setattr(atomic_pusher, "_copy_file", failing_copy)
    with pytest.raises(OSError, match="copy failed"):
        push(1)
    assert os.listdir(base) == [version]


# --- the gate ---------------------------------------------------------------------------------------------------


def test_exact_binary_cross_entropy_merges_partial_sums_correctly():
    """TFMA 0.52's BinaryCrossEntropy counts the first partial sum twice when merging a list; ours does not."""
    from tensorflow_model_analysis.metrics import cross_entropy_metrics, metric_specs, metric_types

    from textrnn.pipeline.pipeline import eval_config

    config = eval_config(0.45, 0.01)
    (metric,) = [m for m in config.metrics_specs[0].metrics if m.class_name == "ExactBinaryCrossEntropy"]
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 2, 100).astype(float), rng.uniform(0, 1, 100)
    predictions[:2] = [1.0, 0.0]  # float32 sigmoids do reach 0 and 1
    clipped = np.clip(predictions, 1e-7, 1 - 1e-7)
    expected = -np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))

    def merged(instance):
        combiner = instance.computations(eval_config=config)[0].combiner
        accumulators = []
        for chunk in np.array_split(np.arange(100), 4):
            accumulator = combiner.create_accumulator()
            for i in chunk:
                inputs = metric_types.StandardMetricInputs(
                    label=np.array([labels[i]]), prediction=np.array([predictions[i]]), example_weight=np.array([1.0]))
                accumulator = combiner.add_input(accumulator, inputs)
            accumulators.append(accumulator)
        return next(iter(combiner.extract_output(combiner.merge_accumulators(accumulators)).values()))

    ours = metric_specs.metric_instance(metric)
    assert ours.name == "binary_crossentropy"
    assert merged(ours) == pytest.approx(expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert merged(cross_entropy_metrics.BinaryCrossEntropy()) != pytest.approx(expected)


def test_eval_config_gates_the_whole_split_on_both_thresholds():
    from textrnn.pipeline.pipeline import eval_config

    config = eval_config(0.4, 0.02)
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["headline_length_bucket"]]
    names = {m.class_name for m in config.metrics_specs[0].metrics}
    assert {"ExampleCount", "ExactBinaryCrossEntropy", "BinaryAccuracy", "AUC", "Precision", "Recall",
            "Calibration", "CalibrationPlot"} <= names
    (loss,) = [m for m in config.metrics_specs[0].metrics if m.class_name == "ExactBinaryCrossEntropy"]
    (per_slice,) = loss.per_slice_thresholds
    assert [list(s.feature_keys) for s in per_slice.slicing_specs] == [[]]  # the whole split only
    assert per_slice.threshold.value_threshold.upper_bound.value == 0.4
    assert per_slice.threshold.change_threshold.absolute.value == 0.02
    assert per_slice.threshold.change_threshold.direction == 1  # LOWER_IS_BETTER


def test_failed_thresholds_are_described_with_the_margin():
    from tensorflow_model_analysis.proto import validation_result_pb2

    result = validation_result_pb2.ValidationResult()
    failures = result.metric_validations_per_slice.add().failures
    bound = failures.add()
    bound.metric_key.name = "binary_crossentropy"
    bound.metric_value.double_value.value = 0.52
    bound.metric_threshold.value_threshold.upper_bound.value = 0.45
    change = failures.add()
    change.metric_key.name, change.metric_key.is_diff = "binary_crossentropy", True
    change.metric_value.double_value.value = 0.04
    change.metric_threshold.change_threshold.absolute.value = 0.01
    change.metric_threshold.change_threshold.direction = 1
    described = [run_artifacts._failure(f, {"binary_crossentropy": 0.52}) for f in failures]
    assert described[0]["message"] == "binary_crossentropy 0.5200 is above the bound 0.4500 by 0.0700"
    assert described[0]["by"] == pytest.approx(0.07)
    assert described[1]["message"] == (
        "binary_crossentropy 0.5200 is worse than the latest blessed model's 0.4800 by 0.0400, "
        "more than the tolerance 0.0100 by 0.0300")
    assert described[1]["baseline"] == pytest.approx(0.48) and described[1]["by"] == pytest.approx(0.03)
    text = summary.format_summary({"run_id": "r", "components": {}, "blessed": False, "pushed_to": None,
                                   "validation": {"ok": False, "failures": described}})
    assert "blessed: no, not blessed: binary_crossentropy 0.5200 is above the bound" in text
    assert "pushed to: nothing pushed" in text


# --- textrnn predict: inputs and errors ------------------------------------------------------------------------


def test_predict_reads_json_lines_csv_and_plain_text(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"headline": "one", "is_sarcastic": 1}\n\n"two"\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text('is_sarcastic,headline\n0,"three, with a comma"\n1,four\n', encoding="utf-8")
    (tmp_path / "c.csv").write_text("five\nsix\n", encoding="utf-8")
    (tmp_path / "d.txt").write_text("seven 😂\n\neight\n", encoding="utf-8")
    (tmp_path / "e").write_text('{"headline": "nine"}\n', encoding="utf-8")
    assert serving_client.read_headlines_to_score(str(tmp_path / "a.jsonl")) == ["one", "two"]
    assert serving_client.read_headlines_to_score(str(tmp_path / "b.csv")) == ["three, with a comma", "four"]
    assert serving_client.read_headlines_to_score(str(tmp_path / "c.csv")) == ["five", "six"]
    assert serving_client.read_headlines_to_score(str(tmp_path / "d.txt")) == ["seven 😂", "eight"]
    assert serving_client.read_headlines_to_score(str(tmp_path / "e")) == ["nine"]
    (tmp_path / "bad.jsonl").write_text('{"headline": "ok"}\n{"headline": \n', encoding="utf-8")
    with pytest.raises(serving_client.PredictError, match="bad.jsonl, line 2: not JSON"):
        serving_client.read_headlines_to_score(str(tmp_path / "bad.jsonl"))


def test_predict_refuses_an_empty_headline_naming_it_before_loading_a_model(tmp_path, capsys):
    from textrnn import cli

    no_model = tmp_path / "no_model"  # reaching the model would fail with "no model has been pushed"
    no_model.mkdir()
    (tmp_path / "a.jsonl").write_text('{"headline": "one"}\n\n{"headline": " "}\n', encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('"two"\n""\n', encoding="utf-8")
    (tmp_path / "c.csv").write_text("is_sarcastic,headline\n0,three\n1,\n", encoding="utf-8")
    (tmp_path / "d.csv").write_text("four\n\t\n", encoding="utf-8")
    refusals = {
        ("a headline", " \t"): "headline argument 2",
        ("",): "headline argument 1",
        ("--file", str(tmp_path / "a.jsonl")): f"{tmp_path / 'a.jsonl'}, line 3",
        ("--file", str(tmp_path / "b.jsonl")): f"{tmp_path / 'b.jsonl'}, line 2",
        ("--file", str(tmp_path / "c.csv")): f"{tmp_path / 'c.csv'}, line 3",
        ("--file", str(tmp_path / "d.csv")): f"{tmp_path / 'd.csv'}, line 2",
    }
    for arguments, where in refusals.items():
        assert cli.main(["predict", "--model-dir", str(no_model), *arguments]) == 1
        refusal = f"textrnn: error: {where}: the headline is empty; give text to score, or leave it out\n"
        assert capsys.readouterr().err == refusal


def test_predict_before_any_push_says_so(textrnn_bin, tmp_path):
    result = subprocess.run([textrnn_bin, "predict", "--output-root", str(tmp_path), "a headline"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    expected = f"textrnn: error: no model has been pushed to {output_layout.serving_model_dir(str(tmp_path))}"
    assert result.stderr.strip().startswith(expected), result.stderr
    assert "Traceback" not in result.stderr


# --- TF Serving's REST rules (the helper the end-to-end tests use) --------------------------------------------


@pytest.mark.parametrize("loader", ["session", "object"])
def test_rest_decoding_follows_tf_serving_rules(saved_model, tmp_path, loader):
    from tf_serving_protocol import LOADERS, RestError, decode_rest_request, rest_predict

    model = LOADERS[loader](saved_model)
    assert rest_predict(model, json.dumps({"instances": [1.0, 2.5]})) == {"predictions": [2.0, 5.0]}
    assert rest_predict(model, json.dumps({"inputs": [1.0]})) == {"outputs": [2.0]}
    (name,) = model.input_dtypes("serving_default")
    assert rest_predict(model, json.dumps({"instances": [{name: 3.0}]})) == {"predictions": [6.0]}
    with pytest.raises(RestError):
        decode_rest_request(json.dumps({"signature_name": "missing", "instances": [1.0]}), model)
    with pytest.raises(RestError):
        decode_rest_request(json.dumps({"instances": [1.0], "inputs": [1.0]}), model)

    # A one-input string signature: {"b64": ...} objects become their bytes, JSON strings their UTF-8 bytes.
    strings = tf.Module()
    strings.length = tf.function(lambda text: {"n": tf.strings.length(text)},
                                 input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    tf.saved_model.save(strings, str(tmp_path / "strings"), signatures={"s": strings.length})
    strings = LOADERS[loader](str(tmp_path / "strings"))
    body = json.dumps({"signature_name": "s", "instances": [{"b64": base64.b64encode(b"\xff\x00").decode()}, "é"]})
    _, inputs = decode_rest_request(body, strings)
    assert inputs["text"].tolist() == [b"\xff\x00", "é".encode()]
    assert rest_predict(strings, body) == {"predictions": [2, 2]}


# --- Kubernetes manifests ---------------------------------------------------------------------------------------


def test_serving_manifests_run_tf_serving_on_the_push_destination():
    folder = REPO / "kubeflow" / "serving"
    documents = [d for path in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]
    by_kind = {d["kind"]: d for d in documents}
    assert {"Deployment", "Service", "PersistentVolumeClaim"} <= set(by_kind)

    deployment = by_kind["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (container,) = pod["containers"]
    image, tag = container["image"].rsplit(":", 1)
    assert image == "tensorflow/serving" and tag[0].isdigit()  # a pinned release, not latest
    args = dict(arg.lstrip("-").split("=", 1) for arg in container["args"])
    assert args["model_name"] == contract.DEFAULT_PIPELINE_NAME
    assert args["port"] == "8500" and args["rest_api_port"] == "8501"
    assert {p["containerPort"] for p in container["ports"]} == {8500, 8501}

    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] != "/tmp"]  # /tmp: scratch, root is read-only
    assert mount["readOnly"] is True
    assert args["model_base_path"] == output_layout.serving_model_dir(mount["mountPath"], contract.DEFAULT_PIPELINE_NAME)
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] == by_kind["PersistentVolumeClaim"]["metadata"]["name"]

    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == f"/v1/models/{contract.DEFAULT_PIPELINE_NAME}" and probe["port"] == 8501

    service = by_kind["Service"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert sorted((p["port"], named_ports.get(p["targetPort"], p["targetPort"])) for p in service["spec"]["ports"]) == [
        (8500, 8500), (8501, 8501)]
