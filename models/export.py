"""The serving SavedModel: Transform graph plus Keras model behind two TF Serving signatures.

`serving_default` takes serialized tf.Examples (`{"examples": {"b64": ...}}` in TF Serving's REST API, and
what TFMA and other TFX tools send); `headlines` takes raw headline strings (`{"instances": ["..."]}`).
Both return `probability`, the probability that each headline is sarcastic. A third, `transformed_features`,
gives each serialized example's headline length bucket, for the Evaluator's sliced metrics.

The SavedModel runs under both of TensorFlow's loaders: `tf.saved_model.load` and the graph-mode session that
TF Serving's SavedModelBundle uses (import the MetaGraph, run the saver's restore op, run the SignatureDef's
tensors). It also carries TF Serving's warm-up requests (`assets.extra/tf_serving_warmup_requests`).
"""
import os
from typing import Iterable, List, Sequence

import keras
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from textrnn.contract import (DEFAULT_SIGNATURE, HEADLINES_SIGNATURE, LENGTH_BUCKET_KEY, LENGTH_BUCKETS,  # noqa: F401
                              OUTPUT_KEY, TRANSFORMED_FEATURES_SIGNATURE)
from textrnn.models.batching import trim_to_longest
from textrnn.models.config import TokenizerConfig
from textrnn.models.model import without_optimizer
from textrnn.preprocessing import features
from textrnn.preprocessing.preprocessing import tokenize


def headline_length_bucket(headline: tf.Tensor, punctuation_tokens: bool) -> tf.Tensor:
    """The length bucket name of each headline in a [batch] string tensor, its words counted as the Transform
    graph counts them (punctuation marks are words when `punctuation_tokens` is set)."""
    words = tf.cast(tokenize(headline, punctuation_tokens).row_lengths(), tf.float32)
    index = tf.raw_ops.Bucketize(input=words, boundaries=[float(b) for b, _ in LENGTH_BUCKETS[:-1]])
    return tf.gather(tf.constant([name for _, name in LENGTH_BUCKETS]), index)


# TF Serving replays these requests when it loads a version, before it serves it (one of each signature's).
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
WARMUP_HEADLINES = (
    "area man wins argument with himself",
    "senate passes budget bill after 14-hour session, sending it to the president's desk for signature",
    "",
)


class ServingModule(tf.Module):
    """The signatures, the Transform layer they share, and the model's variables (see `served_variables`)."""

    def __init__(self, model: keras.Model, tf_transform_output: tft.TFTransformOutput, punctuation_tokens: bool):
        super().__init__()
        self._punctuation_tokens = punctuation_tokens
        # Not an attribute SavedModel tracks: a tracked Keras 3 model saves each variable as a copy restored
        # by the checkpoint, while the signatures read the original, which only tf.saved_model.load maps back.
        # TF Serving's session restores the copies and fails on the originals ("Could not find variable").
        object.__setattr__(self, "_model", without_optimizer(model))
        self.tft_layer = tf_transform_output.transform_features_layer()
        raw_spec = tf_transform_output.raw_feature_spec()
        raw_spec.pop(features.LABEL_KEY, None)
        self._raw_spec = raw_spec

    def _probability(self, raw_features):
        transformed = self.tft_layer(raw_features)
        inputs = {key: transformed[key] for key in (features.TOKEN_IDS_KEY, features.CHAR_IDS_KEY) if key in transformed}
        # Only as many steps as the batch's longest headline: the rest is masked padding, which the LSTMs would
        # still run through.
        probability = self._model(trim_to_longest(inputs), training=False)
        return {OUTPUT_KEY: tf.reshape(probability, [-1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples):
        return self._probability(tf.io.parse_example(examples, self._raw_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="headline")])
    def serve_headlines(self, headline):
        return self._probability({features.TEXT_KEY: tf.reshape(headline, [-1, 1])})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transformed_features(self, examples):
        headline = tf.io.parse_example(examples, self._raw_spec)[features.TEXT_KEY]
        return {LENGTH_BUCKET_KEY: headline_length_bucket(tf.reshape(headline, [-1]), self._punctuation_tokens)}


def call_signature(signatures, signature: str, values: tf.Tensor):
    """The probabilities (numpy) a scoring signature of one input answers for `values`, whatever that input is
    named (a run may push a model whose input was renamed on purpose); `signatures` is a loaded SavedModel's."""
    function = signatures[signature]
    (name,) = function.structured_input_signature[1]
    return function(**{name: values})[OUTPUT_KEY].numpy()


def served_variables(functions: Iterable[tf.types.experimental.ConcreteFunction]) -> List[tf.Variable]:
    """The TensorFlow variables the functions read, each once: what the checkpoint must restore."""
    unique = {}
    for function in functions:
        for variable in function.variables:
            unique.setdefault(id(variable), variable)
    return list(unique.values())


def serialized_example(headline: bytes) -> bytes:
    """The serialized tf.Example with `headline` (any bytes) that the `serving_default` signature takes."""
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[headline]))
    return tf.train.Example(features=tf.train.Features(feature={features.TEXT_KEY: feature})).SerializeToString()


def warmup_requests(headlines: Sequence[str] = WARMUP_HEADLINES) -> List[prediction_log_pb2.PredictionLog]:
    """A PredictRequest of `headlines` for each scoring signature, as TF Serving's warm-up file holds them."""
    requests = []
    for signature, input_key, values in (
        (DEFAULT_SIGNATURE, "examples", [serialized_example(h.encode("utf-8")) for h in headlines]),
        (HEADLINES_SIGNATURE, "headline", [h.encode("utf-8") for h in headlines]),
    ):
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = signature
        request.inputs[input_key].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
        requests.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return requests


def write_warmup_requests(export_dir: str) -> str:
    """Writes `warmup_requests()` as the TFRecord file TF Serving reads from a version; returns its path."""
    path = os.path.join(export_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_requests():
            writer.write(log.SerializeToString())
    return path


def export_serving_model(model: keras.Model, tf_transform_output: tft.TFTransformOutput, export_dir: str,
                         tokenizer: TokenizerConfig) -> None:
    """Writes the SavedModel that TF Serving loads, with its signatures and warm-up requests; `tokenizer` is
    what the Transform was made with (its punctuation_tokens splits headlines into words for the length
    buckets as the Transform does)."""
    module = ServingModule(model, tf_transform_output, tokenizer.punctuation_tokens)
    signatures = {
        DEFAULT_SIGNATURE: module.serve_examples.get_concrete_function(),
        HEADLINES_SIGNATURE: module.serve_headlines.get_concrete_function(),
        TRANSFORMED_FEATURES_SIGNATURE: module.transformed_features.get_concrete_function(),
    }
    # The variables themselves, not Keras' wrappers, so the checkpoint restores what the signatures read.
    module.served_variables = served_variables(signatures.values())
    tf.saved_model.save(module, export_dir, signatures=signatures)
    write_warmup_requests(export_dir)
