"""GloveCoverage in a real LocalDagRunner pipeline: 1,500 real headlines, the book's GloVe settings (Twitter 25d
subset, frozen, stacked BiLSTMs) for one epoch; the analysis, the matrix the Trainer took (lineage in MLMD),
and a frozen embedding that comes out of training exactly as GloVe put it in."""
import dataclasses
import json
import os
import subprocess

import keras
import numpy as np
import pytest
import tensorflow_transform as tft
from tfx import v1 as tfx

import textrnn  # noqa: F401 - registers BiLSTMClassifier for loading model.keras
from conftest import TWITTER_25D_SUBSET
from serving_checks import check_saved_model_cli, compare_loaders, replay_warmup_requests
from textrnn.components.glove_trainer import GloveTrainer
from textrnn.models import coverage_analysis, glove, presets
from textrnn.models.config import ModelConfig
from textrnn.models.train import KERAS_MODEL_FILE
from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import local_runner, options
from textrnn.pipeline import pipeline as textrnn_pipeline
from textrnn.preprocessing import features

pytestmark = pytest.mark.slow

CONFIG = presets.get_preset("book-glove").config.replace(glove=str(TWITTER_25D_SUBSET), vocab_size=2_000,
                                                          epochs=1, batch_size=64, learning_rate=1e-3)


@pytest.fixture(scope="module")
def glove_run(headlines_1500, tmp_path_factory):
    output_root = str(tmp_path_factory.mktemp("glove_run"))
    run = dataclasses.replace(options.resolve_options({"output_root": output_root, "eval_loss_bound": 10.0},
                                                      environ={}), model=CONFIG)
    pipeline = textrnn_pipeline.create_pipeline(run, local_runner.local_placement(run, str(headlines_1500)))
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return output_root, run_record.latest_run(output_layout.metadata_path(output_root))


def test_glove_coverage_runs_between_transform_and_trainer(glove_run):
    _, record = glove_run
    assert record.states.get("GloveCoverage") == "COMPLETE"
    assert set(record.states.values()) == {"COMPLETE"} and "Trainer" in record.states


def test_trainer_took_the_embedding_artifact(glove_run):
    output_root, record = glove_run
    store = run_record.open_store(output_layout.metadata_path(output_root))
    embedding = record.output("GloveCoverage", "embedding")
    consumers = {
        event.execution_id for event in store.get_events_by_artifact_ids([embedding.id])
        if event.type == event.INPUT
    }
    trainer_model = record.output("Trainer", "model")
    producers = {e.execution_id for e in store.get_events_by_artifact_ids([trainer_model.id]) if e.type == e.OUTPUT}
    assert consumers == producers and len(consumers) == 1


def test_coverage_analysis_of_the_full_transform_vocabulary(glove_run):
    _, record = glove_run
    transform = tft.TFTransformOutput(record.output("Transform", "transform_graph").uri)
    full = [w.decode() for w in transform.vocabulary_by_name(glove.FULL_VOCAB_NAME)]
    kept = [w.decode() for w in transform.vocabulary_by_name(features.VOCAB_NAME)]
    assert len(kept) == CONFIG.tokenizer.vocab_size - 2 and full[: len(kept)] == kept and len(full) > len(kept)

    coverage = record.output("GloveCoverage", "coverage")
    summary = json.loads(open(os.path.join(coverage.uri, coverage_analysis.SUMMARY_FILE)).read())
    twitter_words, _ = glove.glove_words(str(TWITTER_25D_SUBSET))
    in_glove = [w in twitter_words for w in full]
    expected = coverage_analysis.recommend(in_glove)
    assert summary["vocabulary_words"] == len(full) and summary["covered_words"] == sum(in_glove)
    assert summary["recommended_vocab_size"] == expected["recommended_words"] + 2
    assert summary["tipping_rank"] == expected["tipping_rank"] and "outnumber" in summary["rule"]
    assert run_record.custom_property(coverage, "recommended_vocab_size") == summary["recommended_vocab_size"]
    for name in (coverage_analysis.IN_GLOVE_PNG, coverage_analysis.CUMULATIVE_PNG):
        with open(os.path.join(coverage.uri, name), "rb") as f:
            assert f.read(4) == b"\x89PNG"


