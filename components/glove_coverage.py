"""GloVe in the pipeline: the vocabulary-coverage analysis and the embedding matrix, which GloveTrainer
(components/glove_trainer.py) takes.

    Transform ──transform_graph──▶ GloveCoverage ──embedding──▶ Trainer (GloveTrainer)
                                        └──coverage: in_glove.png, cumulative_coverage.png, coverage.json

GloveCoverage reads, from the transform graph, the untruncated frequency-ordered vocabulary
(`headline_vocab_full`) for the analysis (models/coverage_analysis.py: the book's Figures 7-17 and 7-18 and the
recommended vocabulary size) and the truncated one (`headline_vocab`, what the model's ids index) for the
embedding matrix (models/glove.py). Its `coverage` output holds the PNGs, coverage.json and
missing_words.txt; its `embedding` output the [vocab_size, embedding_dim] matrix with the words it was built
for. A bad GloVe file or a dimension that does not match embedding_dim stops the run here, before training.

"""
from typing import List, Optional

import tensorflow_transform as tft
from tfx import types
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from textrnn.models import glove as glove_lib
from textrnn.models import coverage_analysis
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
