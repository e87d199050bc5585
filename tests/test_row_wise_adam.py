"""RowWiseAdam (models/row_wise_adam.py): Adam on the rows a batch used, the other rows and their moments left."""
import keras
import numpy as np
import tensorflow as tf

from textrnn.models.row_wise_adam import RowWiseAdam


def _steps(optimizer, gradients, rows=6, width=3):
    table = keras.Variable(np.arange(rows * width, dtype="float32").reshape(rows, width) / 10)
    for gradient in gradients:
        optimizer.apply([gradient], [table])
    return keras.ops.convert_to_numpy(table), optimizer


def test_on_rows_every_step_touches_it_is_keras_adam():
    """When each step uses every row (repeats included), lazy and dense Adam are the same algorithm."""
    rng = np.random.default_rng(0)
    gradients = []
    for _ in range(5):
        indices = np.concatenate([np.arange(6), rng.integers(0, 6, 4)])  # every row, some twice
        gradients.append(tf.IndexedSlices(tf.constant(rng.normal(size=(10, 3)), tf.float32),
                                          tf.constant(indices), tf.constant([6, 3])))
    row_wise, _ = _steps(RowWiseAdam(learning_rate=0.01), gradients)
    dense, _ = _steps(keras.optimizers.Adam(learning_rate=0.01), [tf.convert_to_tensor(g) for g in gradients])
    np.testing.assert_allclose(row_wise, dense, rtol=1e-5, atol=1e-6)


def test_rows_a_step_does_not_use_keep_their_weights_and_moments():
    first = tf.IndexedSlices(tf.ones((2, 3)), tf.constant([0, 1]), tf.constant([6, 3]))
    second = tf.IndexedSlices(tf.ones((1, 3)), tf.constant([4]), tf.constant([6, 3]))
    before, _ = _steps(RowWiseAdam(learning_rate=0.1), [])
    after_first, _ = _steps(RowWiseAdam(learning_rate=0.1), [first])
    table, optimizer = _steps(RowWiseAdam(learning_rate=0.1), [first, second])
    np.testing.assert_array_equal(table[[2, 3, 5]], before[[2, 3, 5]])  # never used
    np.testing.assert_array_equal(table[[0, 1]], after_first[[0, 1]])  # not used by the second step
    momentum = keras.ops.convert_to_numpy(optimizer._momentums[0])
    np.testing.assert_allclose(momentum[[0, 1]], 0.1, rtol=1e-6)  # (1 - beta_1) x 1 after step 1, not decayed since
    np.testing.assert_allclose(momentum[4], 0.1, rtol=1e-6)
    assert not momentum[[2, 3, 5]].any()
    # Keras's Adam moves row 0 again in the second step (its momentum decayed but not zero).
    dense, _ = _steps(keras.optimizers.Adam(learning_rate=0.1), [tf.convert_to_tensor(first), tf.convert_to_tensor(second)])
    assert not np.allclose(dense[0], after_first[0])


def test_a_model_compiled_with_it_trains_its_embedding_row_wise_and_saves(tmp_path, monkeypatch):
    from textrnn.models.model import BiLSTMClassifier

    seen = []  # the gradient types update_step gets as fit traces the train step
    update_step = RowWiseAdam.update_step
    monkeypatch.setattr(RowWiseAdam, "update_step", lambda self, gradient, variable, lr: (
        seen.append((variable.name, isinstance(gradient, tf.IndexedSlices))), update_step(self, gradient, variable, lr))[1])
    model = BiLSTMClassifier.from_preset("default", vocab_size=50, embedding_dim=8, lstm_units=(4,), dense_units=4,
                                         row_wise_embedding_updates=True)
    assert isinstance(model.optimizer, RowWiseAdam)
    ids = np.random.default_rng(0).integers(1, 50, size=(16, 40))
    model.fit(ids, np.arange(16) % 2, epochs=1, verbose=0)
    assert {name for name, sparse in seen if sparse} == {model.embedding.embeddings.value.name}
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, RowWiseAdam)
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-5)
