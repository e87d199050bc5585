"""Checks that a SavedModel serves as TF Serving would serve it, shared by the export and pipeline tests.

TF Serving loads a version into a graph-mode session (`SessionBundle`), replays the version's warm-up requests,
then answers requests by running SignatureDef tensors. `tf.saved_model.load` (`ObjectModel`) is a more forgiving
loader, so every check runs through the session and compares with the object loader; `saved_model_cli run`,
TensorFlow's own command line, loads the model through the session loader too.
"""
import os
import subprocess
import sys
from typing import Dict, List

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from textrnn.models.export import (DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, LENGTH_BUCKET_KEY, OUTPUT_KEY,
                                   TRANSFORMED_FEATURES_SIGNATURE, WARMUP_FILE, WARMUP_HEADLINES, serialized_example)
from tf_serving_protocol import ObjectModel, SessionBundle

HEADLINES = [
    "thirtysomething scientists unveil doomsday clock of hair loss",
    "dem rep. totally nails why congress is falling short on gender, racial equality",
    "",
    "日本語のニュース 😂",
]


def signature_inputs(headlines: List[str]) -> Dict[str, Dict[str, np.ndarray]]:
    """The inputs of each signature for `headlines`."""
    encoded = [h.encode("utf-8") for h in headlines]
    examples = np.array([serialized_example(h) for h in encoded], dtype=object)
    return {
        DEFAULT_SIGNATURE: {"examples": examples},
        HEADLINES_SIGNATURE: {"headline": np.array(encoded, dtype=object)},
        TRANSFORMED_FEATURES_SIGNATURE: {"examples": examples},
    }


def compare_loaders(version_dir: str, headlines: List[str] = HEADLINES) -> Dict[str, Dict[str, np.ndarray]]:
    """Runs every signature through the session loader and the object loader; asserts they agree (1e-6) and
    returns the session's outputs."""
    session, objects = SessionBundle(version_dir), ObjectModel(version_dir)
    assert session.signature_names() == objects.signature_names() == sorted(
        [DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, TRANSFORMED_FEATURES_SIGNATURE])
    outputs = {}
    for signature, inputs in signature_inputs(headlines).items():
        served, loaded = session.run(signature, inputs), objects.run(signature, inputs)
        assert set(served) == set(loaded), signature
        for key in served:
            if served[key].dtype == object:
                assert served[key].tolist() == loaded[key].tolist(), (signature, key)
            else:
                np.testing.assert_allclose(served[key], loaded[key], rtol=0, atol=1e-6, err_msg=f"{signature} {key}")
        outputs[signature] = served
    probabilities = outputs[DEFAULT_SIGNATURE][OUTPUT_KEY]
    assert probabilities.shape == (len(headlines),) and ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(outputs[HEADLINES_SIGNATURE][OUTPUT_KEY], probabilities, rtol=0, atol=1e-6)
    assert outputs[TRANSFORMED_FEATURES_SIGNATURE][LENGTH_BUCKET_KEY].shape == (len(headlines),)
    return outputs


def saved_model_cli_run(version_dir: str, signature: str, input_flag: str, output_dir: str) -> subprocess.CompletedProcess:
    """`saved_model_cli run` of one signature, its outputs saved as .npy files in `output_dir`."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = [cli, "run", "--dir", version_dir, "--tag_set", "serve", "--signature_def", signature, *input_flag,
               "--outdir", output_dir, "--overwrite"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def check_saved_model_cli(version_dir: str, tmp_path, headlines: List[str] = HEADLINES) -> Dict[str, str]:
    """Both scoring signatures through `saved_model_cli run` (a tf.Example built by its --input_examples, raw
    strings by --input_exprs) give the session loader's probabilities; returns each run's printed output."""
    expected = SessionBundle(version_dir).run(HEADLINES_SIGNATURE, signature_inputs(headlines)[HEADLINES_SIGNATURE])
    as_examples = repr([{"headline": [h]} for h in headlines])
    printed = {}
    for signature, flag in ((DEFAULT_SIGNATURE, ["--input_examples", f"examples={as_examples}"]),
                            (HEADLINES_SIGNATURE, ["--input_exprs", f"headline={headlines!r}"])):
        output_dir = str(tmp_path / f"saved_model_cli-{signature}")
        result = saved_model_cli_run(version_dir, signature, flag, output_dir)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"Result for output key {OUTPUT_KEY}" in result.stdout, result.stdout
        np.testing.assert_allclose(np.load(os.path.join(output_dir, f"{OUTPUT_KEY}.npy")), expected[OUTPUT_KEY],
                                   rtol=0, atol=1e-6)
        printed[signature] = result.stdout
    return printed


def read_warmup_requests(version_dir: str) -> List[prediction_log_pb2.PredictionLog]:
    path = os.path.join(version_dir, WARMUP_FILE)
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy()) for record in tf.data.TFRecordDataset(path)]


def replay_warmup_requests(version_dir: str) -> None:
    """Replays the version's warm-up file through the session loader, as TF Serving does on load: one
    PredictRequest per scoring signature, each answered with a probability per headline."""
    logs = read_warmup_requests(version_dir)
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 2
    requests = {log.predict_log.request.model_spec.signature_name: log.predict_log.request for log in logs}
    assert sorted(requests) == sorted([DEFAULT_SIGNATURE, HEADLINES_SIGNATURE])
    session = SessionBundle(version_dir)
    answers = {}
    for signature, request in requests.items():
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        assert set(inputs) == set(session.input_dtypes(signature))
        answers[signature] = session.run(signature, inputs)[OUTPUT_KEY]
        assert answers[signature].shape == (len(WARMUP_HEADLINES),)
    np.testing.assert_allclose(answers[DEFAULT_SIGNATURE], answers[HEADLINES_SIGNATURE], rtol=0, atol=1e-6)
    expected = session.run(HEADLINES_SIGNATURE, signature_inputs(list(WARMUP_HEADLINES))[HEADLINES_SIGNATURE])
    np.testing.assert_allclose(answers[HEADLINES_SIGNATURE], expected[OUTPUT_KEY], rtol=0, atol=1e-6)


def write_transform_graph(dataset_file, folder: str, temp_dir: str, tokenizer_settings: dict, count: int = 300):
    """The Transform graph of the first `count` real headlines with `tokenizer_settings`, made with
    tf.Transform's Beam API into `folder`; returns its TFTransformOutput."""
    import json

    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from textrnn.preprocessing import features
    from textrnn.preprocessing.preprocessing import preprocessing_fn

    with open(dataset_file, "rb") as f:
        records = [json.loads(next(f)) for _ in range(count)]
    rows = [{features.TEXT_KEY: [r["headline"].encode()], features.LABEL_KEY: [r["is_sarcastic"]]} for r in records]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec({
        features.TEXT_KEY: tf.io.FixedLenFeature([1], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.int64),
    }))
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=temp_dir):
        transform_fn = (pipeline | beam.Create(rows), metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, tokenizer_settings))
        _ = transform_fn | tft_beam.WriteTransformFn(folder)
    metadata_io.write_metadata(metadata, f"{folder}/{tft.TFTransformOutput.RAW_METADATA_DIR}")
    return tft.TFTransformOutput(folder)

