"""Max pooling over the time steps that a mask keeps."""
import keras


@keras.saving.register_keras_serializable(package="textrnn")
class MaskedMaxPooling(keras.layers.Layer):
    """[batch, steps, features] to [batch, features]: each feature's largest value over the unmasked steps.

    Padding never wins, whatever its values; a row with no unmasked step gives zeros.

    Example:

    >>> import numpy as np
    >>> from textrnn.models.masked_max_pooling import MaskedMaxPooling
    >>> values = np.array([[[1.0, -2.0], [3.0, -1.0], [9.0, 9.0]]])
    >>> MaskedMaxPooling()(values, mask=np.array([[True, True, False]])).numpy().tolist()
    [[3.0, -1.0]]
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return keras.ops.max(inputs, axis=1)
        keep = keras.ops.expand_dims(mask, -1)
        lowest = keras.ops.min(inputs) - 1.0
        pooled = keras.ops.max(keras.ops.where(keep, inputs, lowest), axis=1)
        return keras.ops.where(keras.ops.any(keep, axis=1), pooled, keras.ops.zeros_like(pooled))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def compute_mask(self, inputs, mask=None):
        return None
