"""The textrnn TFX pipeline: JSON headlines to a blessed, pushed BiLSTM sarcasm classifier."""
import dataclasses
import json
from typing import Any, Mapping, Optional, Sequence

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tensorflow_model_analysis.proto import config_pb2 as tfma_config
from tfx import v1 as tfx

from textrnn.components.anomalies_gate import AnomaliesGate
from textrnn.components.atomic_pusher import AtomicPusher
from textrnn.components.baseline_evaluator import BaselineEvaluator
from textrnn.components.json_example_gen import JsonExampleGen
from textrnn.components.import_schema_gen import ImportSchemaGen
from textrnn.components.latest_blessed_model import latest_blessed_model_resolver
from textrnn.components.latest_pushed_model import LatestPushedModel
from textrnn.components.run_report import RunReport
from textrnn.components.run_verdict import RunVerdict
from textrnn.components.serving_check import ServingCheck
from textrnn.code_version import source_fingerprint
from textrnn.contract import LENGTH_BUCKET_KEY, OUTPUT_KEY, RUN_OUTPUTS
from textrnn.models.config import ModelConfig
from textrnn.pipeline.options import DATA_EXPECTATIONS, PREPROCESSING_FN, RUN_FN, TUNER_FN, PipelineOptions
from textrnn.preprocessing import features

BASELINE_FROM_METADATA = "metadata"
BASELINE_FROM_PUSH_DESTINATION = "push_destination"
BASELINE_SOURCES = (BASELINE_FROM_METADATA, BASELINE_FROM_PUSH_DESTINATION)
# The code behind PREPROCESSING_FN, whose changes must rerun the Transform.
PREPROCESSING_MODULES = ("textrnn.preprocessing.preprocessing", "textrnn.preprocessing.features")


def eval_config(loss_upper_bound: float, loss_tolerance: float) -> tfma.EvalConfig:
    """Eval-split metrics, overall and by headline length; the gate on binary cross-entropy.

    A model is blessed only if its eval binary cross-entropy is below `loss_upper_bound` and at most
    `loss_tolerance` above that of the baseline, the latest blessed model (on the first run there is none
    and TFX skips the comparison). Both apply to the whole eval split, not to each length bucket.
    """
    loss_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(upper_bound={"value": loss_upper_bound}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.LOWER_IS_BETTER, absolute={"value": loss_tolerance}
        ),
    )
    overall = tfma.SlicingSpec()
    return tfma.EvalConfig(
        model_specs=[
            # The bucket comes from the model's `transformed_features` signature, which TFMA calls by default
            # when a model has one (so a baseline exported before it existed still evaluates).
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=features.LABEL_KEY,
                prediction_key=OUTPUT_KEY,
            )
        ],
        slicing_specs=[overall, tfma.SlicingSpec(feature_keys=[LENGTH_BUCKET_KEY])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(  # TFMA's BinaryCrossEntropy miscounts (see components/evaluator_metrics.py)
                        class_name="ExactBinaryCrossEntropy",
                        module="textrnn.components.evaluator_metrics",
                        per_slice_thresholds=[tfma_config.PerSliceMetricThreshold(slicing_specs=[overall], threshold=loss_threshold)],
                    ),
                    tfma.MetricConfig(class_name="BinaryAccuracy"),
                    tfma.MetricConfig(class_name="AUC"),
                    tfma.MetricConfig(class_name="Precision"),
                    tfma.MetricConfig(class_name="Recall"),
                    tfma.MetricConfig(class_name="Calibration"),
                    tfma.MetricConfig(class_name="CalibrationPlot"),
                    # For the run report: ROC and precision-recall curves, and the confusion matrix at 0.5.
                    tfma.MetricConfig(class_name="ConfusionMatrixPlot"),
                    tfma.MetricConfig(class_name="ConfusionMatrixAtThresholds", config=json.dumps({"thresholds": [0.5]})),
                ]
            )
        ],
    )


