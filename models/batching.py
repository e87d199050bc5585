"""Length-bucketed batches: each batch is padded only to its longest headline instead of `max_length`.

The Transform pads every headline to `max_length` ids (40), while headlines average about 11 tokens; an LSTM
runs every step it is given, masked or not, so most of a fixed-width epoch is spent on padding. Here each
epoch takes a fresh random order (through the same shuffle buffer as full-width batches), sorts it by length
within windows of `window_batches` batches, cuts the windows into batches, shuffles the batches within each
window and trims every batch to its longest row. Every example is seen exactly once per epoch, padding stays
at the end (masked, so the LSTMs stay cuDNN-eligible), and only the last batch of an epoch is short.
"""
from typing import Dict

import numpy as np
import tensorflow as tf

from textrnn.preprocessing import features

# Examples in the shuffle buffer that orders each epoch, bucketed or not.
SHUFFLE_BUFFER_SIZE = 10_000


def token_lengths(ids: np.ndarray) -> np.ndarray:
    """Real tokens per row of end-padded ids ([n, max_length] -> [n])."""
    return (ids != features.PAD_ID).sum(axis=1).astype(np.int32)


def bucketed_batches(inputs: Dict[str, np.ndarray], labels: np.ndarray, batch_size: int, shuffle: bool,
                     window_batches: int, shuffle_buffer: int = SHUFFLE_BUFFER_SIZE) -> tf.data.Dataset:
    """(features, label) batches of in-memory examples, each trimmed to its longest headline.

    `inputs[TOKEN_IDS_KEY]` holds end-padded ids; other inputs pass through per example. With `shuffle`, the
    order (through a `shuffle_buffer`-example shuffle buffer), the windows and the batch order change every
    epoch (seeded by TensorFlow's global seed); without it the examples are sorted by length once and batched
    in that order, which is all validation needs. The larger `window_batches`, the less padding (at 64
    headlines per batch, 50 batches leave about 4 %), but the more alike the lengths within a batch; 1 keeps
    the batches of the shuffle buffer's order and only trims them.

    Example:

    >>> import numpy as np
    >>> ids = np.array([[5, 6, 0, 0], [7, 0, 0, 0], [8, 9, 4, 0]])
    >>> batches = bucketed_batches({"headline_ids": ids}, np.array([1, 0, 1]), batch_size=2, shuffle=False,
    ...                            window_batches=50)
    >>> [tuple(batch["headline_ids"].shape) for batch, _ in batches.as_numpy_iterator()]
    [(2, 2), (1, 3)]
    """
    ids = inputs[features.TOKEN_IDS_KEY]
    lengths = tf.constant(token_lengths(ids))
    count = len(labels)
    tensors = {key: tf.constant(value) for key, value in inputs.items()}
    label_tensor = tf.constant(labels)

    def by_length(indices):
        return tf.gather(indices, tf.argsort(tf.gather(lengths, indices), stable=True))

    order = tf.data.Dataset.range(count)
    if shuffle:
        order = order.shuffle(shuffle_buffer, reshuffle_each_iteration=True)
        window = batch_size * window_batches
    else:
        window = count
    batches = order.batch(window).map(by_length).unbatch().batch(batch_size)
    batch_count = -(-count // batch_size)
    if shuffle:  # within the window: batches then follow the shuffle buffer's order, as unbucketed ones do
        batches = batches.shuffle(window_batches, reshuffle_each_iteration=True)
    batches = batches.apply(tf.data.experimental.assert_cardinality(batch_count))

    def gather(indices):
        width = tf.maximum(tf.reduce_max(tf.gather(lengths, indices)), 1)
        rows = {key: tf.gather(value, indices) for key, value in tensors.items()}
        rows[features.TOKEN_IDS_KEY] = rows[features.TOKEN_IDS_KEY][:, :width]
        return rows, tf.gather(label_tensor, indices)

    return batches.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
