"""textrnn: recurrent-network text classifiers (embeddings, bidirectional LSTMs, a dense head) as a Keras-native
package with a production TFX pipeline.

`import textrnn` is cheap (no TensorFlow) and enough to load the `.keras` files the Trainer saves: the package's
Keras classes register themselves as `textrnn>ClassName` as soon as Keras is imported. The `textrnn` command is
`textrnn.cli`; the pipeline lives in `textrnn.pipeline` (its settings `PipelineOptions`, the factory
`create_pipeline`, the one local run `run_local`), the TFX components in `textrnn.components`, the Transform
graph in `textrnn.preprocessing`, models and presets in `textrnn.models`, the Kubeflow runner in
`textrnn.kubeflow`; names every layer shares are in `textrnn.contract`.

Example:

>>> import textrnn
>>> model = textrnn.BiLSTMClassifier.from_preset("book-bilstm")
>>> model.count_params()
1349169
"""
import importlib
import importlib.abc
import importlib.util
import sys

# Public names and the modules that define them, imported on first use (most of them import TensorFlow or TFX).
_EXPORTS = {
    "BiLSTMClassifier": "textrnn.models.model",
    "EnsembleClassifier": "textrnn.models.ensemble",
    "AttentionPooling": "textrnn.models.attention_pooling",
    "MaskedMaxPooling": "textrnn.models.masked_max_pooling",
    "CharCNN": "textrnn.models.char_cnn",
    "RowWiseAdam": "textrnn.models.row_wise_adam",
    "ModelConfig": "textrnn.models.config",
    "Preset": "textrnn.models.presets",
    "PRESETS": "textrnn.models.presets",
    "get_preset": "textrnn.models.presets",
    "TextrnnError": "textrnn.errors",
    "create_pipeline": "textrnn.pipeline.pipeline",
    "PipelineOptions": "textrnn.pipeline.options",
    "resolve_options": "textrnn.pipeline.options",
    "run_local": "textrnn.pipeline.local_runner",
    "RunResult": "textrnn.pipeline.local_runner",
    "TokenizerConfig": "textrnn.models.config",
    "ArchitectureConfig": "textrnn.models.config",
    "TrainingConfig": "textrnn.models.config",
    "JsonExampleGen": "textrnn.components.json_example_gen",
    "AnomaliesGate": "textrnn.components.anomalies_gate",
    "AtomicPusher": "textrnn.components.atomic_pusher",
    "LatestPushedModel": "textrnn.components.latest_pushed_model",
    "BaselineEvaluator": "textrnn.components.baseline_evaluator",
    "RunVerdict": "textrnn.components.run_verdict",
    "RunReport": "textrnn.components.run_report",
    "GloveCoverage": "textrnn.components.glove_coverage",
    "GloveTrainer": "textrnn.components.glove_trainer",
    "GloveCoverageReport": "textrnn.components.glove_coverage",
    "RunSummary": "textrnn.components.run_artifacts",
    "EmbeddingMatrix": "textrnn.components.glove_coverage",
}
# The modules whose import registers Keras classes.
_KERAS_MODULES = ("textrnn.models.model", "textrnn.models.ensemble")

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'textrnn' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)


class _RegisterWithKeras(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the Keras classes' modules right after `keras` itself is imported, so their registration does not
    make `import textrnn` import TensorFlow."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None:
            return None
        self._keras_loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._keras_loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = self._keras_loader
        self._keras_loader.exec_module(module)
        _register_keras_classes()


def _register_keras_classes():
    for name in _KERAS_MODULES:
        importlib.import_module(name)


if "keras" in sys.modules:
    _register_keras_classes()
elif not any(isinstance(finder, _RegisterWithKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWithKeras())
