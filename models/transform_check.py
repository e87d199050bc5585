"""The check that the Transform's output fits the model's configuration, and the error it raises.

They live apart from the Trainer's `run_fn` module because TFX reloads that module (and the Tuner's) on every
in-process run: an error class defined there would be a new class after each run, and `except` clauses holding
the earlier one would miss it.

Example:

>>> from textrnn.models.transform_check import TransformMismatchError
>>> from textrnn.errors import TextrnnError
>>> issubclass(TransformMismatchError, TextrnnError) and issubclass(TransformMismatchError, ValueError)
True
"""
import tensorflow_transform as tft

from textrnn.errors import TextrnnError
from textrnn.models.config import ModelConfig
from textrnn.preprocessing import features


class TransformMismatchError(TextrnnError, ValueError):
    """The Transform's output does not fit the model's configuration."""


def check_transform_fits(config: ModelConfig, tf_transform_output: tft.TFTransformOutput) -> None:
    """Fails unless every id the Transform gives has an embedding row, headlines are max_length ids long and
    the Transform gives the characters the model reads."""
    tokenizer = config.tokenizer
    words = tf_transform_output.vocabulary_size_by_name(features.VOCAB_NAME)
    if words + features.FIRST_WORD_ID > tokenizer.vocab_size:
        raise TransformMismatchError(
            f"the Transform's vocabulary has {words} words, which with padding and OOV need vocab_size "
            f"{words + features.FIRST_WORD_ID}, but the model's embedding has {tokenizer.vocab_size} rows: use the "
            "same vocab_size for the Transform and the Trainer")
    spec = tf_transform_output.transformed_feature_spec()
    shape = spec[features.TOKEN_IDS_KEY].shape
    if list(shape) != [tokenizer.max_length]:
        raise TransformMismatchError(
            f"the Transform pads headlines to {list(shape)} ids, the model is configured for max_length "
            f"{tokenizer.max_length}")
    chars = list(spec[features.CHAR_IDS_KEY].shape) if features.CHAR_IDS_KEY in spec else None
    if tokenizer.word_chars and chars != [tokenizer.max_length * tokenizer.word_chars]:
        raise TransformMismatchError(
            f"the model reads {tokenizer.word_chars} characters per word, but the Transform gives "
            + ("no characters" if chars is None else f"{chars} character ids per headline")
            + ": use the same word_chars for the Transform and the Trainer")
