"""The chapter's classifier: embedding, bidirectional LSTMs, a dense layer and a sigmoid output."""
import contextlib
import dataclasses
from typing import Optional

import keras
import numpy as np
from keras.src.backend.common import global_state

from textrnn.models.attention_pooling import AttentionPooling
from textrnn.models.char_cnn import CharCNN
from textrnn.models.config import ModelConfig
from textrnn.models.masked_max_pooling import MaskedMaxPooling
from textrnn.models.row_wise_adam import RowWiseAdam
from textrnn.preprocessing import features


@keras.saving.register_keras_serializable(package="textrnn")
class BiLSTMClassifier(keras.Model):
    """Maps padded token ids (`headline_ids`) to the probability of the positive class.

    An embedding, one or more stacked bidirectional LSTMs (`return_sequences=True` on all but the last), with
    optional dropout on their inputs, a pooling of the last one's outputs, a dense layer and a sigmoid. The
    LSTMs keep cuDNN's requirements (tanh/sigmoid, no recurrent dropout, unroll off); padding (id 0) is at the
    end and masked, so each direction ends on a real word. Registered as `textrnn>BiLSTMClassifier`: after
    `import textrnn`, `keras.saving.load_model` loads a saved one.

    Options beyond the book's model (ArchitectureConfig and TokenizerConfig document each): `pooling` "max" or
    "attention" over the words instead of the final states; a `learned_embedding_dim` embedding concatenated to
    the first (GloVe's, when the Trainer initialises it from GloVe); `word_chars` > 0 adds a character CNN's
    features to every word, from `headline_chars` ([batch, words * word_chars] ids, see `features.CHAR_IDS_KEY`).

    Example:

    >>> import numpy as np
    >>> from textrnn import BiLSTMClassifier
    >>> model = BiLSTMClassifier.from_preset("book-stacked", vocab_size=1000)
    >>> model.lstm_units
    [64, 64]
    >>> ids = np.array([[5, 17, 2, 0, 0]])  # token ids, padded with 0 at the end
    >>> model.predict({"headline_ids": ids}, verbose=0).shape
    (1, 1)
    """

    def __init__(self, vocab_size, embedding_dim, lstm_units, dense_units, dropout=0.0,
                 freeze_embedding=False, pooling="last", learned_embedding_dim=0, word_chars=0, char_filters=32,
                 glove_vocabulary=0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.lstm_units = list(lstm_units)
        self.dense_units = dense_units
        self.dropout = dropout
        self.freeze_embedding = freeze_embedding
        self.pooling = pooling
        self.learned_embedding_dim = learned_embedding_dim
        self.word_chars = word_chars
        self.char_filters = char_filters
        self.glove_vocabulary = glove_vocabulary
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, mask_zero=True, trainable=not freeze_embedding, name="embedding"
        )
        # Frozen: its words never occur in training (they are outside the training split's vocabulary).
        self.glove_extension = keras.layers.Embedding(
            glove_vocabulary, embedding_dim, trainable=False, name="glove_extension") if glove_vocabulary else None
        self.learned_embedding = keras.layers.Embedding(
            vocab_size, learned_embedding_dim, name="learned_embedding") if learned_embedding_dim else None
        self.char_cnn = CharCNN(char_filters, name="char_cnn") if word_chars else None
        with _outside_object_sharing():
            self.bilstms = self._bilstms()
        self.pool = {"last": None, "max": MaskedMaxPooling(name="max_pooling"),
                     "attention": AttentionPooling(name="attention_pooling")}[pooling]
        self.dense = keras.layers.Dense(dense_units, activation="relu", name="dense")
        self.probability = keras.layers.Dense(1, activation="sigmoid", name="probability")

    def _bilstms(self):
        return [
            keras.layers.Bidirectional(
                keras.layers.LSTM(units, dropout=self.dropout,
                                  return_sequences=depth < len(self.lstm_units) - 1 or self.pooling != "last"),
                name=f"bilstm_{depth}",
            )
            for depth, units in enumerate(self.lstm_units)
        ]

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "BiLSTMClassifier":
        """The untrained, built and compiled model of the preset `name` (see `textrnn presets`), with any
        setting overridden by its flat name (`vocab_size=1000`, `lstm_units=(32,)`: see `ModelConfig.replace`).
        GloVe presets start from random vectors here: the pipeline's GloveCoverage component builds their
        embedding matrix for the Transform's vocabulary."""
        from textrnn.models.presets import get_preset

        return build_model(get_preset(name).config.replace(**overrides))

    def call(self, inputs, training=None):
        ids = inputs[features.TOKEN_IDS_KEY] if isinstance(inputs, dict) else inputs
        mask = keras.ops.not_equal(ids, features.PAD_ID)
        x = self.word_features(inputs)
        for bilstm in self.bilstms:
            x = bilstm(x, mask=mask, training=training)
        if self.pool is not None:
            x = self.pool(x, mask=mask)
        return self.probability(self.dense(x))

    def word_features(self, inputs):
        """[batch, words, features]: each word's embedding (GloVe's extension for ids from vocab_size on), with
        the learned embedding and character features concatenated when the model has them."""
        ids = inputs[features.TOKEN_IDS_KEY] if isinstance(inputs, dict) else inputs
        extended = keras.ops.greater_equal(ids, self.vocab_size)
        vocabulary_ids = keras.ops.where(extended, features.OOV_ID, ids)
        embedded = self.embedding(vocabulary_ids)
        if self.glove_extension is not None:
            glove_rows = self.glove_extension(keras.ops.where(extended, ids - self.vocab_size, 0))
            embedded = keras.ops.where(keras.ops.expand_dims(extended, -1), glove_rows, embedded)
        parts = [embedded]
        if self.learned_embedding is not None:
            parts.append(self.learned_embedding(vocabulary_ids))
        if self.char_cnn is not None:
            steps = keras.ops.shape(ids)[1]
            chars = keras.ops.reshape(inputs[features.CHAR_IDS_KEY], (-1, steps, self.word_chars))
            parts.append(self.char_cnn(chars))
        return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size, embedding_dim=self.embedding_dim, lstm_units=self.lstm_units,
            dense_units=self.dense_units, dropout=self.dropout, freeze_embedding=self.freeze_embedding,
            pooling=self.pooling, learned_embedding_dim=self.learned_embedding_dim, word_chars=self.word_chars,
            char_filters=self.char_filters, glove_vocabulary=self.glove_vocabulary,
        )
        return config


