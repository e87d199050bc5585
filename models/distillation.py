"""Distillation: one model learns the probabilities of an ensemble (Hinton et al., 2015, "Distilling the knowledge
in a neural network"), so that it serves at the cost of one model what the ensemble learnt.

The teacher labels the training split, and `distillation_copies` altered copies of each training headline, with
its probabilities; the student (the same architecture with one BiLSTM of `student_lstm_units`) is trained on
them with binary cross-entropy, which takes probabilities as targets. The copies follow Tang et al., 2019
("Distilling task-specific knowledge from BERT into simple neural networks"), whose BiLSTM students gained most
from them: each word is masked (made the out-of-vocabulary id) with probability `MASK_RATE`, and a share
`SPAN_RATE` of the copies keeps only a contiguous part of the headline. Only the teacher labels the copies.
The test split is never read; early stopping still watches the eval split's loss on its labels.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from textrnn.models.batching import token_lengths, trim_to_longest
from textrnn.models.config import ModelConfig
from textrnn.preprocessing import features

MASK_RATE = 0.1  # Tang et al.'s p_mask
SPAN_RATE = 0.25  # Tang et al.'s p_ng; our parts keep at least half of the headline, which is short already


def student_config(config: ModelConfig) -> ModelConfig:
    """The config of the model distilled from `config`'s ensemble: one model with one BiLSTM of
    `student_lstm_units`, the rest (embedding, pooling, dropout, optimizer, seed) as the teacher's models.

    Example:

    >>> from textrnn.models.config import ModelConfig
    >>> teacher = ModelConfig.create(lstm_units=(128,), ensemble_size=5, student_lstm_units=64, seed=3)
    >>> student = student_config(teacher).training
    >>> student_config(teacher).architecture.lstm_units, student.ensemble_size, student.student_lstm_units, student.seed
    ((64,), 1, 0, 3)
    """
    units = config.training.student_lstm_units
    if not units:
        raise ValueError("student_config needs student_lstm_units above 0")
    return dataclasses.replace(
        config.replace(lstm_units=(units,)),
        training=dataclasses.replace(config.training, ensemble_size=1, student_lstm_units=0, distillation_copies=0))


def altered_copies(ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One altered copy of each row of end-padded word ids: words masked, some rows cut to a contiguous part
    (at least half of their words), moved to the start and padded again.

    Example:

    >>> import numpy as np
    >>> ids = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 0, 0, 0, 0]])
    >>> copy = altered_copies(ids, np.random.default_rng(0))
    >>> copy.shape, bool(((copy == 0) | (copy == 1) | np.isin(copy, ids)).all())
    ((2, 6), True)
    """
    lengths = token_lengths(ids)
    rows, width = ids.shape
    kept = np.where(rng.random(rows) < SPAN_RATE,
                    rng.integers((lengths + 1) // 2, lengths + 1), lengths).astype(np.int64)
    starts = rng.integers(0, lengths - kept + 1)
    positions = np.arange(width)[None, :]
    moved = np.take_along_axis(ids, np.minimum(starts[:, None] + positions, width - 1), axis=1)
    copy = np.where(positions < kept[:, None], moved, features.PAD_ID)
    masked = (rng.random(copy.shape) < MASK_RATE) & (copy != features.PAD_ID)
    return np.where(masked, features.OOV_ID, copy).astype(ids.dtype)


def teacher_probabilities(teacher, inputs: dict, batch_size: int = 512) -> np.ndarray:
    """The teacher's probability for each row of `inputs` (numpy arrays by feature), scored in batches of similar
    lengths, each trimmed to its longest headline (as the Trainer's batches are)."""
    order = np.argsort(token_lengths(inputs[features.TOKEN_IDS_KEY]), kind="stable")
    batches = tf.data.Dataset.from_tensor_slices({key: value[order] for key, value in inputs.items()}) \
        .batch(batch_size).map(trim_to_longest)
    probabilities = np.empty(len(order), np.float32)
    probabilities[order] = teacher.predict(batches, verbose=0)[:, 0]
    return probabilities


def transfer_set(teacher, inputs: dict, copies: int, seed=None):
    """The student's training examples: `inputs` (the training split's features, as numpy arrays) and `copies`
    altered copies of them (`altered_copies`), with the teacher's probabilities as targets."""
    rng = np.random.default_rng(seed)
    ids = inputs[features.TOKEN_IDS_KEY]
    if copies and set(inputs) != {features.TOKEN_IDS_KEY}:
        raise ValueError(f"distillation_copies alter word ids only; the model also reads {sorted(inputs)}")
    if copies:
        inputs = {features.TOKEN_IDS_KEY: np.concatenate([ids, *(altered_copies(ids, rng) for _ in range(copies))])}
    return inputs, teacher_probabilities(teacher, inputs)


def split_arrays(examples: tf.data.Dataset):
    """The features (numpy arrays by name) and labels of single (features, label) `examples`, in their order."""
    batches = list(examples.batch(4096).as_numpy_iterator())
    return ({key: np.concatenate([inputs[key] for inputs, _ in batches]) for key in batches[0][0]},
            np.concatenate([labels for _, labels in batches]))
