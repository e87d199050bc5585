"""The TFX Trainer's entry point: trains the configured model on transformed examples and exports it.

Into the model run directory (the Trainer's `model_run` output) it writes TensorBoard logs, `history.json`
(the metrics per validation, and `phase_seconds`: the seconds of each part of the Trainer's work), `accuracy.png`
and `loss.png` (training against validation per epoch) and `model.keras`; into the serving model directory the
SavedModel that the Evaluator and Pusher take.
"""
import contextlib
import json
import os
import time
from typing import Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from textrnn.contract import HISTORY_FILE, KERAS_MODEL_FILE
from textrnn.models.batching import SHUFFLE_BUFFER_SIZE, bucketed_batches
from textrnn.models.config import EMBEDDING_DIR_KEY, ModelConfig
from textrnn.models.curves import plot_history
from textrnn.models.epoch_timer import EpochTimer
from textrnn.models.export import export_serving_model
from textrnn.models.ensemble import EnsembleClassifier
from textrnn.models.model import build_model, compile_model
from textrnn.models.transform_check import check_transform_fits
from textrnn.preprocessing import features

READ_BATCH_SIZE = 1024


def example_bytes(tf_transform_output: tft.TFTransformOutput) -> int:
    """Bytes one transformed example takes in memory (its label included)."""
    return sum(int(np.prod(spec.shape)) * spec.dtype.size
               for spec in tf_transform_output.transformed_feature_spec().values())


def read_split(file_pattern, data_accessor, tf_transform_output, memory_budget_mb):
    """The single (features, label) transformed examples of one split, and how many there are.

    A split that takes at most `memory_budget_mb` in memory (a transformed headline is `max_length` ids: the
    v1 dataset's train split takes 7 MB) is loaded once and served from memory; a larger one is streamed from
    its files every epoch, so memory stays bounded whatever the data's size.
    """
    records = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=READ_BATCH_SIZE, label_key=features.LABEL_KEY, num_epochs=1, shuffle=False
        ),
        tf_transform_output.transformed_metadata.schema,
    )
    budget, per_example = memory_budget_mb * 2**20, example_bytes(tf_transform_output)
    loaded, count = [], 0
    for batch in records.as_numpy_iterator():  # loads the split, or only counts it once it is over the budget
        count += len(batch[1])
        if loaded is not None:
            loaded.append(batch)
            if count * per_example > budget:
                loaded = None
    if not count:
        raise ValueError(f"no transformed examples in {file_pattern}")
    if loaded is None:
        logging.info("streaming %d examples (%.0f MB in memory, over the budget of %d MB) from %s",
                     count, count * per_example / 2**20, memory_budget_mb, file_pattern)
        return records.unbatch(), count
    inputs = {key: np.concatenate([inputs[key] for inputs, _ in loaded]) for key in loaded[0][0]}
    return tf.data.Dataset.from_tensor_slices((inputs, np.concatenate([label for _, label in loaded]))), count


def batch_examples(examples, count, batch_size, shuffle, bucket_window):
    """(features, label) batches of the `count` single `examples`, reshuffled each epoch when `shuffle` (through
    the same shuffle buffer, loaded or streamed; its seed is TensorFlow's global seed when this is called).
    A `bucket_window` of 1 or more pads each batch only to its longest headline (see `textrnn.models.batching`);
    0 keeps every batch at the Transform's `max_length`."""
    if bucket_window:
        batches = bucketed_batches(examples, count, batch_size, shuffle, bucket_window)
    else:
        if shuffle:
            examples = examples.shuffle(SHUFFLE_BUFFER_SIZE, reshuffle_each_iteration=True)
        batches = examples.batch(batch_size).apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))
        batches = batches.prefetch(tf.data.AUTOTUNE)
    # Without tf.data's autotuning thread: deleting an iterator waits for it to wake, up to about 10 s, which
    # half of the Trainer's runs lost when `fit` returned. The epochs take as long without it (measured).
    options = tf.data.Options()
    options.autotune.enabled = False
    return batches.with_options(options)


