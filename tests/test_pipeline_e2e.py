"""The whole pipeline, run by `textrnn run` on 1,500 real headlines, checked through MLMD and the pushed model.

Three invalid records are mixed in and the run quarantines them (--skip-invalid); test_cli_errors.py checks
that without the flag the run stops on the first one. The pushed model is then called the ways TF Serving
and `textrnn predict` call it, and a second run with a deliberately worse configuration is not blessed.
"""
import base64
import glob
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from conftest import E2E_QUARANTINED, INVALID_RECORDS
from textrnn.models.export import DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, OUTPUT_KEY, serialized_example
from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import options

pytestmark = pytest.mark.slow

COMPONENTS = {
    "JsonExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate",
    "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "ServingCheck", "Pusher", "RunReport",
}
HEADLINES = [
    "thirtysomething scientists unveil doomsday clock of hair loss",
    "dem rep. totally nails why congress is falling short on gender, racial equality",
    "",
]


def test_every_component_completed_in_mlmd(pipeline_run):
    output_root, _ = pipeline_run
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    assert set(record.states) == COMPONENTS
    assert set(record.states.values()) == {"COMPLETE"}


def test_progress_and_summary_are_shown(pipeline_run):
    output_root, result = pipeline_run
    assert "[1/12] ImportSchemaGen running" in result.stderr and "[2/12] JsonExampleGen running" in result.stderr
    assert "Pusher finished" in result.stderr
    assert "blessed: yes" in result.stdout
    assert f"quarantined records: {E2E_QUARANTINED}" in result.stdout
    summary = json.loads(open(glob.glob(str(output_root / "summary-*.json"))[0]).read())
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["test_examples"] > 100
    assert len(summary["demo"]) == 5 and all(0.0 <= d["probability"] <= 1.0 for d in summary["demo"])
    # The serving check passed the model before the push, and its figures are shown.
    assert summary["serving_check"]["ok"] and summary["serving_check"]["model"].startswith(str(output_root))
    assert "serving check: load " in result.stdout and "canary of 64 eval headlines" in result.stdout


def test_invalid_records_are_quarantined_not_dropped(pipeline_run):
    output_root, _ = pipeline_run
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    examples = record.output("JsonExampleGen", "examples")
    assert run_record.custom_property(examples, "quarantined_records") == E2E_QUARANTINED
    quarantine = [json.loads(line) for line in open(os.path.join(examples.uri, "quarantine", "invalid_records.jsonl"))]
    from_more = [(q["line"], q["raw"].encode()) for q in quarantine if os.path.basename(q["source"]) == "more.jsonl"]
    assert from_more == list(enumerate(INVALID_RECORDS, start=1))
    assert len(quarantine) == E2E_QUARANTINED


def test_vocabulary_is_saved_by_name(pipeline_run):
    import tensorflow_transform as tft

    output_root, _ = pipeline_run
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    transform_output = tft.TFTransformOutput(record.output("Transform", "transform_graph").uri)
    vocabulary = transform_output.vocabulary_by_name("headline_vocab")
    assert len(vocabulary) == 3000 - 2
    assert vocabulary[0] in (b"to", b"the", b"of")


def test_blessing_written(pipeline_run):
    output_root, _ = pipeline_run
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    blessing = record.output("Evaluator", "blessing")
    assert run_record.custom_property(blessing, "blessed") == 1
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))


def _pushed_version(output_root):
    versions = sorted(os.listdir(output_layout.serving_model_dir(str(output_root))))
    assert len(versions) == 1 and versions[0].isdigit(), versions
    return os.path.join(output_layout.serving_model_dir(str(output_root)), versions[0])


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


def test_pushed_version_runs_under_tf_servings_session_loader(pipeline_run):
    from serving_checks import compare_loaders

    output_root, _ = pipeline_run
    compare_loaders(_pushed_version(output_root))


def test_pushed_version_runs_under_saved_model_cli(pipeline_run, tmp_path):
    from serving_checks import check_saved_model_cli

    output_root, _ = pipeline_run
    check_saved_model_cli(_pushed_version(output_root), tmp_path)


