"""The TFX Trainer's entry point: trains the configured model on transformed examples and exports it."""
import json
import os

import keras
import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from models.config import ModelConfig
from models.export import export_serving_model
from models.model import build_model
from preprocessing import features

KERAS_MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"


def make_dataset(file_pattern, data_accessor, tf_transform_output, batch_size, shuffle):
    """One pass over transformed examples as (features, label) batches."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=features.LABEL_KEY, num_epochs=1, shuffle=shuffle
        ),
        tf_transform_output.transformed_metadata.schema,
    )


def embedding_matrix(config: ModelConfig, tf_transform_output: tft.TFTransformOutput):
    """The pre-trained embedding for the Transform vocabulary when `config.glove` names vectors, else None."""
    if not config.glove:
        return None
    from models import glove

    vocabulary = [w.decode("utf-8") for w in tf_transform_output.vocabulary_by_name(features.VOCAB_NAME)]
    matrix, covered = glove.embedding_matrix(vocabulary, config.glove, config.vocab_size, config.embedding_dim)
    logging.info("GloVe %s covers %d of %d vocabulary words", config.glove, covered, len(vocabulary))
    return matrix


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains with early stopping on validation loss, then writes the serving model, .keras file and history."""
    config = ModelConfig.from_dict(fn_args.custom_config or {})
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, config.batch_size, True)
    validation = make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, config.batch_size, False)

    model = build_model(config, embedding_matrix(config, tf_transform_output))
    model.summary(print_fn=logging.info)
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
        ),
    ]
    history = model.fit(train, validation_data=validation, epochs=config.epochs, callbacks=callbacks, verbose=2)

    os.makedirs(fn_args.model_run_dir, exist_ok=True)
    model.save(os.path.join(fn_args.model_run_dir, KERAS_MODEL_FILE))
    with open(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as f:
        json.dump({name: [float(v) for v in values] for name, values in history.history.items()}, f, indent=1)
    export_serving_model(model, tf_transform_output, fn_args.serving_model_dir)
