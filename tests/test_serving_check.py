"""The serving check (components/serving_check.py): its child process and limits, and, through the real pipeline
on a slice of the real data, each way a model is refused before the Pusher.

The pipeline tests share one output root and push destination: a first run pushes a version (nothing served yet:
no ratios), a second one like it, run while every core is kept busy, is measured against it and pushed; then each
faulty run (a model TF Serving's loader cannot load, a renamed serving input, a model slower and larger by
construction, a memory budget under what a TensorFlow process needs) exits 3 with its reasons, pushes nothing and
leaves the served version as it was; last, the renamed input is pushed when the run allows the signature change.
No verdict here depends on the machine's speed: the refused models break their budgets by construction.
"""
import json
import os
import time

import pytest

from benchmarks.machine_load import busy_cores
from serving_faults import BALLAST_MB, SLOWER_BY_MS
from textrnn import output_layout
from textrnn.components import serving_check
from textrnn.contract import NOT_BLESSED_EXIT_CODE
from textrnn.pipeline import local_runner, pipeline as pipeline_module
from textrnn.pipeline.options import resolve_options

# One epoch on the slice; a gate every such model passes, so that the serving check alone decides.
SETTINGS = {"epochs": 1, "vocab_size": 3000, "eval_loss_bound": 5.0, "eval_loss_tolerance": 5.0}
# The Trainer's model artifact of the version being served, the baseline of every refused run.
SERVED_MODEL = []


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
    assert budgets["max_p50_ratio"] == 25.0 and budgets["max_memory_mb"] == 2500  # best's own (models/presets.py)
    assert serving_check.ServingBudgets(**budgets).min_throughput_ratio == 0.02
    assert check.exec_properties["allow_signature_change"] == 0


# --- the child process ---------------------------------------------------------------------------------------


def test_a_model_folder_without_a_model_is_refused_at_its_load_step(tmp_path):
    request = serving_check.probe_request(str(tmp_path / "missing"), [b"area man"], rounds=1)
    result = serving_check.run_probe(request, str(tmp_path), timeout_seconds=120, memory_limit_mb=None)
    assert result["step"] == "load" and "SavedModel file does not exist" in result["error"], result
    assert result["peak_memory_mb"] > 0


@pytest.mark.parametrize("limits, reason", [
    ({"timeout_seconds": 0.5, "memory_limit_mb": None}, "it ran past its time limit of 0.5 s"),
    ({"timeout_seconds": 120, "memory_limit_mb": 50}, "its memory passed the limit of 50 MB"),
])
def test_the_child_is_killed_at_its_limits(tmp_path, limits, reason):
    request = serving_check.probe_request(str(tmp_path), [b"area man"], rounds=1)
    result = serving_check.run_probe(request, str(tmp_path), **limits)
    assert result["error"] == f"the serving process was killed: {reason}"


# --- the side-by-side measurement -------------------------------------------------------------------------------


class _Waiting:
    """Stands in for a loaded model: each call waits `seconds` and notes its name in `calls`."""

    def __init__(self, name, seconds, calls):
        self.name, self.seconds, self.calls = name, seconds, calls

    def run(self, signature, inputs):
        self.calls.append((self.name, len(next(iter(inputs.values())))))
        time.sleep(self.seconds)


def test_the_candidate_and_the_served_version_take_turns_request_by_request():
    import numpy as np

    from textrnn.components.serving_probe import measure

    calls = []
    models = [(_Waiting("candidate", 0.004, calls), "serving_default", "examples"),
              (_Waiting("served", 0.0, calls), "serving_default", "examples")]
    batch = np.array([b"a", b"b", b"c"], dtype=object)
    measured = measure(models, [batch, batch], [np.resize(batch, 8)] * 2, rounds=3, latency_requests=10,
                       throughput_seconds=0.01)
    timed = calls[12:]  # after 5 single requests and one full batch each, not measured
    assert timed[:4] == [("candidate", 1), ("served", 1), ("served", 1), ("candidate", 1)]
    single = [c for c in timed if c[1] == 1]
    assert single.count(("candidate", 1)) == single.count(("served", 1)) == 30
    full = [c for c in timed if c[1] == 8]
    assert full.count(("candidate", 8)) == full.count(("served", 8)) >= 9  # at least 3 pairs a round
    candidate, served = measured["figures"]
    assert candidate["p50_ms"] >= 4 > served["p50_ms"]
    assert candidate["headlines_per_second"] < served["headlines_per_second"]
    assert len(measured["rounds"]) == 3 and all(r["p50"] > 1 and r["throughput"] < 1 for r in measured["rounds"])


