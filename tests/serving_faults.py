"""Trainer modules that export a faulty serving model, for the serving check's failure tests.

Each `run_fn` trains as the real one (models/train.py) and then replaces the serving SavedModel with one that has
a fault TF Serving's clients would meet: `run_fn_tracking_the_keras_model` is the old export, which tracked the
Keras model (it loads with `tf.saved_model.load` but not under TF Serving's session loader); `run_fn_renaming_the_input`
renames the `headlines` signature's input from `headline` to `text` (its warm-up requests renamed too, so the
model itself serves); `run_fn_slower_and_larger` answers exactly what the real export answers, but each request
first waits SLOWER_BY_MS (a tf.data sleep in the serving graph: time, not work, so no machine is fast enough to
hide it) and every signature reads a BALLAST_MB variable that the session restores into memory.
"""
import os

import keras
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow.python.data.experimental.ops import testing as data_testing  # sleep(): not in tf.data's public API
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from textrnn.contract import HEADLINES_SIGNATURE, KERAS_MODEL_FILE
from textrnn.models import export, train
from textrnn.models.config import ModelConfig
from textrnn.preprocessing import features

SLOWER_BY_MS = 20
BALLAST_MB = 512


def _trained(fn_args):
    train.run_fn(fn_args)
    tf.io.gfile.rmtree(fn_args.serving_model_dir)
    model = keras.saving.load_model(os.path.join(fn_args.model_run_dir, KERAS_MODEL_FILE))
    config = ModelConfig.from_dict({k: v for k, v in fn_args.custom_config.items() if k != "embedding_dir"})
    return model, tft.TFTransformOutput(fn_args.transform_output), config


class _TrackingModule(export.ServingModule):
    """The export before it kept the Keras model out of SavedModel's tracking (models/export.py before commit
    2b826fe): the model and its Keras variables are attributes, which saves each variable as a copy that the
    checkpoint restores while the signatures read the original."""

    def __init__(self, model, tf_transform_output, punctuation_tokens):
        super().__init__(model, tf_transform_output, punctuation_tokens)
        self.model = self._model
        self.keras_variables = list(self._model.variables)


def _signatures(module) -> dict:
    return {export.DEFAULT_SIGNATURE: module.serve_examples.get_concrete_function(),
            HEADLINES_SIGNATURE: module.serve_headlines.get_concrete_function(),
            export.TRANSFORMED_FEATURES_SIGNATURE: module.transformed_features.get_concrete_function()}


def run_fn_tracking_the_keras_model(fn_args) -> None:
    model, transform_output, config = _trained(fn_args)
    module = _TrackingModule(model, transform_output, config.tokenizer.punctuation_tokens)
    tf.saved_model.save(module, fn_args.serving_model_dir, signatures=_signatures(module))
    export.write_warmup_requests(fn_args.serving_model_dir)


class _RenamedInputModule(export.ServingModule):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve_headlines(self, text):
        return self._probability({features.TEXT_KEY: tf.reshape(text, [-1, 1])})


def _export(module_class, fn_args) -> None:
    """Trains, then saves `module_class`'s signatures as the real export does (the variables they read tracked)."""
    model, transform_output, config = _trained(fn_args)
    module = module_class(model, transform_output, config.tokenizer.punctuation_tokens)
    signatures = _signatures(module)
    module.served_variables = export.served_variables(signatures.values())
    tf.saved_model.save(module, fn_args.serving_model_dir, signatures=signatures)


def run_fn_renaming_the_input(fn_args) -> None:
    _export(_RenamedInputModule, fn_args)
    requests = []
    for log in export.warmup_requests():
        request = log.predict_log.request
        if request.model_spec.signature_name == HEADLINES_SIGNATURE:
            renamed = predict_pb2.PredictRequest()
            renamed.model_spec.signature_name = HEADLINES_SIGNATURE
            renamed.inputs["text"].CopyFrom(request.inputs["headline"])
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=renamed))
        requests.append(log)
    path = os.path.join(fn_args.serving_model_dir, export.WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in requests:
            writer.write(log.SerializeToString())


class _SlowerAndLargerModule(export.ServingModule):
    def __init__(self, model, tf_transform_output, punctuation_tokens):
        super().__init__(model, tf_transform_output, punctuation_tokens)
        self.ballast = tf.Variable(tf.ones([BALLAST_MB * 2**20 // 4], tf.float32), trainable=False)

    def _probability(self, raw_features):
        probability = super()._probability(raw_features)[export.OUTPUT_KEY]
        # Zero, but only once the whole ballast is in memory; the sleep passes the probabilities through.
        probability += tf.minimum(tf.abs(self.ballast[-1]), 0.0)
        delayed = tf.data.Dataset.from_tensors(probability).apply(data_testing.sleep(SLOWER_BY_MS * 1000))
        return {export.OUTPUT_KEY: delayed.get_single_element()}


def run_fn_slower_and_larger(fn_args) -> None:
    _export(_SlowerAndLargerModule, fn_args)
    export.write_warmup_requests(fn_args.serving_model_dir)
