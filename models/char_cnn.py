"""Character-aware word features: a small CNN over each word's characters."""
import keras

from textrnn.preprocessing import features


@keras.saving.register_keras_serializable(package="textrnn")
class CharCNN(keras.layers.Layer):
    """[batch, words, chars] character ids (see `features.CHAR_IDS_KEY`) to [batch, words, filters]: each
    character embedded, a width-3 convolution along the word, max-pooled over the word's characters.

    It gives every word, in the vocabulary or not, features of its spelling: misspellings, numbers, names and
    word endings that a 20,000-word vocabulary maps to one OOV id.

    Example:

    >>> import numpy as np
    >>> from textrnn.models.char_cnn import CharCNN
    >>> layer = CharCNN(filters=32, char_embedding_dim=16)
    >>> tuple(layer(np.zeros((2, 7, 12), "int64")).shape)
    (2, 7, 32)
    >>> layer.count_params()  # embedding 258 x 16, kernel 3 x 16 x 32, bias 32
    5696
    """

    def __init__(self, filters: int = 32, char_embedding_dim: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.char_embedding_dim = char_embedding_dim
        self.embedding = keras.layers.Embedding(features.CHAR_VOCAB_SIZE, char_embedding_dim, name="char_embedding")
        self.convolution = keras.layers.Conv2D(filters, (1, 3), padding="same", activation="relu", name="char_conv")

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.convolution.build((*input_shape, self.char_embedding_dim))

    def call(self, char_ids):
        return keras.ops.max(self.convolution(self.embedding(char_ids)), axis=2)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "char_embedding_dim": self.char_embedding_dim}
