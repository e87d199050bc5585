"""The TFX Tuner's entry point: a KerasTuner random search over models/search_space.py.

Each trial builds a model from the pipeline's ModelConfig with the trial's hyperparameters, trains it on the
train split as the Trainer would (same batches, validations and early stopping) and is scored by its best eval
loss, the quantity the Evaluator gates on. The search stops after `tuner_trials` trials or `tuner_time_budget_s`
seconds, whichever comes first (a trial running at the deadline stops training and is scored on what it
trained); TFX then writes the best trial's hyperparameters, which the Trainer trains, and the trial table.
"""
import time

import keras
import keras_tuner
import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx

from textrnn.models import search_space
from textrnn.models.config import ModelConfig
from textrnn.models.model import build_model
from textrnn.models.train import batch_examples, embedding_matrix, fit_arguments, read_splits
from textrnn.models.transform_check import check_transform_fits

OBJECTIVE = "val_loss"


class Deadline(keras.callbacks.Callback):
    """Stops training once `deadline` (time.monotonic()) has passed."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() > self.deadline:
            self.model.stop_training = True


class BudgetedRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search that starts no trial after `deadline` (time.monotonic())."""

    def __init__(self, deadline: float, **kwargs):
        super().__init__(**kwargs)
        self.deadline = deadline

    def populate_space(self, trial_id):
        if time.monotonic() > self.deadline:
            logging.info("the Tuner's time budget is spent: no trial after %d", len(self.trials) - 1)
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
    """Builds the search for TFX's Tuner from `custom_config` (a ModelConfig with tuner_trials > 0)."""
    config = ModelConfig.from_dict(fn_args.custom_config or {})
    training = config.training
    if training.tuner_trials < 1:
        raise ValueError("the Tuner needs tuner_trials of 1 or more")
    if training.seed is not None:
        keras.utils.set_random_seed(training.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    check_transform_fits(config, tf_transform_output)
    (train_examples, train_count), validation_data = read_splits(fn_args, tf_transform_output, config)
    train_data = batch_examples(train_examples, train_count, training.batch_size, True, training.bucket_window)
    initial_embedding = embedding_matrix(config, tf_transform_output)  # from the glove source: no GloveCoverage input
    deadline = time.monotonic() + training.tuner_time_budget_s
    oracle = BudgetedRandomSearchOracle(
        deadline, objective=keras_tuner.Objective(OBJECTIVE, "min"), max_trials=training.tuner_trials,
        seed=training.seed)
    tuner = keras_tuner.Tuner(
        oracle=oracle,
        hypermodel=lambda hp: build_model(search_space.choose(hp, config), initial_embedding),
        directory=fn_args.working_dir, project_name="textrnn", overwrite=True)
    fit_kwargs = fit_arguments(config, train_data, validation_data)
    fit_kwargs["callbacks"].append(Deadline(deadline))
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs=fit_kwargs)
