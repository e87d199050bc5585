"""One definition per setting: flags, environment variables, presets and defaults resolve in that order, and
`textrnn settings` says where each value came from."""
import subprocess

import pytest

from textrnn import cli
from textrnn.models.config import ModelConfig
from textrnn.pipeline.options import PipelineOptions, SettingsError, model_settings, pipeline_settings, resolve_options


def _options(argv, environ):
    args = cli.parser().parse_args(["run", *argv])
    return resolve_options(cli.given_flags(args, cli.run_flag_settings()), environ=environ)


def test_a_flag_beats_the_environment_beats_the_preset_beats_the_default():
    environ = {"TEXTRNN_DROPOUT": "0.25", "TEXTRNN_LEARNING_RATE": "3e-4", "TEXTRNN_EVAL_LOSS_BOUND": "0.6"}
    options = _options(["--preset", "book-stacked-dropout", "--learning-rate", "1e-4"], environ)
    model = options.model
    assert model.training.learning_rate == 1e-4 and str(options.origins["learning_rate"]) == "flag --learning-rate"
    assert model.architecture.dropout == 0.25 and str(options.origins["dropout"]) == "environment TEXTRNN_DROPOUT"
    assert model.architecture.lstm_units == (64, 64)
    assert str(options.origins["lstm_units"]) == "preset book-stacked-dropout"
    assert model.architecture.pooling == "last" and str(options.origins["pooling"]) == "default"
    assert options.eval_loss_bound == 0.6 and str(options.origins["eval_loss_bound"]) == "environment TEXTRNN_EVAL_LOSS_BOUND"
    # The same setting through all four: each stronger source wins over the ones below it.
    for argv, environ, value, source in [
        ([], {}, ModelConfig().training.epochs, "default"),
        (["--preset", "book-bilstm"], {}, 30, "preset"),
        (["--preset", "book-bilstm"], {"TEXTRNN_EPOCHS": "7"}, 7, "environment"),
        (["--preset", "book-bilstm", "--epochs", "2"], {"TEXTRNN_EPOCHS": "7"}, 2, "flag"),
    ]:
        options = _options(argv, environ)
        assert (options.model.training.epochs, options.origins["epochs"].source) == (value, source)


def test_a_preset_sets_pipeline_settings_too():
    """The `best` ensemble brings its own serving budgets; flags and the environment still beat them."""
    from textrnn.models.presets import get_preset

    budgets = get_preset("best").settings
    assert budgets and set(budgets) <= {info.name for info in pipeline_settings()}
    options = _options(["--preset", "best"], {})
    for name, value in budgets.items():
        assert getattr(options, name) == value and str(options.origins[name]) == "preset best"
    assert _options([], {}).serving_max_p50_ms == PipelineOptions().serving_max_p50_ms
    options = _options(["--preset", "best", "--serving-max-p50-ms", "7"], {"TEXTRNN_SERVING_MAX_P99_MS": "9"})
    assert (options.serving_max_p50_ms, options.origins["serving_max_p50_ms"].source) == (7.0, "flag")
    assert (options.serving_max_p99_ms, options.origins["serving_max_p99_ms"].source) == (9.0, "environment")
    assert options.serving_budgets()["max_p50_ms"] == 7.0
    assert _options(["--serving-max-memory-mb", "0"], {}).serving_budgets()["max_memory_mb"] is None  # 0: no limit


def test_every_setting_has_one_flag_one_variable_and_help():
    settings = pipeline_settings() + model_settings()
    names = [s.name for s in settings]
    assert len(names) == len(set(names)) and all(s.help for s in settings)
    assert len({s.env for s in settings}) == len(settings) and all(s.env.startswith("TEXTRNN_") for s in settings)
    parser_flags = {a.dest for a in cli.parser()._subparsers._group_actions[0].choices["run"]._actions}
    assert set(names) - {"verbose"} <= parser_flags  # --verbose is every subcommand's own flag
    assert {s.name for s in model_settings()} == {f.name for f in ModelConfig.flat_fields()}


def test_bad_values_name_the_setting_and_where_they_came_from():
    with pytest.raises(SettingsError, match="TEXTRNN_EPOCHS: 'ten' is not a valid value"):
        resolve_options(environ={"TEXTRNN_EPOCHS": "ten"})
    with pytest.raises(SettingsError, match=r"beam_mode must be one of .* \(from environment TEXTRNN_BEAM_MODE\)"):
        resolve_options(environ={"TEXTRNN_BEAM_MODE": "threads"})
    with pytest.raises(SettingsError, match="keep_pushed works with keep_runs"):
        PipelineOptions(keep_pushed=2)


def test_settings_command_shows_each_value_with_its_source(textrnn_bin):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTRNN_")}
    env.update(TEXTRNN_EPOCHS="7", TEXTRNN_KFP_GPUS="0")
    result = subprocess.run([textrnn_bin, "settings", "--preset", "book-stacked", "--dropout", "0.1"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if not line.startswith("#")}
    assert rows["preset"] == ["book-stacked", "flag", "--preset"]
    assert rows["dropout"] == ["0.1", "flag", "--dropout"]
    assert rows["epochs"] == ["7", "environment", "TEXTRNN_EPOCHS"]
    assert rows["lstm_units"] == ["64,64", "preset", "book-stacked"]
    assert rows["pooling"] == ["last", "default"]
    assert rows["gpus"] == ["0", "environment", "TEXTRNN_KFP_GPUS"]
