"""The serving export on its own, fast: a real Transform graph (tf.Transform on Beam, 300 real headlines) and
a small seeded model, exported and then loaded as TF Serving loads it. The pipeline's pushed models go through
the same checks in test_pipeline_e2e.py and test_glove_pipeline.py."""
import json

import numpy as np
import pytest
import tensorflow as tf

from textrnn.models.config import ModelConfig
from textrnn.models.export import (DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, OUTPUT_KEY, WARMUP_HEADLINES,
                           export_serving_model)
from textrnn.models.model import build_model
from textrnn.preprocessing import features
from serving_checks import (check_saved_model_cli, compare_loaders, read_warmup_requests, replay_warmup_requests,
                            signature_inputs, write_transform_graph)
from tf_serving_protocol import LOADERS, SessionBundle, grpc_predict, rest_predict

CONFIG = ModelConfig.create(vocab_size=500, embedding_dim=8, lstm_units=(8, 8), dropout=0.5, seed=3)


@pytest.fixture(scope="module")
def transform_output(dataset_file, tmp_path_factory):
    """The Transform graph of the first 300 real headlines, made with tf.Transform's Beam API."""
    return write_transform_graph(dataset_file, str(tmp_path_factory.mktemp("transform_graph")),
                                 str(tmp_path_factory.mktemp("tft_tmp")), CONFIG.tokenizer_settings())


@pytest.fixture(scope="module")
def exported(transform_output, tmp_path_factory):
    """A freshly exported serving model; the Keras model has its optimizer built (as after training)."""
    import keras

    keras.utils.set_random_seed(CONFIG.training.seed)
    model = build_model(CONFIG)
    ids = np.ones((4, CONFIG.tokenizer.max_length), dtype=np.int64)
    model.train_on_batch({features.TOKEN_IDS_KEY: ids}, np.array([0, 1, 0, 1]))
    export_dir = str(tmp_path_factory.mktemp("export") / "serving_model")
    export_serving_model(model, transform_output, export_dir, CONFIG.tokenizer)
    return export_dir, model


def test_session_loader_runs_every_signature_as_the_object_loader_does(exported, transform_output):
    from serving_checks import HEADLINES

    export_dir, model = exported
    outputs = compare_loaders(export_dir)
    # The probabilities are the trained Keras model's on the Transform graph's ids.
    raw = {features.TEXT_KEY: tf.constant([[h.encode()] for h in HEADLINES])}
    ids = transform_output.transform_raw_features(raw)[features.TOKEN_IDS_KEY]
    keras_probabilities = model({features.TOKEN_IDS_KEY: ids}, training=False).numpy().reshape(-1)
    np.testing.assert_allclose(outputs[DEFAULT_SIGNATURE][OUTPUT_KEY], keras_probabilities, rtol=0, atol=1e-6)


def test_checkpoint_holds_exactly_the_model_variables_once(exported):
    export_dir, model = exported
    checkpoint = tf.train.load_checkpoint(f"{export_dir}/variables/variables")
    shapes, dtypes = checkpoint.get_variable_to_shape_map(), checkpoint.get_variable_to_dtype_map()
    assert not [name for name in shapes if "optimizer" in name]
    stored = sum(int(np.prod(shape)) for name, shape in shapes.items() if dtypes[name] == tf.float32)
    assert stored == model.count_params()


@pytest.mark.slow
def test_saved_model_cli_runs_both_scoring_signatures(exported, tmp_path):
    export_dir, _ = exported
    printed = check_saved_model_cli(export_dir, tmp_path)
    assert set(printed) == {DEFAULT_SIGNATURE, HEADLINES_SIGNATURE}