@contextlib.contextmanager
def _outside_object_sharing():
    """Suspends the shared-object scope that `keras.saving.load_model` opens while the scope's block runs.

    Bidirectional copies its forward LSTM by serializing and deserializing it. Inside that scope Keras keys
    serialized objects by `id()`, so once an earlier copy's original has been freed, a new LSTM at the same
    address is taken for it and gets the earlier object back: two models of a loaded ensemble then shared one
    forward LSTM (and one of them loaded the other's weights).
    """
    keys = ("shared_objects/id_to_obj_map", "shared_objects/id_to_config_map")
    saved = {key: global_state.get_global_attribute(key) for key in keys}
    for key in keys:
        global_state.set_global_attribute(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            global_state.set_global_attribute(key, value)


def model_inputs(length, word_chars: int = 0) -> dict:
    """Symbolic inputs of a classifier for headlines of `length` ids (None: any), with characters when
    `word_chars` is above 0."""
    inputs = {features.TOKEN_IDS_KEY: keras.Input(shape=(length,), dtype="int64", name=features.TOKEN_IDS_KEY)}
    if word_chars:
        width = None if length is None else length * word_chars
        inputs[features.CHAR_IDS_KEY] = keras.Input(shape=(width,), dtype="int64", name=features.CHAR_IDS_KEY)
    return inputs


def _create_weights(model: keras.Model, length: int) -> None:
    """Builds every layer by a symbolic call, so `summary()` shows the shapes of any batch: (None, length, ...)."""
    model(model_inputs(length, model.word_chars))


def build_model(config: ModelConfig, embedding_matrix: Optional[np.ndarray] = None) -> BiLSTMClassifier:
    """Returns a built, compiled classifier: the architecture part's layers over the tokenizer part's inputs
    (vocab_size, word_chars, glove_vocabulary). `embedding_matrix` ([vocab_size + glove_vocabulary,
    embedding_dim]) initialises the embedding, which `freeze_embedding` keeps fixed during training, and the
    GloVe extension (its last glove_vocabulary rows)."""
    tokenizer, architecture = config.tokenizer, config.architecture
    model = BiLSTMClassifier(
        **dataclasses.asdict(architecture), vocab_size=tokenizer.vocab_size, word_chars=tokenizer.word_chars,
        glove_vocabulary=tokenizer.glove_vocabulary, name="textrnn",
    )
    _create_weights(model, tokenizer.max_length)
    if embedding_matrix is not None:
        expected = (tokenizer.vocab_size + tokenizer.glove_vocabulary, architecture.embedding_dim)
        if embedding_matrix.shape != expected:
            raise ValueError(f"embedding matrix has shape {embedding_matrix.shape}, the model needs {expected}")
        model.embedding.set_weights([embedding_matrix[:tokenizer.vocab_size]])
        if model.glove_extension is not None:
            model.glove_extension.set_weights([embedding_matrix[tokenizer.vocab_size:]])
    compile_model(model, config)
    return model


def compile_model(model: keras.Model, config: ModelConfig, soft_targets: bool = False) -> None:
    """Adam with the config's learning rate and betas (row-wise on the embedding with
    `row_wise_embedding_updates`: models/row_wise_adam.py), binary cross-entropy, accuracy.

    With `soft_targets` (probabilities, as a distilled student learns) the accuracy compares the prediction with
    the target rounded to 0 or 1; on labels it is the usual accuracy."""
    training = config.training
    adam = RowWiseAdam if training.row_wise_embedding_updates else keras.optimizers.Adam
    accuracy = keras.metrics.MeanMetricWrapper(_rounded_target_accuracy, name="accuracy") if soft_targets \
        else "accuracy"
    model.compile(
        optimizer=adam(training.learning_rate, beta_1=training.beta_1, beta_2=training.beta_2),
        loss="binary_crossentropy",
        metrics=[accuracy],
    )


def _rounded_target_accuracy(y_true, y_pred):
    # Keras' binary accuracy compares the target itself with the rounded prediction: 0 for any soft target.
    return keras.metrics.binary_accuracy(keras.ops.round(y_true), y_pred)


def without_optimizer(model: keras.Model) -> keras.Model:
    """A copy of `model` (a classifier or an ensemble of them) with its weights but not its optimizer, whose
    state (twice the weights, for Adam) serving never reads."""
    copy = type(model).from_config(model.get_config())
    _create_weights(copy, 1)
    copy.set_weights(model.get_weights())
    return copy
