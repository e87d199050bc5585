"""The gate on Kubeflow: LatestPushedModel picks the model now serving (the highest pushed version holding a
SavedModel, on any filesystem), BaselineEvaluator drops an empty baseline, RunVerdict names the run."""
import os

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts, standard_component_specs

from textrnn.components import baseline_evaluator, latest_pushed_model
from textrnn.components.run_record import run_name


def _version(base, name, saved_model=True):
    path = os.path.join(base, name)
    tf.io.gfile.makedirs(os.path.join(path, "variables"))
    if saved_model:
        with tf.io.gfile.GFile(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"pb")
    return path


@pytest.mark.parametrize("base", ["local", "ram"])
def test_latest_pushed_version_is_the_highest_that_holds_a_saved_model(base, tmp_path):
    base = str(tmp_path) if base == "local" else f"ram://serving-{os.getpid()}-{id(tmp_path)}"
    assert latest_pushed_model.latest_pushed_version(os.path.join(base, "none-yet")) is None
    _version(base, "1700000000")
    expected = _version(base, "1700000100")
    _version(base, "1700000200", saved_model=False)  # a push cut short, or a stray folder
    _version(base, ".tmp-1700000300-abc")  # an atomic push in progress
    _version(base, "notes")
    assert latest_pushed_model.latest_pushed_version(base) == expected


def _run_component(destination, output_uri):
    baseline = standard_artifacts.Model()
    baseline.uri = output_uri
    latest_pushed_model.LatestPushedModel.EXECUTOR_SPEC.executor_class().Do(
        {}, {"baseline": [baseline]}, {"push_destination": destination})
    return baseline


def test_component_copies_the_serving_model_or_marks_none(tmp_path):
    destination = str(tmp_path / "serving")
    first = _run_component(destination, str(tmp_path / "out1"))
    assert first.get_int_custom_property("found") == 0 and not latest_pushed_model.baseline_found(first)
    version = _version(destination, "1700000000")
    second = _run_component(destination, str(tmp_path / "out2"))
    assert latest_pushed_model.baseline_found(second)
    assert second.get_string_custom_property("pushed_destination") == version
    assert os.path.exists(tmp_path / "out2" / "Format-Serving" / "saved_model.pb")


def _as_kubeflow_passes_it(value):
    """A Model whose `found` property is as a Kubeflow task receives it: a struct {"__value__": number}."""
    model = standard_artifacts.Model()
    model.mlmd_artifact.custom_properties["found"].struct_value.update({"__value__": value})
    return model


def test_evaluator_drops_an_empty_baseline(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(baseline_evaluator.evaluator_executor.Executor, "Do",
                        lambda self, inputs, outputs, props: seen.update(inputs=inputs))
    empty, found = standard_artifacts.Model(), standard_artifacts.Model()
    empty.set_int_custom_property("found", 0)
    found.set_int_custom_property("found", 1)
    key = standard_component_specs.BASELINE_MODEL_KEY
    cases = [(empty, False), (found, True), (_as_kubeflow_passes_it(0), False), (_as_kubeflow_passes_it(1), True)]
    for baseline, kept in cases:
        baseline_evaluator.Executor().Do({"model": [standard_artifacts.Model()], key: [baseline]}, {}, {})
        assert (key in seen["inputs"]) == kept


def test_run_name_is_the_folder_above_the_task():
    assert run_name("gs://bucket/root/textrnn/textrnn-abc123/Evaluator/blessing") == "textrnn-abc123"
    assert run_name("/tmp/root/run-2/Evaluator/blessing/") == "run-2"