def test_embedding_matrix_matches_the_transform_vocabulary(glove_run):
    _, record = glove_run
    transform = tft.TFTransformOutput(record.output("Transform", "transform_graph").uri)
    kept = [w.decode() for w in transform.vocabulary_by_name(features.VOCAB_NAME)]
    expected, covered = glove.embedding_matrix(kept, str(TWITTER_25D_SUBSET), CONFIG.tokenizer.vocab_size, 25)
    embedding = record.output("GloveCoverage", "embedding")
    saved, saved_covered = glove.embedding_matrix(kept, None, CONFIG.tokenizer.vocab_size, 25, saved_embedding=embedding.uri)
    np.testing.assert_array_equal(saved, expected)
    assert saved_covered == covered == run_record.custom_property(embedding, "covered_words") > 500


def test_frozen_embedding_is_unchanged_by_pipeline_training(glove_run):
    _, record = glove_run
    matrix = np.load(os.path.join(record.output("GloveCoverage", "embedding").uri, glove.MATRIX_FILE))
    model = keras.models.load_model(os.path.join(record.output("Trainer", "model_run").uri, KERAS_MODEL_FILE))
    assert model.freeze_embedding and not model.embedding.trainable
    np.testing.assert_array_equal(model.embedding.get_weights()[0], matrix)
    assert np.count_nonzero(matrix.any(axis=1)) > 500  # real GloVe rows, not an all-zero matrix


def test_only_glove_configs_get_the_coverage_node(tmp_path):
    def nodes(config):
        pipeline = textrnn_pipeline.create_pipeline(
            options.PipelineOptions(pipeline_name="p", model=config),
            textrnn_pipeline.Placement(str(tmp_path / "root"), str(tmp_path / "data"), str(tmp_path / "serving")))
        return {c.id: c for c in pipeline.components}

    plain = nodes(ModelConfig())
    assert "GloveCoverage" not in plain and type(plain["Trainer"]) is tfx.components.Trainer
    with_glove = nodes(CONFIG.replace(glove="relative/glove.txt.gz"))
    assert isinstance(with_glove["Trainer"], GloveTrainer)
    assert with_glove["GloveCoverage"].exec_properties["glove"] == os.path.abspath("relative/glove.txt.gz")
    assert "embedding" in with_glove["Trainer"].inputs


@pytest.mark.parametrize("preset", ["book-glove", "glove-6b-50d"])
def test_glove_preset_runs_end_to_end_from_the_cli(preset, make_slice, textrnn_bin, tmp_path):
    output_root = tmp_path / "out"
    # book-glove names the full Twitter 25d file, which is not here: the subset stands in for it.
    vectors = str(TWITTER_25D_SUBSET) if preset == "book-glove" else presets.get_preset(preset).config.glove
    result = subprocess.run(
        [textrnn_bin, "run", "--preset", preset, "--input-dir", str(make_slice(1000)), "--output-root",
         str(output_root), "--epochs", "1", "--eval-loss-bound", "10", "--glove", vectors],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    assert set(record.states.values()) == {"COMPLETE"} and "GloveCoverage" in record.states
    embedding = record.output("GloveCoverage", "embedding")
    assert run_record.custom_property(embedding, "glove") == glove.resolve_glove(vectors)
    assert run_record.custom_property(embedding, "covered_words") > 0
    pushed = run_record.custom_property(record.output("Pusher", "pushed_model"), "pushed_destination")
    assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
    assert f"pushed to: {pushed}" in result.stdout
    # TF Serving's way in: the session loader, saved_model_cli and the warm-up requests.
    compare_loaders(pushed)
    check_saved_model_cli(pushed, tmp_path)
    replay_warmup_requests(pushed)
