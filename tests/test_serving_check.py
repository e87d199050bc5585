"""The serving check (components/serving_check.py): its child process and limits, and, through the real pipeline
on a slice of the real data, each way a model is refused before the Pusher.

The pipeline tests share one output root and push destination: a first run pushes a version, then each faulty
run (a model TF Serving's loader cannot load, a renamed serving input, a latency budget the model cannot meet, a
memory budget under what a TensorFlow process needs) exits 3 with its reason, pushes nothing and leaves that
version as it was; last, the renamed input is pushed when the run allows the signature change.
"""
import json
import os

import pytest

from textrnn.components import output_layout, serving_check
from textrnn.contract import NOT_BLESSED_EXIT_CODE
from textrnn.pipeline import local_runner, pipeline as pipeline_module
from textrnn.pipeline.options import resolve_options

# One epoch on the slice; a gate every such model passes, so that the serving check alone decides.
SETTINGS = {"epochs": 1, "vocab_size": 3000, "eval_loss_bound": 5.0, "eval_loss_tolerance": 5.0}
# The Trainer's model artifact of the first run, the one version pushed until the last test.
FIRST_MODEL = []


# --- the graph ---------------------------------------------------------------------------------------------------


def test_the_check_runs_after_the_evaluator_and_gates_the_pusher():
    from textrnn.pipeline.pipeline import Placement, create_pipeline

    options = resolve_options({"preset": "best", "serving_max_p99_ms": 80}, environ={})
    nodes = {c.id: c for c in create_pipeline(options, Placement("/r", "/d", "/srv/models/textrnn")).components}
    check, pusher = nodes["ServingCheck"], nodes["Pusher"]
    assert pusher.inputs["infra_blessing"].producer_component_id == "ServingCheck"
    assert pusher.inputs["model_blessing"].producer_component_id == "Evaluator"
    assert "Evaluator" in {node.id for node in check.upstream_nodes}
    assert check.exec_properties["serving_model_dir"] == "/srv/models/textrnn"
    budgets = json.loads(check.exec_properties["budgets"])
    assert budgets == options.serving_budgets() and budgets["max_p99_ms"] == 80
    assert check.exec_properties["allow_signature_change"] == 0


# --- the child process ---------------------------------------------------------------------------------------


def test_a_model_folder_without_a_model_is_refused_at_its_load_step(tmp_path):
    request = {"model_dir": str(tmp_path / "missing"), "canary": {}, "latency_signature": "serving_default",
               "latency_requests": 1, "throughput_batch": 1, "throughput_seconds": 0.1}
    result = serving_check.run_probe(request, str(tmp_path), timeout_seconds=120, memory_limit_mb=None)
    assert result["step"] == "load" and "SavedModel file does not exist" in result["error"], result
    assert result["peak_memory_mb"] > 0


@pytest.mark.parametrize("limits, reason", [
    ({"timeout_seconds": 0.5, "memory_limit_mb": None}, "it ran past its time limit of 0.5 s"),
    ({"timeout_seconds": 120, "memory_limit_mb": 50}, "its memory passed the limit of 50 MB"),
])
def test_the_child_is_killed_at_its_limits(tmp_path, limits, reason):
    request = {"model_dir": str(tmp_path), "canary": {}, "latency_signature": "serving_default",
               "latency_requests": 1, "throughput_batch": 1, "throughput_seconds": 0.1}
    result = serving_check.run_probe(request, str(tmp_path), **limits)
    assert result["error"] == f"the serving process was killed: {reason}"


# --- through the pipeline ------------------------------------------------------------------------------------


def _versions(root) -> list:
    return output_layout.pushed_versions(output_layout.serving_model_dir(str(root), "textrnn"))


def _run(root, input_dir, monkeypatch=None, run_fn=None, **settings):
    if run_fn:
        monkeypatch.setattr(pipeline_module, "RUN_FN", f"serving_faults.{run_fn}")
    options = resolve_options({**SETTINGS, **settings, "input_dir": str(input_dir), "output_root": str(root)},
                              environ={})
    return local_runner.run_local(options, progress=False)


@pytest.fixture(scope="module")
def served(headlines_1500, tmp_path_factory):
    """An output root whose first run pushed a version; its run's result."""
    root = tmp_path_factory.mktemp("serving_check")
    result = _run(root, headlines_1500)
    assert result.exit_code == 0, result.text
    FIRST_MODEL[:] = [os.path.dirname(result.summary["serving_check"]["model"])]
    return root, headlines_1500, result


