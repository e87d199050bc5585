"""The serving runtime's TensorFlow, the release the manifests' TF Serving image is built from, is pinned in
requirements-serving.lock and installed by scripts/run_tests.sh into a virtualenv of its own, named in
TEXTRNN_SERVING_PYTHON; the tests of the serving runtime load the pushed models with that TensorFlow, so the lock
and the image tag in kubeflow/serving/deployment.yaml must stay equal.
"""
import json
import os
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf
import yaml

from textrnn.components import serving_check
from textrnn.components.serving_probe import SessionBundle
from textrnn.contract import DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, OUTPUT_KEY
from textrnn.models.export import serialized_example
from textrnn.pipeline.local_runner import run_local
from textrnn.pipeline.options import resolve_options

REPO = pathlib.Path(__file__).resolve().parents[1]
DEPLOYMENT = REPO / "kubeflow" / "serving" / "deployment.yaml"
SERVING_IN = REPO / "requirements-serving.in"
SERVING_LOCK = REPO / "requirements-serving.lock"
PACKAGES = ("tensorflow", "tensorflow-serving-api")


def manifests_tf_serving_release():
    """The tag of the tensorflow/serving image in the deployment, without a variant suffix (2.20.0-gpu: 2.20.0)."""
    pod = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    images = [c["image"] for c in pod["containers"] if c["image"].startswith("tensorflow/serving:")]
    assert len(images) == 1, f"expected one tensorflow/serving container in {DEPLOYMENT.name}, found {images}"
    return images[0].split(":", 1)[1].split("-", 1)[0]


