"""The Evaluator, for a baseline that may be absent: the output of LatestPushedModel on a first run.

TFX's Evaluator compares with its `baseline_model` whenever the input is there; on Kubeflow the
LatestPushedModel output is always there, empty on the first run. This Evaluator drops an empty baseline
before evaluating, so the first run is held to the loss bound alone and later runs also to "no worse than
the serving model by the tolerance", as local runs are with the Resolver.

Example:

>>> from tfx import v1 as tfx
>>> from textrnn.components.baseline_evaluator import BaselineEvaluator
>>> model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
>>> examples = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples)
>>> BaselineEvaluator(examples=examples, model=model, baseline_model=model).id
'Evaluator'
"""
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx import v1 as tfx
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

from textrnn.components.latest_pushed_model import baseline_found


class Executor(evaluator_executor.Executor):
    """The stock Evaluator executor, run without the baseline when the baseline input holds no model."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        baselines = input_dict.get(standard_component_specs.BASELINE_MODEL_KEY) or []
        if baselines and not all(baseline_found(b) for b in baselines):
            logging.info("the baseline input holds no model: evaluating without a baseline")
            input_dict = {k: v for k, v in input_dict.items() if k != standard_component_specs.BASELINE_MODEL_KEY}
        super().Do(input_dict, output_dict, exec_properties)


class BaselineEvaluator(tfx.components.Evaluator):
    """tfx.components.Evaluator (same inputs, outputs and properties, id "Evaluator") whose executor drops a
    baseline that holds no model."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.with_id("Evaluator")
