"""Validation that can fail: the curated schema, label skew between splits, drift against the latest blessed
model's data, and the expectations a schema cannot state, each stopping a run before training.

The checks run as the pipeline runs them: its own JsonExampleGen, ImportSchemaGen, StatisticsGen,
ExampleValidator, baseline resolver and AnomaliesGate, taken from `create_pipeline` placed as a local run.
"""
import itertools
import json
import pathlib
import random
import subprocess

import pytest
from tfx import v1 as tfx
from tfx.orchestration.pipeline import RunOptions

from textrnn.components import json_example_gen
from textrnn.components.anomalies_gate import AnomaliesFoundError, noise_floor
from textrnn import contract
from textrnn import output_layout
from textrnn.components import report_page, run_record
from textrnn.pipeline import local_runner, options
from textrnn.pipeline.pipeline import create_pipeline
from textrnn.preprocessing.records import Record

pytestmark = pytest.mark.slow

def real_records(dataset_file):
    with open(dataset_file) as f:
        return [json.loads(line) for line in f]


def write_records(folder: pathlib.Path, records) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "headlines.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def validate(data_dir: pathlib.Path, root: pathlib.Path, schema_file: str = options.SCHEMA_FILE):
    """Runs the pipeline on `data_dir` up to its AnomaliesGate (a TFX partial run)."""
    run = options.resolve_options({"output_root": str(root), "schema_file": schema_file}, environ={})
    pipeline = create_pipeline(run, local_runner.local_placement(run, str(data_dir)))
    tfx.orchestration.LocalDagRunner().run(pipeline, run_options=RunOptions(to_nodes=["AnomaliesGate"]))


def validation_failure(data_dir, root, **kwargs) -> str:
    with pytest.raises(Exception) as failure:
        validate(data_dir, root, **kwargs)
    error = failure.value
    while error is not None and not isinstance(error, AnomaliesFoundError):
        error = error.__cause__ or error.__context__
    assert error is not None, f"expected AnomaliesFoundError, got {failure.value!r}"
    assert "so training is not started" in str(error)
    return str(error)


def test_the_real_dataset_passes(dataset_file, tmp_path):
    validate(dataset_file.parent, tmp_path)


def test_a_label_outside_the_schema_domain_is_named(dataset_file, tmp_path):
    """JsonExampleGen already rejects labels other than 0 and 1, so the schema's domain is narrowed to {0}."""
    schema = pathlib.Path(options.SCHEMA_FILE).read_text().replace("max: 1", "max: 0")
    (tmp_path / "schema.pbtxt").write_text(schema)
    message = validation_failure(write_records(tmp_path / "data", real_records(dataset_file)[:300]),
                                 tmp_path / "root", schema_file=str(tmp_path / "schema.pbtxt"))
    assert "split 'train', feature 'is_sarcastic': Out-of-range values" in message


def test_a_dataset_that_is_95_percent_sarcastic_stops(dataset_file, tmp_path):
    records = real_records(dataset_file)
    sarcastic = [r for r in records if r["is_sarcastic"]][:570]
    serious = [r for r in records if not r["is_sarcastic"]][:30]
    mixed = sarcastic + serious
    random.Random(0).shuffle(mixed)
    message = validation_failure(write_records(tmp_path / "data", mixed), tmp_path / "root")
    assert "split 'train', feature 'is_sarcastic': the share of sarcastic headlines, 0.9" in message
    assert "outside the expected range [0.2, 0.8]" in message


def test_headlines_500_words_long_stop(dataset_file, tmp_path):
    records = real_records(dataset_file)[:300]
    for record in records:
        words = record["headline"].split()
        record["headline"] = " ".join(words[i % len(words)] for i in range(500))
    message = validation_failure(write_records(tmp_path / "data", records), tmp_path / "root")
    assert "split 'train', feature 'headline': the mean headline length in characters" in message
    assert "outside the expected range [20, 200]" in message


def split_of(record) -> str:
    """The split JsonExampleGen puts a record in, by TFX's own partition function."""
    from tfx.components.example_gen.base_example_gen_executor import _PartitionFn

    splits = json_example_gen.default_output_config().split_config
    buckets = list(itertools.accumulate(split.hash_buckets for split in splits.splits))
    example = json_example_gen.record_to_example(Record("", 0, record["headline"], record["is_sarcastic"]))
    return splits.splits[_PartitionFn(example, len(buckets), buckets, splits)].name


def test_label_skew_between_splits_is_named(dataset_file, tmp_path):
    """Every serious headline that hashes into `eval` left out: eval is all sarcastic, train 44 %."""
    records = [r for r in real_records(dataset_file)[:3000] if r["is_sarcastic"] or split_of(r) != "eval"]
    message = validation_failure(write_records(tmp_path / "data", records), tmp_path / "root")
    assert "skew, split 'eval' against 'train', feature 'is_sarcastic': High Linfty distance between training " \
           "and serving" in message
    assert "skew, split 'test'" not in message


def test_differences_sampling_explains_are_not_skew(make_slice, tmp_path):
    """400 headlines: 45 in eval, whose share differs from train's by 0.13 by chance, more than the schema's 0.1."""
    assert noise_floor(300, 45) > 0.3 and noise_floor(21409, 2701) < 0.05
    validate(make_slice(400), tmp_path)


def test_a_drifted_label_balance_stops_the_second_run_before_training(dataset_file, textrnn_bin, tmp_path):
    records = real_records(dataset_file)
    root = tmp_path / "root"
    first = write_records(tmp_path / "first", records[:800])
    sarcastic = [r for r in records if r["is_sarcastic"]][:600]
    serious = [r for r in records if not r["is_sarcastic"]][:200]
    drifted = sarcastic + serious  # 75 % sarcastic: inside the expected share, 0.3 away from the first run's
    random.Random(0).shuffle(drifted)
    second = write_records(tmp_path / "second", drifted)

    def run(data):
        return subprocess.run([textrnn_bin, "run", "--input-dir", str(data), "--output-root", str(root),
                               "--epochs", "1", "--eval-loss-bound", "1.0"], capture_output=True, text=True, timeout=600)

    assert run(first).returncode == 0
    result = run(second)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drift, split 'train' against the latest blessed model's training data, feature 'is_sarcastic': " \
           "High Linfty distance between current and previous" in result.stderr
    record = run_record.latest_run(output_layout.metadata_path(str(root)))
    assert record.states["AnomaliesGate"] == "FAILED"
    assert "Transform" not in record.states and "Trainer" not in record.states
    # A failed run still leaves its summary and its page, with what it got to.
    stem = record.run_id.replace(":", "-")
    assert f"summary written to {root / f'summary-{stem}.json'}, report: {root / f'report-{stem}.html'}" in result.stderr
    with open(root / f"summary-{stem}.json") as f:
        summary = json.load(f)
    assert summary["components"]["AnomaliesGate"] == "FAILED" and not summary["blessed"] and summary["pushed_to"] is None
    assert (root / f"report-{stem}.html").read_text().startswith(report_page.GENERATOR)
