"""The accuracy benchmark's measures and table, without running the pipeline."""
import doctest
import json
import os

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


def test_a_row_keeps_the_description_and_flags_it_was_measured_with():
    row = {"preset": "best", "variant": "10 models", "eval_loss": 0.25, "eval_accuracy": 0.89, "test_accuracy": 0.9,
           "epochs": 4, "wall_seconds": 400, "trainer_seconds": 350, "examples_per_second": 1600, "figures": [],
           "measured": "2026-12-06 12:38", "description": "an ensemble of 5 models", "flags": ["--ensemble-size", "10"]}
    unsaved = {key: value for key, value in row.items() if key not in ("variant", "description", "flags")}
    repaired = dict(row, variant="repaired", flags=[], flags_source="inferred from its label",
                    description_source="the preset's description in the commit that saved it")
    notes = accuracy.markdown([row, unsaved, repaired], "benchmarks/results").splitlines()[-3:]
    assert notes[0].endswith(": an ensemble of 5 models. Run with `--ensemble-size 10`, which overrides the "
                             "description where they differ.")
    # Today's description of the preset may describe another model: a row without its own says so.
    assert notes[1].endswith(": best as of 2026-12-06 (its description was not saved). Its flags were not saved.")
    assert accuracy.PRESETS["best"].description not in notes[1]
    assert notes[2].endswith(": an ensemble of 5 models (the preset's description in the commit that saved it). "
                             "No flags beyond the preset (inferred from its label).")


def test_every_saved_row_has_its_description_and_flags():
    with open(os.path.join(os.path.dirname(accuracy.__file__), "results", "accuracy.json")) as f:
        rows = json.load(f)
    assert rows and all(row.get("description") and "flags" in row for row in rows)


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
