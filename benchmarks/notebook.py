"""The notebook a reader of the book would otherwise copy, as one plain Keras script: the baseline that the
performance benchmark times `textrnn run` against.

    python -m benchmarks.notebook DATASET.json EXPORT_DIR [--epochs 3]

It loads the headlines, splits them 80/10/10 in file order, vectorises them with Keras' TextVectorization
(the vocabulary of the training split, padded at the end to max_length), trains the `default` preset's model
(the same layers, dropout, optimiser, batch size) for a fixed number of epochs, evaluates it on the test split
and exports a SavedModel for TF Serving. It prints one JSON line: the wall time of each step, the seconds of
each epoch and the test accuracy. Only the settings and the epoch timer come from textrnn (ModelConfig and
EpochTimer, which import nothing beyond Keras); everything else is Keras, as in the notebook.
"""
import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from textrnn.models.config import ModelConfig  # noqa: E402
from textrnn.models.epoch_timer import EpochTimer  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="the headlines, one JSON record per line")
    parser.add_argument("export_dir")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    config = ModelConfig()
    tokenizer, architecture, training = config.tokenizer, config.architecture, config.training
    steps = {"imports": time.perf_counter() - START}

    def step(name, since):
        steps[name] = time.perf_counter() - since
        return time.perf_counter()

    now = time.perf_counter()
    with open(args.dataset) as f:
        records = [json.loads(line) for line in f]
    sentences = np.array([record["headline"] for record in records])
    labels = np.array([record["is_sarcastic"] for record in records])
    train_end, eval_end = int(0.8 * len(records)), int(0.9 * len(records))
    now = step("load", now)

    vectorize = keras.layers.TextVectorization(max_tokens=tokenizer.vocab_size,
                                               output_sequence_length=tokenizer.max_length)
    vectorize.adapt(sentences[:train_end])
    ids = vectorize(sentences).numpy()
    now = step("vectorise", now)

    model = keras.Sequential([
        keras.Input((tokenizer.max_length,), dtype="int64"),
        keras.layers.Embedding(tokenizer.vocab_size, architecture.embedding_dim, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(architecture.lstm_units[0], dropout=architecture.dropout)),
        keras.layers.Dense(architecture.dense_units, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(training.learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(ids[:train_end], labels[:train_end], batch_size=training.batch_size, epochs=args.epochs,
              validation_data=(ids[train_end:eval_end], labels[train_end:eval_end]), callbacks=[timer], verbose=2)
    now = step("train", now)

    _, test_accuracy = model.evaluate(ids[eval_end:], labels[eval_end:], batch_size=training.batch_size, verbose=0)
    now = step("evaluate", now)
    model.export(args.export_dir)
    step("export", now)

    print(json.dumps({"steps": steps, "wall_seconds": time.perf_counter() - START, "epoch_seconds": timer.seconds,
                      "train_examples": train_end, "test_accuracy": test_accuracy}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
