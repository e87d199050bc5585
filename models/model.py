"""The chapter's classifier: embedding, bidirectional LSTMs, a dense layer and a sigmoid output."""
import keras

from models.config import ModelConfig
from preprocessing import features


def build_model(config: ModelConfig) -> keras.Model:
    """Returns a compiled Keras model that maps `headline_ids` to the probability of sarcasm.

    LSTM layers keep cuDNN's requirements (tanh/sigmoid, no recurrent dropout); padding is at the end and
    masked, so the last real word, not padding, ends each direction.
    """
    ids = keras.Input(shape=(config.max_length,), dtype="int64", name=features.TOKEN_IDS_KEY)
    x = keras.layers.Embedding(config.vocab_size, config.embedding_dim, mask_zero=True, name="embedding")(ids)
    for depth, units in enumerate(config.lstm_units):
        last = depth == len(config.lstm_units) - 1
        lstm = keras.layers.LSTM(units, dropout=config.dropout, return_sequences=not last)
        x = keras.layers.Bidirectional(lstm, name=f"bilstm_{depth}")(x)
    x = keras.layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model({features.TOKEN_IDS_KEY: ids}, probability, name="textrnn")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model
