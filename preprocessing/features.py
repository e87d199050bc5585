"""Names shared by the preprocessing graph, the models and the serving signatures."""
from preprocessing.records import LABEL_KEY, TEXT_KEY

TOKEN_IDS_KEY = "headline_ids"
VOCAB_NAME = "headline_vocab"

# Id layout of TOKEN_IDS_KEY: 0 pads, 1 is any word outside the vocabulary, vocabulary words start at 2
# (the layout of the book's Keras Tokenizer with oov_token).
PAD_ID = 0
OOV_ID = 1
FIRST_WORD_ID = 2

__all__ = ["LABEL_KEY", "TEXT_KEY", "TOKEN_IDS_KEY", "VOCAB_NAME", "PAD_ID", "OOV_ID", "FIRST_WORD_ID"]
