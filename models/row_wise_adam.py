"""Adam that updates only the embedding rows a batch looked up (the "lazy Adam" of large-vocabulary models).

An embedding's gradient is a `tf.IndexedSlices`: values for the rows the batch used. Keras's Adam turns it into
a dense [vocabulary, dimension] tensor and decays and rewrites both moments and every weight of the table at each
step, although a batch of 64 headlines touches a few hundred of its 20,000 rows. This optimizer applies Adam to
the touched rows only: their moments are decayed and updated, their weights moved; the other rows, and their
moments, are left as they are (TensorFlow Addons' LazyAdam semantics, which `tf.keras` no longer ships). Dense
gradients (the LSTMs, the head) get Keras's Adam unchanged.

Example:

>>> import numpy as np, keras
>>> from textrnn.models.row_wise_adam import RowWiseAdam
>>> table = keras.Variable(np.ones((4, 2), "float32"))
>>> optimizer = RowWiseAdam(learning_rate=0.1)
>>> import tensorflow as tf
>>> optimizer.apply([tf.IndexedSlices(tf.ones((1, 2)), tf.constant([2]), tf.constant([4, 2]))], [table])
>>> np.round(keras.ops.convert_to_numpy(table).astype(float), 3).tolist()  # only row 2 moved
[[1.0, 1.0], [1.0, 1.0], [0.9, 0.9], [1.0, 1.0]]
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="textrnn")
class RowWiseAdam(keras.optimizers.Adam):
    """Keras's Adam, but an `IndexedSlices` gradient (an embedding's) updates only its rows (see the module)."""

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        # Rows repeated within the batch: their gradients summed first, as the dense update would see them.
        rows, positions = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(tf.cast(gradient.values, variable.dtype), positions, tf.shape(rows)[0])
        lr = tf.cast(learning_rate, variable.dtype)
        step = tf.cast(self.iterations + 1, variable.dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, variable.dtype), tf.cast(self.beta_2, variable.dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))

        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        self.assign_sub(variable, tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))
