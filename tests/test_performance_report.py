"""The performance benchmark's arithmetic and report, without running the pipeline: interleaved rounds, the
worst round deciding each target, and where the seconds outside training go."""
import doctest
import types

from benchmarks import performance


def test_docstring_examples_run():
    result = doctest.testmod(performance)
    assert result.attempted > 0 and result.failed == 0, result


def fake_round(row_wise_ratio, outside_total=20.0, fixed_wall=60.0, notebook_wall=100.0, default_wall=50.0):
    default_eps = 2000.0
    return {
        "wall": {performance.NOTEBOOK: notebook_wall, performance.FIXED_EPOCHS: fixed_wall,
                 performance.DEFAULT_RUN: default_wall},
        "training": {performance.NOTEBOOK: 80.0, performance.FIXED_EPOCHS: 40.0, performance.DEFAULT_RUN: 30.0},
        "test_accuracy": {performance.NOTEBOOK: 0.85, performance.FIXED_EPOCHS: 0.87, performance.DEFAULT_RUN: 0.88},
        "default_epochs": 2.5,
        "throughput": {"notebook": 800.0, performance.DEFAULT_TRAINER: default_eps,
                       performance.FULL_WIDTH_VARIANT: 700.0,
                       performance.ROW_WISE_VARIANT: default_eps * row_wise_ratio},
        "outside": {"parts": {performance.PROCESS_START: 4.0, "Transform": 8.0, performance.AFTER_LAST: 1.0},
                    "training": 40.0, "total": outside_total, "trainer": 3.0},
    }


def targets_by_name(rounds):
    return {target.what: (target.worst, target.met) for target in performance.targets(rounds, 1e7, 1e11)}


def test_a_target_is_met_only_when_its_worst_round_meets_it():
    # A median of 1.9 does not make up for one round at 1.7; a single round over 25 s fails the whole target.
    rounds = [fake_round(1.9), fake_round(1.7, outside_total=26.0), fake_round(2.0)]
    found = targets_by_name(rounds)
    assert found["training examples/s, row-wise updates over the default Trainer"] == (1.7, False)
    assert found["seconds outside training, `textrnn run --epochs N`"] == (26.0, False)
    assert found["`textrnn run --epochs N` over the notebook's wall time"] == (0.6, True)
    assert found["default `textrnn run` over the notebook's wall time"] == (0.5, True)
    rounds = [fake_round(1.85), fake_round(1.8), fake_round(2.0)]
    assert targets_by_name(rounds)["training examples/s, row-wise updates over the default Trainer"] == (1.8, True)


def test_outside_training_splits_the_trainer_by_its_phases():
    record = types.SimpleNamespace(
        started={"Transform": 105.0, "Trainer": 115.0, "Evaluator": 160.0},
        seconds={"Transform": 9.0, "Trainer": 44.0, "Evaluator": 5.0})
    history = {"epoch_seconds": [14.0, 13.0, 13.0], "build_seconds": 0.25, "fit_seconds": 40.125,
               "phase_seconds": {"reading the splits": 1.0, "training": 40.5, "saving model.keras": 0.5,
                                 "drawing the curves": 0.25, "exporting the SavedModel": 1.5}}
    outside = performance.outside_training(record, history, start=100.0, wall=67.0)
    parts = outside["parts"]
    assert parts[performance.PROCESS_START] == 5.0
    assert parts[performance.BUILDING] == 0.25
    assert parts[performance.AROUND_EPOCHS] == 0.125
    assert parts[performance.REST_OF_TRAINING] == 0.125
    assert parts["Trainer: TFX's executor around run_fn"] == 0.25
    assert outside["trainer"] == 4.0  # the Trainer's 44 s less its 40 s of epochs
    assert parts["between components (TFX launcher)"] == (165.0 - 105.0) - 58.0
    assert parts[performance.AFTER_LAST] == 2.0
    assert outside["total"] == 27.0
    assert sum(parts.values()) == outside["total"]


def test_report_names_each_target_and_section(tmp_path):
    args = types.SimpleNamespace(epochs=3, conditions="")
    rounds = [fake_round(1.5), fake_round(1.4), fake_round(1.6)]
    serving = {name: {"p50_ms": 1.0, "p99_ms": 2.0, "batch64_per_s": 1000.0, "batch256_per_s": 2000.0}
               for name in ("headlines signature", "Keras model on token ids (baseline)")}
    steps = {"real tokens": 10.0, "bucketed": 11.0, "full width": 40.0}
    report = performance.render(args, "2026-12-06 15:00", performance.ModelConfig(), rounds, serving, steps,
                                {1000: (9.0, 10.0, 50.0)})
    assert "| training examples/s, row-wise updates over the default Trainer | >= 1.80 | 1.50, 1.40, 1.60 | 1.40 | **no** |" in report
    assert "| `textrnn run --epochs 3` (early stopping off) | 60.0, 60.0, 60.0 | **0.60 (0.60-0.60)** |" in report
    for heading in ("## Targets", "## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6."):
        assert heading in report
