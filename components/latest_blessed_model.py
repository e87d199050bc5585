"""The baseline of a local run: the latest blessed model, its blessing, and the statistics it was trained on.

TFX's LatestBlessedModelStrategy resolves the first two; this strategy leaves out the models the serving check
refused (the Evaluator blessed them, but they were never pushed, so never served) and adds the StatisticsGen
output of the pipeline run whose Trainer produced that model, for the drift check of the AnomaliesGate. Its
outputs are empty on a first run (no blessed model); the statistics alone are empty when that run recorded none.

Example:

>>> from tfx import v1 as tfx
>>> from textrnn.components.latest_blessed_model import latest_blessed_model_resolver
>>> resolver = latest_blessed_model_resolver()
>>> resolver.id, sorted(resolver.outputs)
('latest_blessed_model_resolver', ['infra_blessing', 'model', 'model_blessing', 'statistics'])
"""
from typing import Dict, Iterable, List, Optional, Set, Tuple

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx import v1 as tfx
from tfx.dsl.compiler import constants
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.types import standard_artifacts

from textrnn.components import run_record
from textrnn.contract import LOCAL_BASELINE_NODE

MODEL, BLESSING, STATISTICS, INFRA_BLESSING = "model", "model_blessing", "statistics", "infra_blessing"
# The custom property naming the model a blessing judged, as the Evaluator's ModelBlessing and ServingCheck's
# InfraBlessing both record it.
MODEL_ID_KEY = "current_model_id"
# The node whose `statistics` output describes a run's training data.
STATISTICS_NODE = "StatisticsGen"


def refused_models(verdicts: Iterable[Tuple[int, int]]) -> Set[int]:
    """The ids of the models the serving check refused, from (model id, blessed) of each InfraBlessing."""
    return {model_id for model_id, blessed in verdicts if not blessed}


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
    """Resolves `model` and `model_blessing` as LatestBlessedModelStrategy does among the models the serving
    check did not refuse, and `statistics`, the training statistics of the run that produced that model."""

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        result = {MODEL: [], BLESSING: [], STATISTICS: [], INFRA_BLESSING: []}
        refused = refused_models((a.get_int_custom_property(MODEL_ID_KEY), a.get_int_custom_property("blessed"))
                                 for a in input_dict.get(INFRA_BLESSING, []))
        models = [model for model in input_dict[MODEL] if model.id not in refused]
        if not models or not input_dict[BLESSING]:
            return result
        result.update(LatestBlessedModelStrategy()._resolve(  # pylint: disable=protected-access
            {MODEL: models, BLESSING: input_dict[BLESSING]}, MODEL, BLESSING))
        if result[MODEL]:
            run = producing_run(store, result[MODEL][0].id)
            statistics_id = run_statistics_id(store, run) if run else None
            result[STATISTICS] = [a for a in input_dict[STATISTICS] if a.id == statistics_id]
        return result


def latest_blessed_model_resolver() -> tfx.dsl.Resolver:
    """The Resolver node of the baseline, id "latest_blessed_model_resolver" (contract.LOCAL_BASELINE_NODE) as in
    the TFX templates."""
    return tfx.dsl.Resolver(
        strategy_class=LatestBlessedModelAndStatisticsStrategy,
        model=tfx.dsl.Channel(type=standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing),
        statistics=tfx.dsl.Channel(type=standard_artifacts.ExampleStatistics),
        infra_blessing=tfx.dsl.Channel(type=standard_artifacts.InfraBlessing),
    ).with_id(LOCAL_BASELINE_NODE)