def pins(path):
    """{package: version} of the `name==version` lines of a requirements file (a .lock's hashes follow on `\\`)."""
    return {name.lower(): version
            for name, version in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", path.read_text(), re.M)}


def test_the_serving_lock_is_the_manifests_tf_serving_release():
    release = manifests_tf_serving_release()
    # A model that loads with this TensorFlow but not in the deployed server (or the reverse) would go unnoticed.
    wrong = {path.name: {p: pins(path).get(p) for p in PACKAGES} for path in (SERVING_IN, SERVING_LOCK)}
    wrong = {name: pinned for name, pinned in wrong.items() if set(pinned.values()) != {release}}
    assert not wrong, (
        f"{DEPLOYMENT.relative_to(REPO)} deploys tensorflow/serving:{release}, but {wrong}: change the image tag "
        "and requirements-serving.in together, then rerun scripts/lock.sh")


# --- the pushed models under the serving runtime's TensorFlow -----------------------------------------------------

# distilled comes after best: its signatures are then checked against an ensemble's served version.
SERVED_PRESETS = ("default", "glove-6b-50d", "best", "distilled")
# One epoch on the slice, and a gate every such model passes: what matters here is what was pushed.
SETTINGS = {"epochs": 1, "seed": 0, "eval_loss_bound": 5.0, "eval_loss_tolerance": 5.0}
EDGE_HEADLINES = [b"", "日本語のニュース 😂".encode(), b"a " * 60]


@pytest.fixture(scope="module")
def serving_python() -> str:
    python = os.environ.get("TEXTRNN_SERVING_PYTHON")
    if not python:
        pytest.fail("TEXTRNN_SERVING_PYTHON is not set: run the suite with scripts/run_tests.sh, which installs "
                    "requirements-serving.lock into a virtualenv of its own")
    return python


@pytest.fixture(scope="module")
def pushed(headlines_1500, tmp_path_factory) -> dict:
    """The summary of each preset's run, trained on the slice in one output root (the data nodes run once)."""
    root = tmp_path_factory.mktemp("served_presets")
    summaries = {}
    for preset in SERVED_PRESETS:
        options = resolve_options({**SETTINGS, "preset": preset, "input_dir": str(headlines_1500),
                                   "output_root": str(root)}, environ={})
        result = run_local(options, progress=False)
        assert result.exit_code == 0 and result.summary["pushed_to"], result.text
        summaries[preset] = result.summary
    return summaries


@pytest.mark.slow
def test_the_distilled_preset_pushes_one_model_with_the_ensembles_signatures(pushed):
    """Its Trainer trains best's ensemble, then one BiLSTM(64) on the ensemble's probabilities, and exports
    that one; the serving check (signatures against the served version, best's ensemble) and the Evaluator
    blessed it."""
    summary = pushed["distilled"]
    with open(summary["training"]["history"]) as f:
        history = json.load(f)
    teacher = history["teacher"]["members"]
    # The training split (about 80 % of the 1,500 headlines) and 2 altered copies of each headline.
    assert len(teacher) == 5 and history["training_examples"] % 3 == 0
    assert 1100 < history["training_examples"] // 3 < 1300
    run_dir = os.path.dirname(summary["training"]["history"])
    assert {f"member-{i}" for i in range(5)} <= set(os.listdir(os.path.join(run_dir, "teacher")))
    assert os.path.exists(os.path.join(run_dir, "teacher", "loss.png"))
    served = {preset: tf.saved_model.load(pushed[preset]["pushed_to"]) for preset in ("best", "distilled")}
    recurrent_kernels = {preset: [tuple(v.shape) for v in model.signatures[DEFAULT_SIGNATURE].variables
                                  if "recurrent_kernel" in v.name] for preset, model in served.items()}
    assert recurrent_kernels == {"best": [(128, 512)] * 10, "distilled": [(64, 256)] * 2}  # per direction
    for name in (DEFAULT_SIGNATURE, HEADLINES_SIGNATURE):
        shapes = {preset: (model.signatures[name].structured_input_signature,
                           model.signatures[name].structured_outputs) for preset, model in served.items()}
        assert repr(shapes["distilled"]) == repr(shapes["best"])
    assert summary["serving_check"]["ok"] and summary["blessed"]
    teacher_epochs = summary["training"]["teacher"]["epochs"]  # each model's: the one epoch allowed (or a few
    assert len(teacher_epochs) == 5 and all(1.0 <= e < 1.2 for e in teacher_epochs)  # batches on)
    with open(summary["report"]) as f:
        assert "a teacher, an ensemble of 5 models (" in f.read()


@pytest.mark.slow
@pytest.mark.parametrize("preset", SERVED_PRESETS)
def test_pushed_models_give_the_same_probabilities_under_the_serving_release(pushed, preset, serving_python,
                                                                           headlines_1500, tmp_path):
    """The serving check's own probe (TF Serving's session loader, warm-up replay, both scoring signatures) run
    by the serving runtime's Python, against the session loader of the training runtime in this process."""
    records = [json.loads(line) for line in (headlines_1500 / "headlines.json").read_text().splitlines()[-64:]]
    headlines = [r["headline"].encode() for r in records] + EDGE_HEADLINES
    inputs = {DEFAULT_SIGNATURE: [serialized_example(h) for h in headlines], HEADLINES_SIGNATURE: headlines}
    request = serving_check.probe_request(pushed[preset]["pushed_to"], headlines, rounds=1, latency_requests=10,
                                          throughput_batch=8, throughput_seconds=0.1)
    served = serving_check.run_probe(request, str(tmp_path), timeout_seconds=300, memory_limit_mb=None,
                                     python=serving_python)
    assert "error" not in served, served.get("traceback", served)
    assert served["tensorflow"] == manifests_tf_serving_release()
    assert served["warmup_requests"] == 2
    training = SessionBundle(pushed[preset]["pushed_to"])
    for name, values in inputs.items():
        expected = training.run(name, {training.input_names(name)[0]: np.array(values, dtype=object)})[OUTPUT_KEY]
        np.testing.assert_allclose(served["canary"][name][OUTPUT_KEY], expected, rtol=0, atol=1e-5,
                                   err_msg=f"{preset} {name}: TensorFlow {served['tensorflow']} against {tf.__version__}")
    print(f"{preset}: TensorFlow {served['tensorflow']} (serving) and {tf.__version__} (training) agree within 1e-5 "
          f"on {len(headlines)} headlines; load {served['load_seconds']:.2f} s")
