"""Length-bucketed batches: each batch is padded only to its longest headline instead of `max_length`.

The Transform pads every headline to `max_length` ids (40), while headlines average about 11 tokens; an LSTM
runs every step it is given, masked or not, so most of a fixed-width epoch is spent on padding. Here each
epoch takes a fresh random order (through the same shuffle buffer as full-width batches), sorts it by length
within windows of `window_batches` batches, cuts the windows into batches, shuffles the batches within each
window and trims every batch to its longest row. Every example is seen exactly once per epoch, padding stays
at the end (masked, so the LSTMs stay cuDNN-eligible), and only the last batch of an epoch is short. Only a
shuffle buffer and a window are held at a time, so the examples may be streamed from disk.
"""
import numpy as np
import tensorflow as tf

from textrnn.preprocessing import features

# Examples in the shuffle buffer that orders each epoch, bucketed or not.
SHUFFLE_BUFFER_SIZE = 10_000


def token_lengths(ids: np.ndarray) -> np.ndarray:
    """Real tokens per row of end-padded ids ([n, max_length] -> [n])."""
    return (ids != features.PAD_ID).sum(axis=1).astype(np.int32)


def _row_lengths(ids: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(ids != features.PAD_ID, tf.int32), axis=-1)


def bucketed_batches(examples: tf.data.Dataset, count: int, batch_size: int, shuffle: bool, window_batches: int,
                     shuffle_buffer: int = SHUFFLE_BUFFER_SIZE) -> tf.data.Dataset:
    """(features, label) batches of the `count` single (features, label) `examples`, each batch trimmed to its
    longest headline.

    `features[TOKEN_IDS_KEY]` holds end-padded ids, trimmed with their characters (`CHAR_IDS_KEY`) if any;
    other features pass through. With `shuffle`, the order
    (through a `shuffle_buffer`-example shuffle buffer), the windows and the batch order change every epoch
    (seeded by TensorFlow's global seed); without it every epoch gives the same batches, sorted by length within
    each window, which is all validation needs. The larger `window_batches`, the less padding (at 64 headlines
    per batch, 50 batches leave about 4 %), but the more alike the lengths within a batch; 1 keeps the batches
    of the shuffle buffer's order and only trims them.

    Example:

    >>> import numpy as np, tensorflow as tf
    >>> ids = np.array([[5, 6, 0, 0], [7, 0, 0, 0], [8, 9, 4, 0]])
    >>> examples = tf.data.Dataset.from_tensor_slices(({"headline_ids": ids}, np.array([1, 0, 1])))
    >>> batches = bucketed_batches(examples, 3, batch_size=2, shuffle=False, window_batches=50)
    >>> [tuple(batch["headline_ids"].shape) for batch, _ in batches.as_numpy_iterator()]
    [(2, 2), (1, 3)]
    """
    if shuffle:
        examples = examples.shuffle(shuffle_buffer, reshuffle_each_iteration=True)

    def by_length(inputs, labels):
        order = tf.argsort(_row_lengths(inputs[features.TOKEN_IDS_KEY]), stable=True)
        return tf.nest.map_structure(lambda tensor: tf.gather(tensor, order), (inputs, labels))

    batches = examples.batch(batch_size * window_batches).map(by_length).unbatch().batch(batch_size)
    if shuffle:  # within the window: batches then follow the shuffle buffer's order, as unbucketed ones do
        batches = batches.shuffle(window_batches, reshuffle_each_iteration=True)
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))

    def trim(inputs, labels):
        return trim_to_longest(inputs), labels

    return batches.map(trim, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def trim_to_longest(inputs: dict) -> dict:
    """The batch `inputs` with the ids (and characters, if any) cut after the longest headline's last word
    (at least one step)."""
    ids = inputs[features.TOKEN_IDS_KEY]
    width = tf.maximum(tf.reduce_max(_row_lengths(ids)), 1)
    trimmed = {**inputs, features.TOKEN_IDS_KEY: ids[:, :width]}
    if features.CHAR_IDS_KEY in inputs:
        chars = inputs[features.CHAR_IDS_KEY]
        trimmed[features.CHAR_IDS_KEY] = chars[:, :width * (tf.shape(chars)[1] // tf.shape(ids)[1])]
    return trimmed
