"""Additive attention pooling over the time steps that a mask keeps."""
import keras


@keras.saving.register_keras_serializable(package="textrnn")
class AttentionPooling(keras.layers.Layer):
    """[batch, steps, features] to [batch, features]: a weighted mean of the unmasked steps, the weights a
    softmax of learned scores `v · tanh(W x + b)` (Bahdanau-style attention with one learned query), the
    pooling of the dataset authors' BiLSTM-attention model (Misra & Arora).

    Example:

    >>> import numpy as np
    >>> from textrnn.models.attention_pooling import AttentionPooling
    >>> layer = AttentionPooling(units=8)
    >>> values = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    >>> tuple(layer(values, mask=np.array([[True] * 5, [True, True, False, False, False]])).shape)
    (2, 4)
    >>> layer.count_params()  # W: 4 x 8, b: 8, v: 8
    48
    """

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.score_hidden = keras.layers.Dense(units, activation="tanh", name="score_hidden")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def build(self, input_shape):
        self.score_hidden.build(input_shape)
        self.score.build((*input_shape[:-1], self.units))

    def call(self, inputs, mask=None):
        scores = keras.ops.squeeze(self.score(self.score_hidden(inputs)), -1)
        if mask is not None:
            scores = keras.ops.where(mask, scores, keras.ops.full_like(scores, -1e9))
        weights = keras.ops.softmax(scores, axis=1)
        return keras.ops.sum(inputs * keras.ops.expand_dims(weights, -1), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units}