def read_splits(fn_args, tf_transform_output, config: ModelConfig):
    """The train and eval splits of the Trainer's or Tuner's `fn_args`, each read once: (examples, count) of
    the training split, and the eval split's validation batches."""
    train, (eval_examples, eval_count) = (
        read_split(files, fn_args.data_accessor, tf_transform_output, config.training.memory_budget_mb)
        for files in (fn_args.train_files, fn_args.eval_files))
    training = config.training
    return train, batch_examples(eval_examples, eval_count, training.batch_size, False, training.bucket_window)


def distribution_strategy(devices: Optional[List[str]] = None) -> tf.distribute.Strategy:
    """MirroredStrategy over `devices` (default: the visible GPUs) when there are several, else the default."""
    if devices is None:
        devices = [gpu.name.replace("physical_device:", "") for gpu in tf.config.list_physical_devices("GPU")]
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def embedding_matrix(config: ModelConfig, tf_transform_output: tft.TFTransformOutput,
                     embedding_dir: Optional[str] = None):
    """The pre-trained embedding for the Transform vocabulary when `config.glove` names vectors (followed by the
    GloVe extension's vectors, with `glove_vocabulary`), else None.

    `embedding_dir` is the folder of the matrix the GloveCoverage component already built from `config.glove`
    (GloveTrainer passes it as custom_config["embedding_dir"]), loaded after checking that it was built for this
    vocabulary and shape; without it (the Tuner, a Trainer without the component) the matrix is built from the
    source itself.
    """
    if not config.glove:
        if embedding_dir:
            raise ValueError(f"an embedding ({embedding_dir}) was given to a model without glove")
        return None
    from textrnn.models import glove

    vocab_size, dim = config.tokenizer.vocab_size, config.architecture.embedding_dim
    vocabulary = [w.decode("utf-8") for w in tf_transform_output.vocabulary_by_name(features.VOCAB_NAME)]
    source = None if embedding_dir else glove.resolve_glove(config.glove)
    matrix, covered = glove.embedding_matrix(vocabulary, source, vocab_size, dim, saved_embedding=embedding_dir)
    logging.info("GloVe %s covers %d of %d vocabulary words (the matrix from %s)", config.glove, covered,
                 len(vocabulary), embedding_dir or source)
    extension_words = config.tokenizer.glove_vocabulary
    if extension_words:
        _, extension = glove.kumo_top_words(extension_words)
        if extension.shape[1] != dim:
            raise ValueError(f"the GloVe extension's vectors have {extension.shape[1]} dimensions, embedding_dim is "
                             f"{dim}")
        matrix = np.concatenate([matrix, extension])
    return matrix


