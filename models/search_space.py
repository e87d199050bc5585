"""What the Tuner searches: model hyperparameters that leave the Transform's output as it is.

SEARCH_SPACE (data, like the presets) maps ModelConfig settings (flat names) to the values the Tuner tries;
`lstm_units` values set the units of every BiLSTM layer of the config. The tokenizer settings (TokenizerConfig)
are not searchable: the Transform ran once for all trials. `embedding_dim` is not either: GloVe fixes it.
"""
import dataclasses
from typing import Any, Dict, Mapping, Tuple

from textrnn.models.config import POOLINGS, ModelConfig, TokenizerConfig

SEARCH_SPACE: Dict[str, Tuple[Any, ...]] = {
    "pooling": POOLINGS,
    "lstm_units": (64, 128),
    "dropout": (0.3, 0.5),
    "learning_rate": (5e-4, 1e-3, 2e-3),
    "learned_embedding_dim": (0, 64),
}


def apply_values(config: ModelConfig, values: Mapping[str, Any]) -> ModelConfig:
    """`config` with hyperparameter `values` (KerasTuner's, names as in SEARCH_SPACE) applied.

    Example:

    >>> from textrnn.models.config import ModelConfig
    >>> tuned = apply_values(ModelConfig.create(lstm_units=(64, 64)), {"lstm_units": 128, "pooling": "max"})
    >>> tuned.architecture.lstm_units, tuned.architecture.pooling
    ((128, 128), 'max')
    """
    fixed = sorted(set(values) & ({f.name for f in dataclasses.fields(TokenizerConfig)} | {"embedding_dim"}))
    if fixed:
        raise ValueError(f"the Tuner cannot change {fixed}: the Transform's output and GloVe fix them")
    changes = dict(values)
    if "lstm_units" in changes:
        changes["lstm_units"] = (int(changes["lstm_units"]),) * len(config.architecture.lstm_units)
    return config.replace(**changes)


def choose(hp, config: ModelConfig, space: Mapping[str, Tuple[Any, ...]] = SEARCH_SPACE) -> ModelConfig:
    """The config of one trial: `config` with a value of KerasTuner's `hp` for every field of `space`. The
    config's own values are the defaults (what `hp` gives outside a search); a random search draws every
    trial, the first included, at random."""
    values, settings = {}, config.to_dict()
    for name, choices in space.items():
        current = settings[name]
        current = current[0] if name == "lstm_units" else current
        values[name] = hp.Choice(name, list(choices), default=current if current in choices else choices[0])
    return apply_values(config, values)
