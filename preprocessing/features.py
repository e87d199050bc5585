"""Names shared by the preprocessing graph, the models and the serving signatures."""
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

# The settings that shape the Transform's output, the fields of models/config.py's TokenizerConfig (which holds
# their values and checks, on import, that it has exactly these fields in this order).
TOKENIZER_SETTINGS = ("vocab_size", "max_length", "punctuation_tokens", "word_chars", "glove_vocabulary")

__all__ = ["TOKENIZER_SETTINGS", "LABEL_KEY", "TEXT_KEY", "TOKEN_IDS_KEY", "CHAR_IDS_KEY", "CHAR_VOCAB_SIZE", "VOCAB_NAME", "PAD_ID", "OOV_ID", "FIRST_WORD_ID"]
