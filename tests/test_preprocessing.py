"""The Transform graph's text handling: normalisation, token ids, padding and truncation."""
import tempfile

import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from textrnn.models.config import ModelConfig
from textrnn.preprocessing import features
from textrnn.preprocessing.preprocessing import normalize, preprocessing_fn, tokenize

RAW_SPEC = {
    "headline": tf.io.FixedLenFeature([1], tf.string),
    "is_sarcastic": tf.io.FixedLenFeature([1], tf.int64),
}


def transform(headlines, vocab_size, max_length, **config):
    data = [{"headline": [h], "is_sarcastic": [i % 2]} for i, h in enumerate(headlines)]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    config = {**ModelConfig().tokenizer_settings(), "punctuation_tokens": False, **config, "vocab_size": vocab_size,
              "max_length": max_length}
    with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        (rows, _), _ = (data, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, config)
        )
    return [list(row[features.TOKEN_IDS_KEY]) for row in rows]


def test_normalize_lowercases_and_strips_punctuation_but_keeps_inner_apostrophes():
    out = normalize(tf.constant(["Don't 'Quote' ME, ok?! Café—Über"])).numpy()[0].decode()
    assert out.split() == ["don't", "quote", "me", "ok", "café", "über"]


def test_tokenize_splits_on_any_whitespace():
    words = tokenize(tf.constant(["a  b\tc\nd", ""])).to_list()
    assert words == [[b"a", b"b", b"c", b"d"], []]


def test_punctuation_tokens_keeps_each_mark_as_a_token():
    words = tokenize(tf.constant(["Don't 'Quote' ME: it's FINE?!"]), punctuation_tokens=True).to_list()[0]
    assert [w.decode() for w in words] == ["don't", "'", "quote", "'", "me", ":", "it's", "fine", "?", "!"]


def test_the_transform_tokenizes_as_its_config_says():
    headlines = ["what? what? what?", "what"]
    assert transform(headlines, vocab_size=10, max_length=6) == [[2, 2, 2, 0, 0, 0], [2, 0, 0, 0, 0, 0]]
    # "what" (4 times) ranks before "?" (3 times).
    assert transform(headlines, vocab_size=10, max_length=6, punctuation_tokens=True) == [
        [2, 3, 2, 3, 2, 3], [2, 0, 0, 0, 0, 0]]


def test_ids_are_frequency_ranked_with_oov_and_post_padding():
    # "the" is most frequent (id 2), then "cat" (3); vocab_size 4 leaves room for two words only.
    ids = transform(["the cat", "the cat sat", "the dog"], vocab_size=4, max_length=4)
    assert ids == [[2, 3, 0, 0], [2, 3, 1, 0], [2, 1, 0, 0]]


@pytest.mark.slow
def test_long_headlines_are_truncated_at_the_end():
    ids = transform(["one two three four five six"], vocab_size=10, max_length=3)
    assert len(ids[0]) == 3 and 0 not in ids[0]
    full = transform(["one two three four five six"], vocab_size=10, max_length=6)
    assert ids[0] == full[0][:3]
