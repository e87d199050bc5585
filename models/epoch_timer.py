"""A Keras callback that records each epoch's wall time; it imports only Keras, so plain Keras scripts (the
notebook baseline) use it without TFX's start-up cost."""
import time
from typing import List

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of each training epoch (validation included).

    Example:

    >>> import keras, numpy as np
    >>> from textrnn.models.epoch_timer import EpochTimer
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(loss="mse")
    >>> timer = EpochTimer()
    >>> _ = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=2, callbacks=[timer], verbose=0)
    >>> len(timer.seconds)
    2
    """

    def __init__(self):
        super().__init__()
        self.seconds: List[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
