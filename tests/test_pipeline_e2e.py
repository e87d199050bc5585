"""The whole pipeline, run by `textrnn run` on 1,500 real headlines, checked through MLMD and the pushed model.

Three invalid records are mixed in and the run quarantines them (--skip-invalid); test_cli_errors.py checks
that without the flag the run stops on the first one.
"""
import glob
import json
import os
import subprocess

import pytest
import tensorflow as tf

from models.export import DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, OUTPUT_KEY
from pipeline import configs, run_record

COMPONENTS = {
    "JsonExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomaliesGate",
    "Transform", "Trainer", "Evaluator", "Pusher",
}
HEADLINES = [
    "thirtysomething scientists unveil doomsday clock of hair loss",
    "dem rep. totally nails why congress is falling short on gender, racial equality",
    "",
]


INVALID_RECORDS = [
    b'{"headline": "a label out of range", "is_sarcastic": 3}',
    b'{"headline": "", "is_sarcastic": 0}',
    b'{"headline": "cut short", "is_sa',
]


@pytest.fixture(scope="module")
def pipeline_run(headlines_1500, textrnn_bin, tmp_path_factory):
    input_dir = tmp_path_factory.mktemp("input")
    (input_dir / "headlines.json").write_bytes((headlines_1500 / "headlines.json").read_bytes())
    (input_dir / "more.jsonl").write_bytes(b"\n".join(INVALID_RECORDS) + b"\n")
    output_root = tmp_path_factory.mktemp("run")
    command = [
        textrnn_bin, "run", "--input-dir", str(input_dir), "--output-root", str(output_root), "--skip-invalid",
        "--epochs", "1", "--vocab-size", "3000", "--eval-loss-bound", "1.0",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return output_root, result


def test_every_component_completed_in_mlmd(pipeline_run):
    output_root, _ = pipeline_run
    record = run_record.latest_run(configs.metadata_path(str(output_root)))
    assert set(record.states) == COMPONENTS
    assert set(record.states.values()) == {"COMPLETE"}


def test_progress_and_summary_are_shown(pipeline_run):
    output_root, result = pipeline_run
    assert "[1/9] JsonExampleGen running" in result.stderr
    assert "Pusher finished" in result.stderr
    assert "blessed: yes" in result.stdout
    assert "quarantined records: 3" in result.stdout
    summary = json.loads(open(glob.glob(str(output_root / "summary-*.json"))[0]).read())
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["test_examples"] > 100
    assert len(summary["demo"]) == 5 and all(0.0 <= d["probability"] <= 1.0 for d in summary["demo"])


def test_invalid_records_are_quarantined_not_dropped(pipeline_run):
    output_root, _ = pipeline_run
    record = run_record.latest_run(configs.metadata_path(str(output_root)))
    examples = record.output("JsonExampleGen", "examples")
    assert run_record.custom_property(examples, "quarantined_records") == 3
    quarantine = [json.loads(line) for line in open(os.path.join(examples.uri, "quarantine", "invalid_records.jsonl"))]
    assert [(q["line"], q["raw"].encode()) for q in quarantine] == list(enumerate(INVALID_RECORDS, start=1))


def test_vocabulary_is_saved_by_name(pipeline_run):
    import tensorflow_transform as tft

    output_root, _ = pipeline_run
    record = run_record.latest_run(configs.metadata_path(str(output_root)))
    transform_output = tft.TFTransformOutput(record.output("Transform", "transform_graph").uri)
    vocabulary = transform_output.vocabulary_by_name("headline_vocab")
    assert len(vocabulary) == 3000 - 2
    assert vocabulary[0] in (b"to", b"the", b"of")


def test_blessing_written(pipeline_run):
    output_root, _ = pipeline_run
    record = run_record.latest_run(configs.metadata_path(str(output_root)))
    blessing = record.output("Evaluator", "blessing")
    assert run_record.custom_property(blessing, "blessed") == 1
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))


def _pushed_version(output_root):
    versions = sorted(os.listdir(configs.serving_model_dir(str(output_root))))
    assert len(versions) == 1 and versions[0].isdigit(), versions
    return os.path.join(configs.serving_model_dir(str(output_root)), versions[0])


def test_pushed_version_serves_both_signatures_identically(pipeline_run):
    output_root, _ = pipeline_run
    model = tf.saved_model.load(_pushed_version(output_root))
    assert {DEFAULT_SIGNATURE, HEADLINES_SIGNATURE} <= set(model.signatures)

    from_text = model.signatures[HEADLINES_SIGNATURE](headline=tf.constant(HEADLINES))[OUTPUT_KEY].numpy()
    examples = [
        tf.train.Example(
            features=tf.train.Features(feature={"headline": tf.train.Feature(bytes_list=tf.train.BytesList(value=[h.encode()]))})
        ).SerializeToString()
        for h in HEADLINES
    ]
    from_examples = model.signatures[DEFAULT_SIGNATURE](examples=tf.constant(examples))[OUTPUT_KEY].numpy()

    assert from_text.shape == (len(HEADLINES),)
    assert ((from_text >= 0) & (from_text <= 1)).all()
    assert (from_text == from_examples).all()