def tuner(transform, schema, model_config: ModelConfig, glove_dir: Optional[str] = None) -> tfx.components.Tuner:
    """TFX's Tuner searching models/search_space.py around `model_config` (see models/tuner.py): trials train on
    the Transform's train split and are scored on its eval split. It reads GloVe itself, from the source the
    config names."""
    if model_config.glove:
        from textrnn.models import glove

        model_config = model_config.replace(glove=glove.resolve_glove(model_config.glove, glove_dir))
    return tfx.components.Tuner(
        tuner_fn=TUNER_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=model_config.to_dict(),
    )


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a pipeline runs, which its runner decides (the user's choices are in PipelineOptions): the artifact
    root, the data, the push destination, ML Metadata, Beam's arguments and the platform's extras.

    `baseline_source` says where the Evaluator's baseline, the latest blessed model, comes from: "metadata", a
    Resolver over ML Metadata; "push_destination", the newest version the Pusher pushed (LatestPushedModel), for
    Kubeflow Pipelines, whose open-source backend cannot run resolver tasks. The gate is the same.
    `verdict_step` adds RunVerdict after the Pusher: it logs the run's summary and fails when nothing was
    blessed (on Kubeflow; locally `run_local` does both). `platform_configs` maps component ids to the platform
    config each component gets with `with_platform_config` (on Kubeflow, a ResourceSpec); the key "*" applies to
    the components without an entry of their own. `cache` says whether the platform uses TFX's cache at all
    (local runs do unless the options say no; Kubeflow Pipelines has its own).
    """

    pipeline_root: str
    data_path: str
    serving_model_dir: str
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None
    beam_pipeline_args: Sequence[str] = ()
    baseline_source: str = BASELINE_FROM_METADATA
    verdict_step: bool = False
    platform_configs: Optional[Mapping[str, Any]] = None
    cache: bool = True


def create_pipeline(options: PipelineOptions, placement: Placement) -> tfx.dsl.Pipeline:
    """The pipeline for `options` (every setting of the run), placed as `placement` says.

    The data components read `placement.data_path`, a folder of JSON Lines or JSON-array headline files; the
    curated schema (`options.schema_file`) is imported and the AnomaliesGate stops the run before Transform on
    any anomaly, skew, drift or broken expectation. A model configuration with `tuner_trials` above 0 adds TFX's
    Tuner before the Trainer, which then trains the best trial's hyperparameters (see models/tuner.py); one with
    `glove` adds the GloVe coverage analysis, whose embedding matrix the Trainer starts from.

    Example:

    >>> from textrnn.pipeline.options import PipelineOptions, resolve_options
    >>> from textrnn.pipeline.pipeline import Placement, create_pipeline
    >>> options = resolve_options({"preset": "book-stacked"}, environ={})
    >>> pipeline = create_pipeline(options, Placement("/tmp/root", "/data/headlines", "/srv/models/textrnn"))
    >>> len(pipeline.components), pipeline.components[-1].id
    (12, 'RunReport')
    """
    model_config = options.model
    serving_model_dir = placement.serving_model_dir
    # The baseline: the newest model that an earlier run's Evaluator blessed (none on the first run).
    if placement.baseline_source == BASELINE_FROM_METADATA:
        baseline_node = latest_blessed_model_resolver()
        evaluator_class, baseline = tfx.components.Evaluator, baseline_node.outputs["model"]
        baseline_statistics = {"baseline_statistics": baseline_node.outputs["statistics"]}
    elif placement.baseline_source == BASELINE_FROM_PUSH_DESTINATION:
        baseline_node = LatestPushedModel(push_destination=serving_model_dir)
        evaluator_class, baseline = BaselineEvaluator, baseline_node.outputs["baseline"]
        baseline_statistics = {}  # no drift check: the push destination keeps models, not their statistics
    else:
        raise ValueError(f"unknown baseline_source {placement.baseline_source!r}; one of {', '.join(BASELINE_SOURCES)}")

    example_gen = JsonExampleGen(input_base=placement.data_path, skip_invalid=options.skip_invalid)
    schema_gen = ImportSchemaGen(schema_file=options.schema_file)
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        # Top values and distinct counts from fixed-size sketches: TFDV's exact ones keep a count for every
        # distinct headline in memory (at 100x the dataset 5.3 GB against 3.1 GB, and slower).
        stats_options=tfdv.StatsOptions(use_sketch_based_topk_uniques=True))
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(
        anomalies=example_validator.outputs["anomalies"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        expectations=json.dumps(DATA_EXPECTATIONS),
        **baseline_statistics,
    )

    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={**model_config.tokenizer_settings(),
                       "source": source_fingerprint(*PREPROCESSING_MODULES)},
        splits_config=tfx.proto.SplitsConfig(analyze=["train"], transform=["train", "eval", "test"]),
        # StatisticsGen and the gate already judge the data; Transform's own pre- and post-transform statistics
        # and its analyzer cache (the TFX cache reuses a whole unchanged Transform) took half its time.
        disable_statistics=True,
        disable_analyzer_cache=True,
    )
    transform.add_upstream_node(anomalies_gate)

    tuner_nodes, tuner_inputs = [], {}
    if model_config.training.tuner_trials:  # the Tuner's best hyperparameters go to the Trainer
        tuner_nodes = [tuner(transform, schema_gen.outputs["schema"], model_config, options.glove_dir)]
        tuner_inputs = {"hyperparameters": tuner_nodes[0].outputs["best_hyperparameters"]}

    glove_nodes, trainer_class, glove_inputs = [], tfx.components.Trainer, {}
    if model_config.glove:  # pre-trained vectors: the coverage analysis, and its matrix as a Trainer input
        from textrnn.components.glove_coverage import glove_coverage
        from textrnn.components.glove_trainer import GloveTrainer

        glove_nodes = [glove_coverage(transform.outputs["transform_graph"], model_config, options.glove_dir)]
        trainer_class, glove_inputs = GloveTrainer, {"embedding": glove_nodes[0].outputs["embedding"]}
    trainer = trainer_class(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=model_config.to_dict(),
        **glove_inputs,
        **tuner_inputs,
    )
    evaluator = evaluator_class(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline,
        eval_config=eval_config(options.eval_loss_bound, options.eval_loss_tolerance),
        example_splits=["eval"],
    )
    # Loads the model as TF Serving does, compares it with the Trainer's, its signatures with the served
    # version's, its costs with the budgets (components/serving_check.py); its InfraBlessing gates the push.
    serving_check = ServingCheck(
        model=trainer.outputs["model"],
        model_run=trainer.outputs["model_run"],
        transform_graph=transform.outputs["transform_graph"],
        examples=example_gen.outputs["examples"],
        serving_model_dir=serving_model_dir,
        budgets=json.dumps(options.serving_budgets()),
        allow_signature_change=int(options.allow_signature_change),
        timeout_seconds=options.serving_check_timeout_s,
    )
    serving_check.add_upstream_node(evaluator)  # quality first; a model the Evaluator refuses still gets figures
    # Pushes only models both checks blessed, each as a new version that appears in one rename
    # (components/atomic_pusher.py).
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=serving_check.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    ).with_id("Pusher")

    # What the run's end reads (its data, model, verdicts and push), by the names of contract.RUN_OUTPUTS.
    nodes = {node.id: node for node in (example_gen, schema_gen, statistics_gen, example_validator, *tuner_nodes,
                                        *glove_nodes, trainer, evaluator, serving_check, pusher)}
    run_outputs = {name: nodes[node_id].outputs[key] for name, (node_id, key) in RUN_OUTPUTS.items()
                   if node_id in nodes}
    run_outputs.update(baseline=baseline, **baseline_statistics)
    # The run's page and summary (components/run_report.py): written whatever the verdict, before RunVerdict can fail.
    sqlite = placement.metadata_connection_config
    report = RunReport(
        **run_outputs,
        run_settings=json.dumps({**options.run_settings(), "data_source": placement.data_path,
                                 "data_expectations": DATA_EXPECTATIONS}),
        metadata_path=sqlite.sqlite.filename_uri if sqlite is not None and sqlite.HasField("sqlite") else "",
    )

    verdict_nodes = []
    if placement.verdict_step:
        # Reads the report's summary, so the page exists even when the verdict fails the run.
        verdict_nodes.append(RunVerdict(summary=report.outputs["summary"]))

    textrnn_pipeline = tfx.dsl.Pipeline(
        pipeline_name=options.pipeline_name,
        pipeline_root=placement.pipeline_root,
        components=[
            example_gen, schema_gen, statistics_gen, example_validator, anomalies_gate,
            transform, *tuner_nodes, *glove_nodes, trainer, baseline_node, evaluator, serving_check, pusher, report,
            *verdict_nodes,
        ],
        enable_cache=options.cache and placement.cache,
        metadata_connection_config=placement.metadata_connection_config,
        beam_pipeline_args=list(placement.beam_pipeline_args),
    )
    platform_configs = placement.platform_configs
    for component in textrnn_pipeline.components if platform_configs else []:
        config = platform_configs.get(component.id, platform_configs.get("*"))
        if config is not None and hasattr(component, "with_platform_config"):  # not the Resolver
            component.with_platform_config(config)
    return textrnn_pipeline
