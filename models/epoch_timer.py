"""A Keras callback that records each epoch's wall time; it imports only Keras, so plain Keras scripts (the
notebook baseline) use it without TFX's start-up cost."""
import time
from typing import List

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of each training epoch (validation included), and of the whole `fit` from its
    start to its end (`fit_seconds`: the epochs plus what Keras does before, between and after them).

    Example:

    >>> import keras, numpy as np
    >>> from textrnn.models.epoch_timer import EpochTimer
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(loss="mse")
    >>> timer = EpochTimer()
    >>> _ = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=2, callbacks=[timer], verbose=0)
    >>> len(timer.seconds), timer.fit_seconds >= sum(timer.seconds)
    (2, True)
    """

    def __init__(self):
        super().__init__()
        self.seconds: List[float] = []
        self.fit_seconds = 0.0

    def on_train_begin(self, logs=None):
        self._fit_start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.fit_seconds = time.perf_counter() - self._fit_start

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
