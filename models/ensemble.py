"""Several trained classifiers served as one model."""
from typing import Sequence

import keras

from textrnn.preprocessing import features


@keras.saving.register_keras_serializable(package="textrnn")
class EnsembleClassifier(keras.Model):
    """The mean of its members' probabilities: classifiers trained apart (other seeds or configurations) on
    the same Transform output, exported and served as one model through the same signatures.

    Members that read characters get `headline_chars`; the others ignore it.

    Example:

    >>> import numpy as np
    >>> from textrnn import BiLSTMClassifier
    >>> from textrnn.models.ensemble import EnsembleClassifier
    >>> members = [BiLSTMClassifier.from_preset("book-bilstm", vocab_size=100) for _ in range(2)]
    >>> ensemble = EnsembleClassifier(members)
    >>> ids = {"headline_ids": np.array([[5, 17, 2, 0]])}
    >>> mean = (members[0].predict(ids, verbose=0) + members[1].predict(ids, verbose=0)) / 2
    >>> bool(np.allclose(ensemble.predict(ids, verbose=0), mean, atol=1e-6))
    True
    """

    def __init__(self, members: Sequence[keras.Model], **kwargs):
        super().__init__(**kwargs)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)

    @property
    def word_chars(self) -> int:
        """Characters per word the members read (the largest; 0: none reads characters)."""
        return max(getattr(member, "word_chars", 0) for member in self.members)

    def call(self, inputs, training=None):
        probabilities = [member(self._inputs_of(member, inputs), training=training) for member in self.members]
        return keras.ops.mean(keras.ops.stack(probabilities), axis=0)

    @staticmethod
    def _inputs_of(member, inputs):
        if getattr(member, "word_chars", 0) or not isinstance(inputs, dict):
            return inputs
        return {features.TOKEN_IDS_KEY: inputs[features.TOKEN_IDS_KEY]}

    def get_config(self):
        return {**super().get_config(), "members": [keras.saving.serialize_keras_object(m) for m in self.members]}

    @classmethod
    def from_config(cls, config):
        members = [keras.saving.deserialize_keras_object(member) for member in config.pop("members")]
        return cls(members, **config)