def fit_arguments(config: ModelConfig, train_data, validation_data) -> dict:
    """`model.fit` arguments shared by the Trainer and the Tuner's trials: `epochs` passes over
    `train_data` with `validations_per_epoch` validations on `validation_data` each (the training data's
    cardinality must be known when that is more than 1), early stopping on validation loss that counts its
    patience in validations and restores the weights of the best one."""
    training = config.training
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=training.early_stopping_patience, restore_best_weights=True)
    arguments = dict(validation_data=validation_data, callbacks=[early_stopping], verbose=2)
    checks = training.validations_per_epoch
    if checks == 1:
        return dict(arguments, x=train_data, epochs=training.epochs)
    steps_per_epoch = int(train_data.cardinality())
    if steps_per_epoch <= 0:
        raise ValueError("validations_per_epoch > 1 needs training data of known cardinality")
    return dict(arguments, x=train_data.repeat(), epochs=training.epochs * checks,
                steps_per_epoch=-(-steps_per_epoch // checks))


def train(config: ModelConfig, train_data, validation_data, run_dir: str, initial_embedding=None,
          strategy: Optional[tf.distribute.Strategy] = None, soft_targets: bool = False):
    """Builds and fits the model (see `fit_arguments`) with TensorBoard logs; returns the model and its history.

    The history has one entry per validation: `epoch` (passes over the training data so far, e.g. 0.25), the
    metrics, and `epoch_seconds` (wall time since the previous validation, validation included); and
    `build_seconds` and `fit_seconds` (building and compiling the model; the whole `fit`).
    `soft_targets`: the training data's targets are probabilities (a distilled student's), see `compile_model`.
    """
    strategy = strategy or distribution_strategy()
    logging.info("training with %s on %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    build_start = time.perf_counter()
    with strategy.scope():
        model = build_model(config, initial_embedding)
        if soft_targets:
            compile_model(model, config, soft_targets=True)
    model.summary(print_fn=logging.info)
    build_seconds = time.perf_counter() - build_start
    timer = EpochTimer()
    arguments = fit_arguments(config, train_data, validation_data)
    arguments["callbacks"] += [keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "tensorboard")), timer]
    history = model.fit(**arguments)
    steps_per_epoch = int(train_data.cardinality()) if config.training.validations_per_epoch > 1 else 1
    steps_per_check = arguments.get("steps_per_epoch", 1)
    result = {name: [float(v) for v in values] for name, values in history.history.items()}
    result["epoch"] = [round((i + 1) * steps_per_check / steps_per_epoch, 4) for i in range(len(result["loss"]))]
    result["epoch_seconds"] = timer.seconds
    # The seconds around the epochs, which the performance benchmark reports: building and compiling the model,
    # and the whole fit (the epochs plus Keras' set-up, callbacks and restoring the best weights).
    result["build_seconds"], result["fit_seconds"] = build_seconds, timer.fit_seconds
    return model, result


def member_configs(config: ModelConfig) -> List[ModelConfig]:
    """The configs of an ensemble's members: seeds seed x size to seed x size + size - 1, so that ensembles of
    different seeds share no model (all unseeded when seed is None; a single model keeps the seed)."""
    size, seed = config.training.ensemble_size, config.training.seed
    return [config if seed is None else config.replace(seed=seed * size + index) for index in range(size)]


class PhaseTimer:
    """Wall seconds of the named phases of the Trainer's work, in the order they ran (a phase that runs again adds
    to its time); the history keeps them as `phase_seconds`, which the performance benchmark reports.

    >>> timer = PhaseTimer()
    >>> with timer("reading the splits"):
    ...     pass
    >>> list(timer.seconds)
    ['reading the splits']
    """

    def __init__(self):
        self.seconds: Dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


def save_run(model: keras.Model, history: dict, run_dir: str) -> None:
    """Writes the .keras model, the history as JSON and the accuracy and loss curves as PNGs; an ensemble's
    history holds its members' (`{"members": [...]}`), whose curves share each figure."""
    save_model(model, run_dir)
    write_history(history, run_dir)
    plot_history(history, run_dir)


def save_model(model: keras.Model, run_dir: str) -> None:
    """`model.keras` in `run_dir`, with the optimizer's state (the Tuner and a resumed training read it)."""
    tf.io.gfile.makedirs(run_dir)  # gfile: the run folder is an artifact, maybe on GCS and the like
    model.save(os.path.join(run_dir, KERAS_MODEL_FILE))


def write_history(history: dict, run_dir: str) -> None:
    with tf.io.gfile.GFile(os.path.join(run_dir, HISTORY_FILE), "w") as f:
        json.dump(history, f, indent=1)


def tuned_config(config: ModelConfig, hyperparameters: Optional[dict]) -> ModelConfig:
    """`config` with the values of the Tuner's best hyperparameters (the config of a KerasTuner
    HyperParameters, as TFX passes it to the Trainer) applied; `config` itself when there are none."""
    if not hyperparameters:
        return config
    import keras_tuner

    from textrnn.models.search_space import apply_values

    values = keras_tuner.HyperParameters.from_config(hyperparameters).values
    logging.info("training the Tuner's best hyperparameters: %s", values)
    return apply_values(config, values)


def train_ensemble(config: ModelConfig, train_examples, train_count: int, validation_data, run_dir: str,
                   initial_embedding=None):
    """Trains the `ensemble_size` models of `config` (each into `run_dir/member-<i>` when there are several);
    returns the model (an `EnsembleClassifier` of several) and its history (`{"members": [...]}` of several)."""
    members, histories = [], []
    for index, member in enumerate(member_configs(config)):
        training = member.training
        if training.seed is not None:
            keras.utils.set_random_seed(training.seed)  # before the shuffle takes its seed from it
        train_data = batch_examples(train_examples, train_count, training.batch_size, True, training.bucket_window)
        member_dir = run_dir if config.training.ensemble_size == 1 else os.path.join(run_dir, f"member-{index}")
        logging.info("training model %d of %d", index + 1, config.training.ensemble_size)
        model, history = train(member, train_data, validation_data, member_dir, initial_embedding)
        members.append(model)
        histories.append(history)
    if len(members) == 1:
        return members[0], histories[0]
    ensemble = EnsembleClassifier(members, name="textrnn_ensemble")
    compile_model(ensemble, config)
    return ensemble, {"members": histories}


def distill(config: ModelConfig, teacher: keras.Model, train_examples, validation_data, run_dir: str,
            initial_embedding=None):
    """Trains `student_config(config)` on the teacher's probabilities over the training split and
    `distillation_copies` altered copies of it (models/distillation.py; the split is loaded into memory for
    this); returns the student and its history, with `training_examples`, the examples of each of its epochs."""
    from textrnn.models import distillation

    student = distillation.student_config(config)
    inputs, _ = distillation.split_arrays(train_examples)
    inputs, targets = distillation.transfer_set(teacher, inputs, config.training.distillation_copies,
                                                student.training.seed)
    logging.info("distilling into one model with BiLSTM(%d) on %d examples (%d altered copies of each headline)",
                 config.training.student_lstm_units, len(targets), config.training.distillation_copies)
    if student.training.seed is not None:
        keras.utils.set_random_seed(student.training.seed)
    training = student.training
    train_data = batch_examples(tf.data.Dataset.from_tensor_slices((inputs, targets)), len(targets),
                                training.batch_size, True, training.bucket_window)
    model, history = train(student, train_data, validation_data, run_dir, initial_embedding, soft_targets=True)
    compile_model(model, student)  # what it is saved with: the usual loss and accuracy on labels
    return model, dict(history, training_examples=len(targets))


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains the model that `custom_config` describes (with the Tuner's best hyperparameters when the Trainer
    has them), or the ensemble of `ensemble_size` such models, and exports it for serving; with
    `student_lstm_units`, that model is the teacher of one smaller model, which is exported instead (its
    curves and history are the run's; the teacher's are in `teacher/`, and under "teacher" in the history).

    `custom_config` holds the flat settings (`ModelConfig.to_dict()`) and, from GloveTrainer, `embedding_dir`:
    the folder of the embedding matrix built from the `glove` source (see `embedding_matrix`)."""
    phases = PhaseTimer()
    custom_config = dict(fn_args.custom_config or {})
    embedding_dir = custom_config.pop(EMBEDDING_DIR_KEY, None)
    config = tuned_config(ModelConfig.from_dict(custom_config), fn_args.hyperparameters)
    with phases("reading the splits"):
        tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
        check_transform_fits(config, tf_transform_output)
        initial_embedding = embedding_matrix(config, tf_transform_output, embedding_dir)
        (train_examples, train_count), validation_data = read_splits(fn_args, tf_transform_output, config)
    distilling = bool(config.training.student_lstm_units)
    teacher_dir = os.path.join(fn_args.model_run_dir, "teacher") if distilling else fn_args.model_run_dir
    with phases("training"):
        model, history = train_ensemble(config, train_examples, train_count, validation_data, teacher_dir,
                                        initial_embedding)
        if distilling:
            tf.io.gfile.makedirs(teacher_dir)
            plot_history(history, teacher_dir, "teacher")
            teacher_history = history
            model, history = distill(config, model, train_examples, validation_data, fn_args.model_run_dir,
                                     initial_embedding)
            history["teacher"] = teacher_history
    with phases("saving model.keras"):
        save_model(model, fn_args.model_run_dir)
    with phases("drawing the curves"):
        plot_history(history, fn_args.model_run_dir)
    with phases("exporting the SavedModel"):
        export_serving_model(model, tf_transform_output, fn_args.serving_model_dir, config.tokenizer)
    logging.info("Trainer phases (s): %s", {k: round(v, 2) for k, v in phases.seconds.items()})
    write_history(dict(history, phase_seconds=phases.seconds), fn_args.model_run_dir)
