"""The baseline of a local run: the latest blessed model, its blessing, and the statistics it was trained on.

TFX's LatestBlessedModelStrategy resolves the first two; this strategy adds the StatisticsGen output of the
pipeline run whose Trainer produced that model, for the drift check of the AnomaliesGate. Its outputs are
empty on a first run (no blessed model); the statistics alone are empty when that run recorded none.

Example:

>>> from tfx import v1 as tfx
>>> from textrnn.components.latest_blessed_model import latest_blessed_model_resolver
>>> resolver = latest_blessed_model_resolver()
>>> resolver.id, sorted(resolver.outputs)
('latest_blessed_model_resolver', ['model', 'model_blessing', 'statistics'])
"""
from typing import Dict, List, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx import v1 as tfx
from tfx.dsl.compiler import constants
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.types import standard_artifacts

from textrnn.components import run_record

MODEL, BLESSING, STATISTICS = "model", "model_blessing", "statistics"
# The node whose `statistics` output describes a run's training data.
STATISTICS_NODE = "StatisticsGen"


def producing_run(store: mlmd.MetadataStore, artifact_id: int) -> Optional[metadata_store_pb2.Context]:
    """The pipeline-run context of the execution that output the artifact."""
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                 if e.type == metadata_store_pb2.Event.OUTPUT]
    run_type = store.get_context_type(constants.PIPELINE_RUN_CONTEXT_TYPE_NAME)
    for context in store.get_contexts_by_execution(producers[0]) if producers else []:
        if context.type_id == run_type.id:
            return context
    return None


def run_statistics_id(store: mlmd.MetadataStore, run: metadata_store_pb2.Context) -> Optional[int]:
    """The id of the artifact StatisticsGen output in a pipeline run (reused from the cache or not)."""
    statistics = run_record.read_run_context(store, run).output(STATISTICS_NODE, STATISTICS)
    return statistics.id if statistics is not None else None


class LatestBlessedModelAndStatisticsStrategy(tfx.dsl.experimental.ResolverStrategy):
    """Resolves `model` and `model_blessing` as LatestBlessedModelStrategy does, and `statistics`, the
    training statistics of the run that produced that model."""

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        result = {MODEL: [], BLESSING: [], STATISTICS: []}
        if not input_dict[MODEL] or not input_dict[BLESSING]:
            return result
        result.update(LatestBlessedModelStrategy()._resolve(  # pylint: disable=protected-access
            {MODEL: list(input_dict[MODEL]), BLESSING: input_dict[BLESSING]}, MODEL, BLESSING))
        if result[MODEL]:
            run = producing_run(store, result[MODEL][0].id)
            statistics_id = run_statistics_id(store, run) if run else None
            result[STATISTICS] = [a for a in input_dict[STATISTICS] if a.id == statistics_id]
        return result


def latest_blessed_model_resolver() -> tfx.dsl.Resolver:
    """The Resolver node of the baseline, id "latest_blessed_model_resolver" as in the TFX templates."""
    return tfx.dsl.Resolver(
        strategy_class=LatestBlessedModelAndStatisticsStrategy,
        model=tfx.dsl.Channel(type=standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing),
        statistics=tfx.dsl.Channel(type=standard_artifacts.ExampleStatistics),
    ).with_id("latest_blessed_model_resolver")
