"""The tf.Transform graph: headline text to fixed-length token ids, applied identically at serving."""
import tensorflow as tf
import tensorflow_transform as tft

from textrnn.preprocessing import features

# Punctuation becomes a space, as in Keras' Tokenizer filters, or a token of its own; apostrophes inside words
# stay ("don't").
_PUNCTUATION = r"([^\pL\pN'\s])"
_EDGE_APOSTROPHES = (r"'+(\s|$)", r"(^|\s)'+")


def normalize(text: tf.Tensor, punctuation_tokens: bool = False) -> tf.Tensor:
    """Lowercases a string tensor and replaces punctuation by spaces, or with `punctuation_tokens` puts spaces
    around each mark (quotes at word edges become "'")."""
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _PUNCTUATION, r" \1 " if punctuation_tokens else " ")
    for pattern in _EDGE_APOSTROPHES:
        text = tf.strings.regex_replace(text, pattern, " ' " if punctuation_tokens else " ")
    return text


def tokenize(text: tf.Tensor, punctuation_tokens: bool = False) -> tf.RaggedTensor:
    """Splits [batch] strings into a ragged [batch, None] tensor of words (see `normalize`)."""
    return tf.strings.split(normalize(text, punctuation_tokens))


def preprocessing_fn(inputs, custom_config=None):
    """Maps raw `headline` and `is_sarcastic` to padded `headline_ids` and the label.

    custom_config (the pipeline passes ModelConfig.tokenizer_settings()) sets `vocab_size` (ids in
    [0, vocab_size), including padding and OOV), `max_length` (longer headlines are truncated at the end,
    shorter ones padded at the end) and `punctuation_tokens` (see `tokenize`).
    """
    config = custom_config or {}
    missing = [name for name in features.TOKENIZER_SETTINGS if name not in config]
    if missing:
        raise ValueError(f"the Transform's custom_config lacks {missing}: pass ModelConfig.tokenizer_settings()")
    vocab_size, max_length = int(config["vocab_size"]), int(config["max_length"])

    text = _as_vector(inputs[features.TEXT_KEY])
    words = tokenize(text, bool(config["punctuation_tokens"]))
    vocab = tft.vocabulary(words, top_k=vocab_size - features.FIRST_WORD_ID, vocab_filename=features.VOCAB_NAME)
    tft.vocabulary(words, vocab_filename="headline_vocab_full")  # untruncated, same order: GloVe coverage analysis
    word_index = tft.apply_vocabulary(words, vocab, default_value=features.OOV_ID - features.FIRST_WORD_ID)
    ids = word_index + features.FIRST_WORD_ID
    padded = ids.to_tensor(default_value=features.PAD_ID, shape=[None, max_length])

    outputs = {features.TOKEN_IDS_KEY: padded}
    if features.LABEL_KEY in inputs:
        outputs[features.LABEL_KEY] = _as_vector(inputs[features.LABEL_KEY])
    return outputs


def _as_vector(tensor):
    """Turns a [batch, 1] dense feature into [batch]."""
    return tf.reshape(tensor, [-1])