def test_pushed_version_carries_warmup_requests_tf_serving_replays(pipeline_run):
    from serving_checks import replay_warmup_requests

    output_root, _ = pipeline_run
    replay_warmup_requests(_pushed_version(output_root))


def test_pushed_version_holds_the_model_weights_and_no_optimizer_state(pipeline_run):
    import keras

    import textrnn  # noqa: F401 - registers BiLSTMClassifier for loading model.keras
    from textrnn.models.train import KERAS_MODEL_FILE

    output_root, _ = pipeline_run
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    trained = keras.saving.load_model(os.path.join(record.output("Trainer", "model_run").uri, KERAS_MODEL_FILE))
    checkpoint = tf.train.load_checkpoint(os.path.join(_pushed_version(output_root), "variables", "variables"))
    shapes, dtypes = checkpoint.get_variable_to_shape_map(), checkpoint.get_variable_to_dtype_map()
    assert not [name for name in shapes if "optimizer" in name]
    stored = sum(int(np.prod(shape)) for name, shape in shapes.items() if dtypes[name] == tf.float32)
    assert stored == trained.count_params()


# --- the evaluation and the gate ------------------------------------------------------------------------------


def _summary(output_root):
    (path,) = glob.glob(str(output_root / "summary-*.json"))
    with open(path) as f:
        return json.load(f)