def test_without_a_served_version_only_the_absolute_budgets_apply():
    budgets = serving_check.ServingBudgets(max_p50_ratio=1.5, max_p50_ms=1000)
    assert budgets.exceeded({"p50_ms": 2.0}) == []
    assert budgets.exceeded({"p50_ms": 1200.0}) == ["p50 latency at batch 1 1200.0 ms is above the budget 1000 ms"]
    served = {"p50_ms": 1.0, "p99_ms": 1.0, "headlines_per_second": 1000.0, "peak_memory_mb": 700.0}
    report = {"p50_ms": 2.0, "p99_ms": 1.0, "headlines_per_second": 600.0, "peak_memory_mb": 700.0, "served": served}
    report["ratios"] = serving_check.ratios_to_served(report, [])
    assert budgets.exceeded(report) == ["p50 latency at batch 1 is 2.00x the served version's (2.00 ms against "
                                        "1.00 ms), above the budget 1.5x"]
    low_throughput = serving_check.ServingBudgets(min_throughput_ratio=0.67).exceeded(report)
    assert low_throughput == ["throughput at batch 64 is 0.60x the served version's (600 headlines/s against "
                              "1000 headlines/s), below the budget 0.67x"]


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
    SERVED_MODEL[:] = [os.path.dirname(result.summary["serving_check"]["model"])]
    return root, headlines_1500, result


def _refused(root, result, versions_before, reason: str) -> dict:
    """Asserts a refused run: exit 3, the reason in the summary and its text, nothing pushed, versions kept."""
    check = result.summary["serving_check"]
    assert result.summary["baseline"]["model"] == SERVED_MODEL[0]  # refused models never become the baseline
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
    assert check["served_version"] is None and "ratios" not in check  # the first push: nothing to compare with
    assert check["budgets"]["max_p50_ratio"] == 1.5 and check["budgets"]["max_p99_ms"] is None  # the defaults
    with open(check["report"]) as f:
        assert json.load(f)["ok"] is True
    assert os.path.exists(os.path.join(os.path.dirname(check["report"]), "INFRA_BLESSED"))
    assert "serving check: load " in result.text and "passed" in result.text
    assert "the first push here: nothing served to compare with" in result.text
    print(f"serving check on the slice: {check['check_seconds']:.1f} s, " + ", ".join(
        f"{k} {check[k]:.1f}" for k in ("load_total_seconds", "p50_ms", "p99_ms", "headlines_per_second", "peak_memory_mb")))


@pytest.mark.slow
def test_a_model_like_the_served_one_passes_on_a_busy_machine(served):
    """The same recipe on the same data, trained and checked while a busy loop runs on every core: the ratios to
    the served version, measured side by side, stay within their budgets, and it is pushed."""
    root, input_dir, _ = served
    before = _versions(root)
    with busy_cores():
        result = _run(root, input_dir)
    check = result.summary["serving_check"]
    assert result.exit_code == 0 and check["ok"], result.text
    assert check["served_version"].endswith(str(before[-1])) and len(_versions(root)) == len(before) + 1
    assert set(check["ratios"]) == {"p50", "p99", "throughput", "memory"}
    for name, ratio in check["ratios"].items():
        assert ratio["budget"] == check["budgets"][f"{ratio['bound']}_{name}_ratio"]
        if name != "memory":  # timed: the rounds' spread around the pooled figure
            assert ratio["low"] <= ratio["high"] and ratio["low"] > 0
    assert set(check["served"]) >= {"p50_ms", "p99_ms", "headlines_per_second", "peak_memory_mb", "load_total_seconds"}
    assert "against the served version: p50 " in result.text and "the served version: p50 " in result.text
    SERVED_MODEL[:] = [os.path.dirname(check["model"])]
    print("like the served one, on a busy machine: " + ", ".join(
        f"{name} {r['ratio']:.2f}x" + (f" ({r['low']:.2f}-{r['high']:.2f})" if "low" in r else "")
        for name, r in check["ratios"].items()))


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
def test_a_model_slower_and_larger_than_the_served_one_is_not_pushed(served, monkeypatch):
    """Each request waits SLOWER_BY_MS more and BALLAST_MB more is restored: several times the served version's
    latency, a fraction of its throughput, well over its memory, whatever the machine's speed or load. The
    absolute latency budget, set to half that wait, refuses it too."""
    root, input_dir, _ = served
    before = _versions(root)
    result = _run(root, input_dir, monkeypatch, "run_fn_slower_and_larger", serving_max_p50_ms=SLOWER_BY_MS / 2,
                  serving_max_memory_mb=8000)
    check = _refused(root, result, before, "p50 latency at batch 1 is ")
    assert max(check["canary_max_difference"].values()) <= serving_check.CANARY_TOLERANCE  # it answers right
    ratios = check["ratios"]
    assert ratios["p50"]["ratio"] > 1.5 and ratios["p99"]["ratio"] > 2.0 and ratios["throughput"]["ratio"] < 0.67
    assert check["peak_memory_mb"] - check["served"]["peak_memory_mb"] > BALLAST_MB * 0.9
    for reason in ("p50 latency at batch 1 is ", "p99 latency at batch 1 is ", "throughput at batch 64 is ",
                   "peak memory is ", f"is above the budget {SLOWER_BY_MS / 2:g} ms"):
        assert any(reason in r for r in check["reasons"]), (reason, check["reasons"])
    assert "x the served version's (" in result.text and "above the budget 1.5x" in result.text


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
    assert result.summary["baseline"]["model"] == SERVED_MODEL[0]
    assert check["signature_changes"] == ["signature 'headlines': input 'headline' is gone",
                                          "signature 'headlines': input 'text' is new"]
    assert _versions(root)[:-1] == before and len(_versions(root)) == len(before) + 1
