"""The accuracy benchmark's measures and table, without running the pipeline."""
import doctest

import numpy as np
import pytest

from benchmarks import accuracy


def test_docstring_examples_run():
    result = doctest.testmod(accuracy)
    assert result.attempted > 0 and result.failed == 0, result


def test_calibration_error_is_zero_when_confidence_matches_accuracy_and_large_when_not():
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0, 1, 200_000)
    calibrated = (rng.uniform(0, 1, probabilities.size) < probabilities).astype(int)
    assert accuracy.expected_calibration_error(probabilities, calibrated) == pytest.approx(0, abs=0.01)
    overconfident = np.where(probabilities >= 0.5, 0.999, 0.001)
    assert accuracy.expected_calibration_error(overconfident, calibrated) == pytest.approx(0.25, abs=0.01)


def test_rows_measured_before_a_column_existed_show_a_dash():
    old = {"preset": "default", "eval_loss": 0.31, "eval_accuracy": 0.87, "test_accuracy": 0.878, "epochs": 1.5,
           "wall_seconds": 100, "trainer_seconds": 60, "examples_per_second": 700, "figures": [],
           "measured": "2026-11-30 14:02"}
    new = dict(old, preset="best", test_auc=0.96, test_ece=0.012, serving_p50_ms=9.5, epochs=[[4, 5], [5, 5]],
               serving_batch256_per_s=1298.4, model_mb=131.2)
    lines = accuracy.markdown([old, new], "benchmarks/results").splitlines()
    assert "| – | – |" in lines[2] and lines[2].count("–") == 5
    assert "| 0.9600 | 0.0120 |" in lines[3] and "[4 5], [5 5]" in lines[3]
    assert "| 9.5 ms | 1298 | 131 MB |" in lines[3] and "–" not in lines[3]


def test_a_row_keeps_the_description_of_the_preset_it_measured():
    row = {"preset": "best", "variant": "BiLSTM(64)", "eval_loss": 0.27, "eval_accuracy": 0.88, "test_accuracy": 0.89,
           "epochs": 4, "wall_seconds": 400, "trainer_seconds": 350, "examples_per_second": 1600, "figures": [],
           "measured": "2026-11-30 20:50", "description": "five models with one BiLSTM(64)"}
    earlier = {key: value for key, value in row.items() if key not in ("variant", "description")}
    notes = accuracy.markdown([row, earlier], "benchmarks/results").splitlines()[-2:]
    assert notes[0].endswith(": five models with one BiLSTM(64).")
    assert notes[1].endswith(f": {accuracy.PRESETS['best'].description}.")


def test_rewriting_the_table_keeps_the_hand_written_choices(tmp_path):
    row = {"preset": "default", "eval_loss": 0.31, "eval_accuracy": 0.87, "test_accuracy": 0.878, "epochs": 1.5,
           "wall_seconds": 100, "trainer_seconds": 60, "examples_per_second": 700, "figures": [],
           "measured": "2026-11-30 14:02"}
    accuracy.write_report({"default": row}, str(tmp_path))
    report = tmp_path / "accuracy.md"
    choices = f"{accuracy.CHOICES_HEADING}\n\nWe compared A and B on eval; B won.\n"
    report.write_text(report.read_text() + "\n" + choices)
    accuracy.write_report({"default": row, "best": dict(row, preset="best", test_accuracy=0.9)}, str(tmp_path))
    text = report.read_text()
    assert text.endswith(choices) and text.count(accuracy.CHOICES_HEADING) == 1
    assert "| best | 0.3100 | 0.8700 | 0.9000 |" in text