def test_evaluation_reports_every_metric_overall_and_by_headline_length(pipeline_run):
    import tensorflow_model_analysis as tfma

    from textrnn.components.run_artifacts import load_split

    output_root, result = pipeline_run
    summary = _summary(output_root)
    metrics = summary["eval_metrics"]
    assert {"binary_crossentropy", "binary_accuracy", "auc", "precision", "recall", "calibration",
            "example_count"} <= set(metrics)
    by_length = summary["eval_metrics_by_length"]
    assert list(by_length) == [b for b in ["0-7 words", "8-10 words", "11-13 words", "14+ words"] if b in by_length]
    assert len(by_length) >= 3 and sum(m["example_count"] for m in by_length.values()) == metrics["example_count"]
    assert summary["baseline"] is None and summary["validation"] == {"ok": True, "failures": []}
    assert "baseline (latest blessed model): none yet" in result.stdout and "  8-10 words:" in result.stdout

    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    evaluation = record.output("Evaluator", "evaluation").uri
    plots = [p for p in tfma.load_plots(evaluation) if not p.slice_key.single_slice_keys]
    assert plots and plots[0].plot_keys_and_values[0].value.HasField("calibration_histogram_buckets")

    # The gated loss is the true binary cross-entropy of the pushed model on the eval split.
    model = tf.saved_model.load(_pushed_version(output_root))
    probabilities, labels = [], []
    for batch in load_split(record.output("JsonExampleGen", "examples").uri, "eval").batch(1024):
        probabilities += list(model.signatures[DEFAULT_SIGNATURE](examples=batch)[OUTPUT_KEY].numpy())
        labels += list(tf.io.parse_example(batch, {"is_sarcastic": tf.io.FixedLenFeature([], tf.int64)})["is_sarcastic"].numpy())
    p, y = np.clip(np.array(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7), np.array(labels)
    assert metrics["binary_crossentropy"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-4)


def test_worse_model_is_not_blessed_and_the_run_says_why(worse_run):
    first_root, output_root, result = worse_run
    assert result.returncode == 3, result.stdout + result.stderr[-3000:]
    summary = _summary(output_root)
    assert summary["blessed"] is False and summary["pushed_to"] is None
    (failure,) = summary["validation"]["failures"]  # the loss bound (1.0) holds; the baseline comparison fails
    assert failure["metric"] == "binary_crossentropy" and failure["threshold"] == "baseline"
    first = _summary(first_root)["eval_metrics"]["binary_crossentropy"]
    assert failure["baseline"] == pytest.approx(first, abs=1e-6) == summary["baseline"]["eval_metrics"]["binary_crossentropy"]
    assert failure["value"] - failure["baseline"] > options.PipelineOptions().eval_loss_tolerance and failure["by"] > 0
    assert f"blessed: no, not blessed: {failure['message']}" in result.stdout
    assert "is worse than the latest blessed model's" in failure["message"] and "more than the tolerance 0.0100 by" in failure["message"]
    assert "pushed to: nothing pushed" in result.stdout


def test_worse_model_is_not_pushed_and_the_earlier_version_stays(worse_run):
    first_root, output_root, _ = worse_run
    first_record = run_record.latest_run(output_layout.metadata_path(str(first_root)))
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    assert record.run_id != first_record.run_id and set(record.states.values()) <= {"COMPLETE", "CACHED"}
    assert all(record.states[node] == "COMPLETE" for node in contract.ALWAYS_RUN)
    blessing = record.output("Evaluator", "blessing")
    assert run_record.custom_property(blessing, "blessed") == 0
    assert run_record.custom_property(blessing, "baseline_model") == first_record.output("Trainer", "model").uri
    assert run_record.custom_property(record.output("Pusher", "pushed_model"), "pushed") == 0
    assert os.listdir(output_layout.serving_model_dir(str(output_root))) == os.listdir(output_layout.serving_model_dir(str(first_root)))


# --- consumers of the pushed model -----------------------------------------------------------------------------


@pytest.mark.parametrize("loader", ["session", "object"])
def test_rest_requests_as_tf_serving_decodes_them(pipeline_run, loader):
    from tf_serving_protocol import LOADERS, rest_predict

    output_root, _ = pipeline_run
    model = LOADERS[loader](_pushed_version(output_root))
    expected = model.run(HEADLINES_SIGNATURE, {"headline": np.array(HEADLINES, dtype=object)})[OUTPUT_KEY]

    headlines = rest_predict(model, json.dumps({"signature_name": "headlines", "instances": HEADLINES}))
    examples = rest_predict(model, json.dumps(
        {"instances": [{"b64": base64.b64encode(serialized_example(h.encode())).decode()} for h in HEADLINES]}))
    columnar = rest_predict(model, json.dumps({"signature_name": "headlines", "inputs": {"headline": HEADLINES}}))
    assert headlines["predictions"] == examples["predictions"] == columnar["outputs"] == pytest.approx(expected.tolist())


@pytest.mark.parametrize("loader", ["session", "object"])
def test_grpc_predict_requests_as_tf_serving_decodes_them(pipeline_run, loader):
    from tensorflow_serving.apis import predict_pb2
    from tf_serving_protocol import LOADERS, grpc_predict

    output_root, _ = pipeline_run
    version_dir = _pushed_version(output_root)
    model = LOADERS[loader](version_dir)
    expected = model.run(HEADLINES_SIGNATURE, {"headline": np.array(HEADLINES, dtype=object)})[OUTPUT_KEY]

    for signature, name, values in [
        ("serving_default", "examples", [serialized_example(h.encode()) for h in HEADLINES]),
        ("headlines", "headline", HEADLINES),
    ]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = contract.DEFAULT_PIPELINE_NAME
        request.model_spec.signature_name = signature
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
        response = predict_pb2.PredictResponse.FromString(
            grpc_predict(model, request.SerializeToString(), os.path.basename(version_dir)))
        assert response.model_spec.version.value == int(os.path.basename(version_dir))
        assert tf.make_ndarray(response.outputs["probability"]).tolist() == pytest.approx(expected.tolist())


EDGE_HEADLINES = {
    "empty": b"",
    "10,000 characters of words": ("sarcasm " * 1250).encode(),
    "10,000 characters, one word": b"x" * 10_000,
    "emoji": "scientists confirm 😂🔥🙃 is the new punctuation 👍".encode(),
    "non-Latin": "日本語のニュース: заголовок العربية עִבְרִית ελληνικά".encode(),
    "invalid UTF-8": b"area man \xff\xfe loses \xc3\x28 bytes \x80",
}


@pytest.mark.parametrize("loader", ["session", "object"])
def test_edge_inputs_return_a_probability_from_both_signatures(pipeline_run, loader):
    from tf_serving_protocol import LOADERS, rest_predict

    output_root, _ = pipeline_run
    model = LOADERS[loader](_pushed_version(output_root))
    headlines = list(EDGE_HEADLINES.values())
    from_text = model.run(HEADLINES_SIGNATURE, {"headline": np.array(headlines, dtype=object)})[OUTPUT_KEY]
    examples = np.array([serialized_example(h) for h in headlines], dtype=object)
    from_examples = model.run(DEFAULT_SIGNATURE, {"examples": examples})[OUTPUT_KEY]
    for batch in (from_text, from_examples):
        assert batch.shape == (len(headlines),) and ((batch >= 0) & (batch <= 1)).all()
    assert from_text.tolist() == pytest.approx(from_examples.tolist())
    for name, headline in EDGE_HEADLINES.items():  # one at a time too, as a lone request would come
        alone = model.run(DEFAULT_SIGNATURE, {"examples": np.array([serialized_example(headline)], dtype=object)})[OUTPUT_KEY]
        assert alone.shape == (1,) and 0 <= alone[0] <= 1, name
    # Invalid UTF-8 can only reach the server inside a b64 tf.Example (JSON strings are Unicode).
    body = json.dumps({"instances": [{"b64": base64.b64encode(serialized_example(EDGE_HEADLINES["invalid UTF-8"])).decode()}]})
    assert 0 <= rest_predict(model, body)["predictions"][0] <= 1


def test_predict_command_scores_with_the_latest_pushed_version(pipeline_run, textrnn_bin, tmp_path):
    output_root, _ = pipeline_run
    version_dir = _pushed_version(output_root)
    model = tf.saved_model.load(version_dir)
    headlines = [HEADLINES[0], "日本語 😂", HEADLINES[1]]
    expected = model.signatures[HEADLINES_SIGNATURE](headline=tf.constant(headlines))[OUTPUT_KEY].numpy()
    (tmp_path / "more.jsonl").write_text(json.dumps({"headline": headlines[1]}) + "\n" + json.dumps(headlines[2]) + "\n")

    command = [textrnn_bin, "predict", "--output-root", str(output_root), "--json", headlines[0],
               "--file", str(tmp_path / "more.jsonl")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer["version"] == os.path.basename(version_dir) and answer["model"] == version_dir
    assert [p["headline"] for p in answer["predictions"]] == headlines
    assert [p["probability"] for p in answer["predictions"]] == pytest.approx(expected.tolist(), abs=1e-6)
    assert [p["sarcastic"] for p in answer["predictions"]] == [bool(p >= 0.5) for p in expected]

    (tmp_path / "plain.txt").write_text(headlines[0] + "\n")
    text = subprocess.run([textrnn_bin, "predict", "--output-root", str(output_root), "--file", str(tmp_path / "plain.txt")],
                          capture_output=True, text=True, timeout=300)
    assert text.returncode == 0, text.stderr[-3000:]
    assert text.stdout.startswith(f"{expected[0]:.3f}  ") and text.stdout.rstrip().endswith(headlines[0])
    assert f"model version {os.path.basename(version_dir)}" in text.stderr


def _epoch_rows(dataset, max_length=40):
    """The epoch's rows, padded back to max_length, with their labels; checks each batch is trimmed to its longest
    headline and padded only at the end."""
    rows = []
    for batch, labels in dataset:
        ids = batch["headline_ids"].numpy()
        lengths = (ids != 0).sum(axis=1)
        assert ids.shape[1] == max(lengths.max(), 1) or ids.shape[1] == max_length
        assert all(not row[length:].any() for row, length in zip(ids, lengths)), "padding inside a headline"
        ids = np.pad(ids, ((0, 0), (0, max_length - ids.shape[1])))
        rows += [tuple(r) + (int(label),) for r, label in zip(ids, labels.numpy().reshape(-1))]
    return rows


def _transform_outputs(output_root):
    """The Transform's outputs of the run in `output_root`: (transformed examples URI, a Trainer DataAccessor for
    them, transform graph URI)."""
    from tfx.components.trainer.fn_args_utils import DataAccessor
    from tfx.components.util import tfxio_utils
    from tfx.types import artifact_utils, standard_artifacts

    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    transformed = standard_artifacts.Examples()
    transformed.uri = record.output("Transform", "transformed_examples").uri
    transformed.split_names = artifact_utils.encode_split_names(["train", "eval", "test"])
    accessor = DataAccessor(tfxio_utils.get_tf_dataset_factory_from_artifact([transformed], []), None, None)
    return transformed.uri, accessor, record.output("Transform", "transform_graph").uri


@pytest.mark.parametrize("bucket_window,memory_budget_mb", [(50, 256), (1, 256), (0, 256), (50, 0), (0, 0)],
                         ids=["bucketed", "trimmed", "full-width", "bucketed-streamed", "full-width-streamed"])
def test_trainer_input_serves_every_example_once_per_epoch_reshuffled(pipeline_run, bucket_window,
                                                                     memory_budget_mb):
    import tensorflow_transform as tft

    from textrnn.models.train import batch_examples, read_split

    output_root, _ = pipeline_run
    transformed_uri, accessor, transform_graph_uri = _transform_outputs(output_root)
    tft_output = tft.TFTransformOutput(transform_graph_uri)
    files = glob.glob(os.path.join(transformed_uri, "Split-train", "*"))
    spec = tft_output.transformed_feature_spec()
    on_disk = [tuple(parsed["headline_ids"].numpy()) + (int(parsed["is_sarcastic"].numpy()),) for parsed in
               tf.data.TFRecordDataset(files, compression_type="GZIP").map(lambda r: tf.io.parse_single_example(r, spec))]

    examples, count = read_split(files, accessor, tft_output, memory_budget_mb)
    shuffled = batch_examples(examples, count, batch_size=32, shuffle=True, bucket_window=bucket_window)
    first, second = _epoch_rows(shuffled), _epoch_rows(shuffled)
    assert sorted(first) == sorted(second) == sorted(on_disk)
    assert first != second
    in_order = batch_examples(examples, count, batch_size=32, shuffle=False, bucket_window=bucket_window)
    assert _epoch_rows(in_order) == _epoch_rows(in_order) and sorted(_epoch_rows(in_order)) == sorted(on_disk)
    widths = [batch["headline_ids"].shape[1] for batch, _ in shuffled]
    assert len(widths) == -(-len(on_disk) // 32)
    if bucket_window == 50:  # the real headlines average about 11 tokens of the 40
        assert sum(widths) < 0.5 * 40 * len(widths)
    elif bucket_window == 0:
        assert set(widths) == {40}


def test_a_seed_makes_the_trainer_repeat_its_run(pipeline_run, tmp_path):
    from tfx import v1 as tfx

    from textrnn.models.config import ModelConfig
    from textrnn.models.train import HISTORY_FILE, run_fn

    output_root, _ = pipeline_run
    transformed_uri, accessor, transform_graph_uri = _transform_outputs(output_root)

    def losses(seed, run):
        config = ModelConfig.create(vocab_size=3000, embedding_dim=16, lstm_units=(16,), epochs=2, seed=seed)
        run_dir = tmp_path / run
        run_fn(tfx.components.FnArgs(
            train_files=[os.path.join(transformed_uri, "Split-train", "*")],
            eval_files=[os.path.join(transformed_uri, "Split-eval", "*")],
            data_accessor=accessor, transform_output=transform_graph_uri, custom_config=config.to_dict(),
            model_run_dir=str(run_dir / "model_run"), serving_model_dir=str(run_dir / "serving")))
        history = json.loads((run_dir / "model_run" / HISTORY_FILE).read_text())
        return history["loss"] + history["val_loss"]

    first = losses(7, "first")
    assert losses(7, "again") == first
    assert losses(8, "other") != first
