"""The serving SavedModel: Transform graph plus Keras model behind two TF Serving signatures.

`serving_default` takes serialized tf.Examples (`{"examples": {"b64": ...}}` in TF Serving's REST API, and
what TFMA and other TFX tools send); `headlines` takes raw headline strings (`{"instances": ["..."]}`).
Both return `probability`, the probability that each headline is sarcastic.
"""
import keras
import tensorflow as tf
import tensorflow_transform as tft

from preprocessing import features

DEFAULT_SIGNATURE = "serving_default"
HEADLINES_SIGNATURE = "headlines"
OUTPUT_KEY = "probability"


class ServingModule(tf.Module):
    """Holds the Transform layer and the model so that SavedModel tracks both."""

    def __init__(self, model: keras.Model, tf_transform_output: tft.TFTransformOutput):
        super().__init__()
        self.model = model
        # Keras 3 layers keep some state (e.g. dropout seeds) that tf.Module does not see through `model`.
        self.keras_variables = list(model.variables)
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


def export_serving_model(model: keras.Model, tf_transform_output: tft.TFTransformOutput, export_dir: str) -> None:
    """Writes the SavedModel that TF Serving loads, with both signatures."""
    module = ServingModule(model, tf_transform_output)
    signatures = {
        DEFAULT_SIGNATURE: module.serve_examples.get_concrete_function(),
        HEADLINES_SIGNATURE: module.serve_headlines.get_concrete_function(),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
