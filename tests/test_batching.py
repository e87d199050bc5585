"""Length-bucketed batches: every example once per epoch, reshuffled, padded only at the end and only to the
longest headline of its batch."""
import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from textrnn.models.batching import bucketed_batches, token_lengths
from textrnn.preprocessing.features import TOKEN_IDS_KEY


def headlines(count, max_length=40, seed=0):
    """End-padded ids of headline-like lengths (1 to max_length, most near 11), each row unique by its first id."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.poisson(10, count) + 1, 1, max_length)
    lengths[:3] = [max_length, 1, 0]  # the longest possible, one token, and a headline with no tokens at all
    ids = np.zeros((count, max_length), dtype=np.int64)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(2, 500, length)
        ids[row, 0] = 1000 + row if length else 0
    return ids, rng.integers(0, 2, count)


def examples_of(ids, labels):
    return tf.data.Dataset.from_tensor_slices(({TOKEN_IDS_KEY: ids}, labels))


def epoch(dataset, max_length=40):
    """The epoch's rows padded back to max_length, with labels, and each batch's (width, longest row)."""
    rows, widths = [], []
    for batch, labels in dataset.as_numpy_iterator():
        ids = batch[TOKEN_IDS_KEY]
        lengths = token_lengths(ids)
        for row, length in zip(ids, lengths):
            assert not row[length:].any(), f"padding inside a headline: {row}"
        widths.append((ids.shape[1], int(lengths.max())))
        padded = np.pad(ids, ((0, 0), (0, max_length - ids.shape[1])))
        rows += [tuple(r) + (int(label),) for r, label in zip(padded, labels)]
    return rows, widths


@pytest.mark.parametrize("count,batch_size", [(2000, 64), (257, 32), (5, 64)])
def test_every_example_once_per_epoch_reshuffled_with_only_end_padding(count, batch_size):
    ids, labels = headlines(count)
    keras.utils.set_random_seed(3)
    dataset = bucketed_batches(examples_of(ids, labels), len(labels), batch_size, shuffle=True, window_batches=4)
    expected = collections.Counter(tuple(r) + (int(label),) for r, label in zip(ids, labels))
    first, first_widths = epoch(dataset)
    second, _ = epoch(dataset)
    assert collections.Counter(first) == expected and collections.Counter(second) == expected
    assert count <= batch_size or first != second
    for width, longest in first_widths:
        assert width == max(longest, 1)  # trimmed to the longest row; one step for a batch of empty headlines
    sizes = [len(batch[1]) for batch in dataset.as_numpy_iterator()]
    assert len(sizes) == -(-count // batch_size) and sorted(sizes)[1:] == [batch_size] * (len(sizes) - 1)


def test_bucketing_removes_most_padding_from_headline_lengths():
    ids, labels = headlines(20_000)
    dataset = bucketed_batches(examples_of(ids, labels), len(labels), 64, shuffle=True, window_batches=50)
    padded_steps = sum(b[TOKEN_IDS_KEY].size for b, _ in dataset.as_numpy_iterator())
    real = int(token_lengths(ids).sum())
    assert padded_steps < 1.1 * real < 0.4 * ids.size


def test_without_shuffle_the_batches_are_the_same_every_epoch():
    ids, labels = headlines(300)
    dataset = bucketed_batches(examples_of(ids, labels), len(labels), 64, shuffle=False, window_batches=50)
    first, widths = epoch(dataset)
    assert epoch(dataset)[0] == first and collections.Counter(first) == collections.Counter(
        tuple(r) + (int(label),) for r, label in zip(ids, labels))
    assert [w for w, _ in widths] == sorted(w for w, _ in widths)


def test_a_seed_repeats_the_epoch_order():
    ids, labels = headlines(500)

    def first_epoch(seed):
        keras.utils.set_random_seed(seed)
        return epoch(bucketed_batches(examples_of(ids, labels), len(labels), 32, shuffle=True, window_batches=50))[0]

    assert first_epoch(1) == first_epoch(1) != first_epoch(2)


@pytest.mark.parametrize("bucket_window", [0, 50])
def test_the_trainers_batches_run_without_tf_data_autotuning(bucket_window):
    # Its thread held up deleting the training iterator by about 10 s in half of the Trainer's runs, when `fit`
    # returned (benchmarks/results/performance.md, section 3).
    from textrnn.models.train import batch_examples

    ids, labels = headlines(300)
    batches = batch_examples(examples_of(ids, labels), len(ids), 32, True, bucket_window)
    assert batches.options().autotune.enabled is False
    assert sum(len(label) for _, label in batches.as_numpy_iterator()) == len(ids)
