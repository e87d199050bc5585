"""The Tuner: its search space and budget on their own (fast), the compiled Kubeflow spec, and a whole
`textrnn run` with the Tuner, character features and an ensemble on 1,500 real headlines (slow)."""
import glob
import json
import os
import subprocess
import time

import keras
import keras_tuner
import numpy as np
import pytest

from textrnn.kubeflow.local_launcher import load_spec
from textrnn.models.config import ModelConfig
from textrnn.models.search_space import SEARCH_SPACE, apply_values, choose
from textrnn.models.tuner import BudgetedRandomSearchOracle, Deadline
from textrnn import cli, contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import options
from textrnn.preprocessing import features


def test_defaults_are_the_config_and_every_trial_keeps_the_transform():
    config = ModelConfig.create(pooling="max", lstm_units=(128, 128), learned_embedding_dim=64)
    hp = keras_tuner.HyperParameters()
    assert choose(hp, config) == config  # the defaults
    assert set(hp.values) == set(SEARCH_SPACE)
    oracle = keras_tuner.oracles.RandomSearchOracle(max_trials=20, seed=0)
    oracle.hyperparameters = hp
    for trial in range(10):
        values = oracle.populate_space(str(trial))["values"]
        tuned = apply_values(config, values)
        assert tuned.tokenizer == config.tokenizer and tuned.glove == config.glove
        assert tuned.architecture.embedding_dim == config.architecture.embedding_dim
        units = tuned.architecture.lstm_units
        assert len(units) == 2 and units[0] == units[1]


def test_search_cannot_change_what_the_transform_fixed():
    with pytest.raises(ValueError, match=r"cannot change \['max_length', 'vocab_size'\]"):
        apply_values(ModelConfig(), {"vocab_size": 100, "max_length": 10, "dropout": 0.1})


def test_no_trial_starts_after_the_time_budget():
    hp = keras_tuner.HyperParameters()
    choose(hp, ModelConfig())
    spent = BudgetedRandomSearchOracle(time.monotonic() - 1, max_trials=5, seed=0)
    spent.hyperparameters = hp
    assert spent.populate_space("1")["status"] == keras_tuner.engine.trial.TrialStatus.STOPPED
    running = BudgetedRandomSearchOracle(time.monotonic() + 60, max_trials=5, seed=0)
    running.hyperparameters = hp
    assert running.populate_space("1")["status"] == keras_tuner.engine.trial.TrialStatus.RUNNING


def test_a_trial_stops_training_at_the_deadline():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.zeros((64, 1)), np.zeros((64, 1)), batch_size=1, epochs=50, verbose=0,
                        callbacks=[Deadline(time.monotonic() - 1)])
    assert len(history.history["loss"]) == 1


@pytest.mark.slow
def test_kubeflow_spec_runs_the_tuner_before_the_trainer(tmp_path):
    path = str(tmp_path / "textrnn.yaml")
    assert cli.main(["compile-kubeflow", "--output", path, "--image", "registry.example.com/textrnn:test",
                     "--gpus", "1", "--tuner-trials", "12", "--tuner-time-budget-s", "1800"]) == 0
    spec = load_spec(path)
    tasks = spec.root.dag.tasks
    assert set(tasks["Tuner"].dependent_tasks) == {"Transform", "ImportSchemaGen"}
    best = tasks["Trainer"].inputs.artifacts["hyperparameters"].task_output_artifact
    assert (best.producer_task, best.output_artifact_key) == ("Tuner", "best_hyperparameters")
    executors = spec.deployment_spec.fields["executors"].struct_value.fields
    tuner_container = executors["Tuner_executor"].struct_value.fields["container"].struct_value.fields
    trainer_container = executors["Trainer_executor"].struct_value.fields["container"].struct_value.fields
    assert tuner_container["resources"] == trainer_container["resources"]  # GPUs included
    tuner_config = json.loads(tasks["Tuner"].inputs.parameters["custom_config"].runtime_value.constant.string_value)
    assert tuner_config["tuner_trials"] == 12 and tuner_config["tuner_time_budget_s"] == 1800


@pytest.fixture(scope="module")
def tuned_run(headlines_1500, textrnn_bin, tmp_path_factory):
    """`textrnn run` with 3 Tuner trials, character features and an ensemble of 2 on 1,500 real headlines."""
    output_root = tmp_path_factory.mktemp("run")
    command = [
        textrnn_bin, "run", "--input-dir", str(headlines_1500), "--output-root", str(output_root),
        "--epochs", "2", "--vocab-size", "3000", "--embedding-dim", "16", "--lstm-units", "16", "--word-chars", "6",
        "--char-filters", "8", "--ensemble-size", "2", "--tuner-trials", "3", "--seed", "0",
        "--eval-loss-bound", "1.0",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return output_root, result


@pytest.mark.slow
def test_trainer_trains_the_best_trial_as_an_ensemble(tuned_run):
    output_root, result = tuned_run
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    assert record.states["Tuner"] == "COMPLETE" and record.states["Pusher"] == "COMPLETE"
    trials = json.load(open(os.path.join(record.output("Tuner", "tuner_results").uri, "tuner_results.json")))
    assert len(trials) == 3 and [t["score"] for t in trials] == sorted(t["score"] for t in trials)
    best = json.load(open(os.path.join(record.output("Tuner", "best_hyperparameters").uri,
                                       "best_hyperparameters.txt")))["values"]
    assert best == {name: trials[0][name] for name in SEARCH_SPACE}
    model = keras.saving.load_model(os.path.join(record.output("Trainer", "model_run").uri, "model.keras"))
    assert len(model.members) == 2
    for member in model.members:  # each member is the best trial's configuration
        assert (member.pooling, member.dropout, member.learned_embedding_dim) == (
            best["pooling"], best["dropout"], best["learned_embedding_dim"])
        assert member.lstm_units == [best["lstm_units"]] and member.word_chars == 6
        assert member.optimizer.learning_rate.numpy() == pytest.approx(best["learning_rate"])
    history = json.load(open(os.path.join(record.output("Trainer", "model_run").uri, "history.json")))
    assert len(history["members"]) == 2 and history["members"][0]["loss"] != history["members"][1]["loss"]


@pytest.mark.slow
def test_summary_shows_the_trial_table_and_the_ensemble(tuned_run):
    output_root, result = tuned_run
    assert "Tuner running" in result.stderr and "Search: Running Trial #3" in result.stdout
    assert "tuner: 3 trials completed" in result.stdout
    table = result.stdout.split("tuner: 3 trials completed")[1].splitlines()
    assert table[1].split() == ["trial", "eval", "loss", *sorted(SEARCH_SPACE)]
    assert "training: an ensemble of 2 models" in result.stdout and "blessed: yes" in result.stdout
    summary = json.load(open(glob.glob(str(output_root / "summary-*.json"))[0]))
    assert len(summary["tuning"]["trials"]) == 3 and len(summary["training"]["epochs"]) == 2


@pytest.mark.slow
def test_pushed_ensemble_serves_through_the_session_loader(tuned_run):
    from serving_checks import compare_loaders, replay_warmup_requests

    output_root, _ = tuned_run
    version = max(glob.glob(str(output_root / "serving_model" / "textrnn" / "*")))
    replay_warmup_requests(version)
    outputs = compare_loaders(version)
    assert outputs["serving_default"]["probability"].shape == (4,)
    assert features.CHAR_IDS_KEY in open(os.path.join(version, "saved_model.pb"), "rb").read().decode("latin-1")