def test_warmup_requests_replay_through_the_session_loader(exported):
    export_dir, _ = exported
    logs = read_warmup_requests(export_dir)
    headlines = tf.make_ndarray(logs[1].predict_log.request.inputs["headline"]).tolist()
    assert headlines == [h.encode() for h in WARMUP_HEADLINES]
    replay_warmup_requests(export_dir)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_rest_and_grpc_requests_through_either_loader(exported, loader):
    import base64

    from tensorflow_serving.apis import predict_pb2

    from serving_checks import HEADLINES
    from textrnn.models.export import serialized_example

    export_dir, _ = exported
    model = LOADERS[loader](export_dir)
    expected = SessionBundle(export_dir).run(HEADLINES_SIGNATURE, signature_inputs(HEADLINES)[HEADLINES_SIGNATURE])
    expected = expected[OUTPUT_KEY].tolist()
    rows = rest_predict(model, json.dumps({"signature_name": "headlines", "instances": HEADLINES}))
    b64 = rest_predict(model, json.dumps(
        {"instances": [{"b64": base64.b64encode(serialized_example(h.encode())).decode()} for h in HEADLINES]}))
    assert rows["predictions"] == b64["predictions"] == pytest.approx(expected, abs=1e-6)

    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = HEADLINES_SIGNATURE
    request.inputs["headline"].CopyFrom(tf.make_tensor_proto(HEADLINES, dtype=tf.string))
    response = predict_pb2.PredictResponse.FromString(grpc_predict(model, request.SerializeToString(), "7"))
    assert tf.make_ndarray(response.outputs[OUTPUT_KEY]).tolist() == pytest.approx(expected, abs=1e-6)


def test_length_buckets_count_words_as_the_transform_does(exported):
    from textrnn.models.export import TRANSFORMED_FEATURES_SIGNATURE, headline_length_bucket

    headline = "wait, what? no... really?!"  # 4 words, 8 punctuation marks
    assert headline_length_bucket(tf.constant([headline]), punctuation_tokens=False).numpy().tolist() == [b"0-7 words"]
    assert headline_length_bucket(tf.constant([headline]), punctuation_tokens=True).numpy().tolist() == [b"11-13 words"]
    export_dir, _ = exported  # CONFIG keeps punctuation marks as tokens, as the default preset does
    assert CONFIG.tokenizer.punctuation_tokens
    inputs = signature_inputs([headline])[TRANSFORMED_FEATURES_SIGNATURE]
    served = SessionBundle(export_dir).run(TRANSFORMED_FEATURES_SIGNATURE, inputs)
    assert served["headline_length_bucket"].tolist() == [b"11-13 words"]


def test_trainer_refuses_a_transform_that_does_not_fit_the_model(transform_output):
    from textrnn.models.transform_check import TransformMismatchError, check_transform_fits

    check_transform_fits(CONFIG, transform_output)
    with pytest.raises(TransformMismatchError, match="vocabulary has 498 words, .* vocab_size 500, but the model's "
                                                     "embedding has 100 rows"):
        check_transform_fits(CONFIG.replace(vocab_size=100), transform_output)
    with pytest.raises(TransformMismatchError, match="pads headlines to \\[40\\] ids, .* max_length 30"):
        check_transform_fits(CONFIG.replace(max_length=30), transform_output)


def test_signatures_trim_padding_without_changing_the_probabilities(exported, transform_output):
    """The signatures run the LSTMs only to the batch's longest headline; the Keras model on the full max_length
    ids (what the Transform gives) scores the same."""
    export_dir, model = exported
    headlines = [b"area man wins argument with himself", b"senate passes bill", b"", b"!!!",
                 b" ".join([b"word"] * 60)]
    full = transform_output.transform_features_layer()(
        {features.TEXT_KEY: tf.reshape(tf.constant(headlines), [-1, 1])})[features.TOKEN_IDS_KEY]
    assert full.shape[1] == CONFIG.tokenizer.max_length
    expected = model({features.TOKEN_IDS_KEY: full}, training=False).numpy().reshape(-1)
    bundle = SessionBundle(export_dir)
    for rows in (slice(0, 5), slice(0, 2), slice(2, 4)):  # all; short ones only; only headlines without words
        served = bundle.run(HEADLINES_SIGNATURE, {"headline": np.array(headlines[rows], dtype=object)})[OUTPUT_KEY]
        np.testing.assert_allclose(served, expected[rows], rtol=1e-5, atol=1e-6)
