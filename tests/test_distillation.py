"""Distillation's parts without a pipeline: the student's config, the altered copies, the teacher's targets and the
settings that go with them (the distilled preset end to end: tests/test_serving_runtime.py)."""
import doctest
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from textrnn import BiLSTMClassifier
from textrnn.components.run_artifacts import training_outputs
from textrnn.models import distillation, train
from textrnn.models.batching import token_lengths
from textrnn.models.config import ModelConfig
from textrnn.models.presets import get_preset
from textrnn.preprocessing import features


def test_docstring_examples_run():
    result = doctest.testmod(distillation)
    assert result.attempted > 0 and result.failed == 0, result


def headline_ids(rows=4000, width=40, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 25, rows)
    ids = rng.integers(features.FIRST_WORD_ID, 5000, (rows, width))
    return np.where(np.arange(width)[None, :] < lengths[:, None], ids, features.PAD_ID)


def test_altered_copies_mask_a_tenth_of_the_words_and_cut_a_quarter_of_the_headlines_to_at_least_half():
    ids = headline_ids()
    copies = distillation.altered_copies(ids, np.random.default_rng(1))
    lengths, copy_lengths = token_lengths(ids), token_lengths(copies)
    # Padding stays at the end: every row is its words, then only padding.
    assert ((copies != features.PAD_ID) == (np.arange(ids.shape[1])[None, :] < copy_lengths[:, None])).all()
    cut = copy_lengths < lengths
    assert cut.mean() == pytest.approx(distillation.SPAN_RATE * 0.9, abs=0.03)  # a part may be the whole headline
    assert (copy_lengths >= (lengths + 1) // 2).all()
    words = copies != features.PAD_ID
    masked = copies == features.OOV_ID
    assert masked[words].mean() == pytest.approx(distillation.MASK_RATE, abs=0.01)
    # What is not masked is a contiguous part of the original, in order.
    for row in np.flatnonzero(~masked.any(axis=1))[:200]:
        part, original = copies[row, :copy_lengths[row]], ids[row, :lengths[row]]
        assert any((original[start:start + len(part)] == part).all() for start in range(len(original)))


def test_the_teachers_probabilities_are_its_predictions_in_the_examples_order():
    keras.utils.set_random_seed(0)
    teacher = BiLSTMClassifier.from_preset("default", vocab_size=5000, lstm_units=(8,), embedding_dim=8)
    ids = headline_ids(rows=700)
    expected = teacher.predict({features.TOKEN_IDS_KEY: ids}, verbose=0)[:, 0]
    probabilities = distillation.teacher_probabilities(teacher, {features.TOKEN_IDS_KEY: ids}, batch_size=64)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_the_transfer_set_holds_the_split_and_its_copies_labelled_by_the_teacher():
    keras.utils.set_random_seed(0)
    teacher = BiLSTMClassifier.from_preset("default", vocab_size=5000, lstm_units=(8,), embedding_dim=8)
    ids = headline_ids(rows=300)
    inputs, targets = distillation.transfer_set(teacher, {features.TOKEN_IDS_KEY: ids}, copies=2, seed=3)
    assert inputs[features.TOKEN_IDS_KEY].shape == (900, 40) and targets.shape == (900,)
    np.testing.assert_array_equal(inputs[features.TOKEN_IDS_KEY][:300], ids)
    np.testing.assert_allclose(targets, teacher.predict(inputs, verbose=0)[:, 0], atol=1e-5)
    assert 0 < targets.min() and targets.max() < 1  # probabilities, not labels
    with pytest.raises(ValueError, match="alter word ids only"):
        distillation.transfer_set(teacher, {features.TOKEN_IDS_KEY: ids, features.CHAR_IDS_KEY: ids}, copies=1)


def test_a_student_learns_the_teachers_probabilities_and_its_accuracy_counts_rounded_targets(tmp_path):
    config = ModelConfig.create(vocab_size=300, embedding_dim=8, lstm_units=(16,), epochs=3, seed=0,
                                validations_per_epoch=1, student_lstm_units=4, distillation_copies=1, batch_size=32)
    keras.utils.set_random_seed(0)
    teacher = BiLSTMClassifier.from_preset("default", vocab_size=300, embedding_dim=8, lstm_units=(8,))
    ids = headline_ids(rows=256, width=12) % 300
    examples = tf.data.Dataset.from_tensor_slices(({features.TOKEN_IDS_KEY: ids}, np.zeros(256, np.int64)))
    validation = examples.batch(64)
    student, history = train.distill(config, teacher, examples, validation, str(tmp_path))
    assert student.lstm_units == [4] and history["training_examples"] == 512
    assert len(history["loss"]) == 3 and history["epoch"] == [1, 2, 3]
    # Training accuracy compares with the teacher's rounded probabilities, not with 0 for every soft target.
    assert history["accuracy"][-1] > 0.5
    # Saved with the usual loss and accuracy, on labels: it loads with nothing but textrnn's classes.
    student.save(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    assert loaded.loss == "binary_crossentropy"
    assert loaded.evaluate(validation, return_dict=True, verbose=0)["accuracy"] == pytest.approx(
        float((student.predict(validation, verbose=0)[:, 0] < 0.5).mean()), abs=1e-6)


@pytest.mark.parametrize("settings, message", [
    ({"distillation_copies": 2}, "distillation_copies needs student_lstm_units"),
    ({"student_lstm_units": -1}, r"student_lstm_units must be 0 \(off\) or more"),
    ({"student_lstm_units": 8, "distillation_copies": 1, "word_chars": 4}, "alter word ids only"),
])
def test_distillation_settings_that_do_not_fit_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.create(**settings)


def test_the_distilled_preset_is_best_with_a_student():
    distilled, best = get_preset("distilled").config, get_preset("best").config
    assert distilled.replace(student_lstm_units=0, distillation_copies=0) == best
    student = distillation.student_config(distilled)
    assert student.architecture.lstm_units == (64,) and student.training.ensemble_size == 1
    assert get_preset("distilled").settings == {}  # one model: the single model's serving budgets


def test_a_distilled_runs_summary_gives_its_teachers_epochs_and_the_students_examples(tmp_path):
    student = {"loss": [0.5, 0.4, 0.45], "val_loss": [0.4, 0.3, 0.35], "epoch": [0.25, 0.5, 0.75]}
    for teacher, epochs in (({"members": [dict(student, val_loss=[0.4, 0.35, 0.3]), student]}, [0.75, 0.75]),
                            (student, [0.75])):
        (tmp_path / "history.json").write_text(json.dumps(dict(student, training_examples=300, teacher=teacher)))
        outputs = training_outputs(str(tmp_path))
        assert (outputs["epochs"], outputs["best_epoch"], outputs["training_examples"]) == (0.75, 0.5, 300)
        assert outputs["teacher"]["epochs"] == epochs
    (tmp_path / "history.json").write_text(json.dumps(student))
    assert "teacher" not in training_outputs(str(tmp_path))
