"""The serving SavedModel: Transform graph plus Keras model behind two TF Serving signatures.

`serving_default` takes serialized tf.Examples (`{"examples": {"b64": ...}}` in TF Serving's REST API, and
what TFMA and other TFX tools send); `headlines` takes raw headline strings (`{"instances": ["..."]}`).
Both return `probability`, the probability that each headline is sarcastic. A third, `transformed_features`,
gives each serialized example's headline length bucket, for the Evaluator's sliced metrics.
"""
import keras
import tensorflow as tf
import tensorflow_transform as tft

from models.model import without_optimizer
from preprocessing import features
from preprocessing.preprocessing import tokenize

DEFAULT_SIGNATURE = "serving_default"
HEADLINES_SIGNATURE = "headlines"
OUTPUT_KEY = "probability"
# TFMA calls a signature of this name, when a model has one, and slices on its outputs (the Evaluator's
# "by headline length" metrics); it is not a preprocessing step of the model.
TRANSFORMED_FEATURES_SIGNATURE = "transformed_features"
LENGTH_BUCKET_KEY = "headline_length_bucket"
# Words per headline (as the Transform graph tokenizes it): upper bounds and names of the buckets, chosen
# so that each holds from an eighth to a third of the dataset.
LENGTH_BUCKETS = ((8, "0-7 words"), (11, "8-10 words"), (14, "11-13 words"), (None, "14+ words"))


def headline_length_bucket(headline: tf.Tensor) -> tf.Tensor:
    """The length bucket name of each headline in a [batch] string tensor."""
    words = tf.cast(tokenize(headline).row_lengths(), tf.float32)
    index = tf.raw_ops.Bucketize(input=words, boundaries=[float(b) for b, _ in LENGTH_BUCKETS[:-1]])
    return tf.gather(tf.constant([name for _, name in LENGTH_BUCKETS]), index)


class ServingModule(tf.Module):
    """Holds the Transform layer and the model so that SavedModel tracks both."""

    def __init__(self, model: keras.Model, tf_transform_output: tft.TFTransformOutput):
        super().__init__()
        self.model = without_optimizer(model)
        # Keras 3 layers keep some state (e.g. dropout seeds) that tf.Module does not see through `model`.
        self.keras_variables = list(self.model.variables)
        self.tft_layer = tf_transform_output.transform_features_layer()
        raw_spec = tf_transform_output.raw_feature_spec()
        raw_spec.pop(features.LABEL_KEY, None)
        self._raw_spec = raw_spec

    def _probability(self, raw_features):
        transformed = self.tft_layer(raw_features)
        ids = {features.TOKEN_IDS_KEY: transformed[features.TOKEN_IDS_KEY]}
        probability = self.model(ids, training=False)
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
        return {LENGTH_BUCKET_KEY: headline_length_bucket(tf.reshape(headline, [-1]))}


def export_serving_model(model: keras.Model, tf_transform_output: tft.TFTransformOutput, export_dir: str) -> None:
    """Writes the SavedModel that TF Serving loads, with both signatures."""
    module = ServingModule(model, tf_transform_output)
    signatures = {
        DEFAULT_SIGNATURE: module.serve_examples.get_concrete_function(),
        HEADLINES_SIGNATURE: module.serve_headlines.get_concrete_function(),
        TRANSFORMED_FEATURES_SIGNATURE: module.transformed_features.get_concrete_function(),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