def _refused(root, result, versions_before, reason: str) -> dict:
    """Asserts a refused run: exit 3, the reason in the summary and its text, nothing pushed, versions kept."""
    check = result.summary["serving_check"]
    assert result.summary["baseline"]["model"] == FIRST_MODEL[0]  # refused models never become the baseline
    assert result.exit_code == NOT_BLESSED_EXIT_CODE, result.text
    assert result.summary["blessed"] and not check["ok"]  # the Evaluator blessed it; the serving check did not
    assert any(reason in r for r in check["reasons"]), check["reasons"]
    assert "refused: " in result.text and reason in result.text
    assert result.summary["pushed_to"] is None and "pushed to: nothing pushed" in result.text
    assert _versions(root) == versions_before
    return check


@pytest.mark.slow
def test_a_passing_check_gates_the_push_and_reports_its_figures(served):
    root, _, result = served
    check = result.summary["serving_check"]
    assert check["ok"] and check["reasons"] == [] and result.summary["pushed_to"]
    assert check["warmup_requests"] == 2 and check["canary_size"] == 64
    assert max(check["canary_max_difference"].values()) <= serving_check.CANARY_TOLERANCE
    assert 0 < check["load_total_seconds"] and 0 < check["p50_ms"] <= check["p99_ms"]
    assert check["headlines_per_second"] > 0 and check["peak_memory_mb"] > 100
    assert check["served_version"] is None  # the first push: no contract to keep yet
    with open(check["report"]) as f:
        assert json.load(f)["ok"] is True
    assert os.path.exists(os.path.join(os.path.dirname(check["report"]), "INFRA_BLESSED"))
    assert "serving check: load " in result.text and "passed" in result.text
    print(f"serving check on the slice: {check['check_seconds']:.1f} s, " + ", ".join(
        f"{k} {check[k]:.1f}" for k in ("load_total_seconds", "p50_ms", "p99_ms", "headlines_per_second", "peak_memory_mb")))


@pytest.mark.slow
def test_a_model_the_session_loader_cannot_load_is_not_pushed(served, monkeypatch):
    root, input_dir, _ = served
    before = _versions(root)
    result = _run(root, input_dir, monkeypatch, "run_fn_tracking_the_keras_model")
    check = _refused(root, result, before, "the model does not serve (")
    assert "canary_max_difference" not in check  # it never answered


@pytest.mark.slow
def test_a_renamed_serving_input_is_not_pushed_unless_allowed(served, monkeypatch):
    root, input_dir, first = served
    before = _versions(root)
    result = _run(root, input_dir, monkeypatch, "run_fn_renaming_the_input")
    check = _refused(root, result, before, "its signatures differ from the served version")
    assert check["signature_changes"] == ["signature 'headlines': input 'headline' is gone",
                                          "signature 'headlines': input 'text' is new"]
    assert "set allow_signature_change if this is intended" in result.text


@pytest.mark.slow
def test_a_latency_budget_the_model_cannot_meet_refuses_it(served):
    root, input_dir, _ = served
    before = _versions(root)
    result = _run(root, input_dir, serving_max_p50_ms=0.001)
    _refused(root, result, before, "p50 latency at batch 1 ")
    assert "is above the budget 0.001 ms" in result.text


@pytest.mark.slow
def test_a_model_over_its_memory_budget_is_not_pushed(served):
    root, input_dir, _ = served
    before = _versions(root)
    result = _run(root, input_dir, serving_max_memory_mb=100)
    # A TensorFlow process needs far more: killed at twice the budget, before it could finish.
    _refused(root, result, before, "the serving process was killed: its memory passed the limit of 200 MB")


@pytest.mark.slow
def test_an_intended_signature_change_is_pushed(served, monkeypatch):
    root, input_dir, _ = served
    before = _versions(root)
    result = _run(root, input_dir, monkeypatch, "run_fn_renaming_the_input", allow_signature_change=True)
    check = result.summary["serving_check"]
    assert result.exit_code == 0 and check["ok"], result.text
    assert result.summary["baseline"]["model"] == FIRST_MODEL[0]
    assert check["signature_changes"] == ["signature 'headlines': input 'headline' is gone",
                                          "signature 'headlines': input 'text' is new"]
    assert _versions(root)[:-1] == before and len(_versions(root)) == len(before) + 1
