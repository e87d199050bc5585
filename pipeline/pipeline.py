"""The textrnn TFX pipeline: JSON headlines to a blessed, pushed BiLSTM sarcasm classifier."""
from typing import List, Optional

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.anomalies_gate import AnomaliesGate
from components.json_example_gen import JsonExampleGen
from models.config import ModelConfig
from pipeline import configs
from preprocessing import features


def eval_config(loss_upper_bound: float) -> tfma.EvalConfig:
    """Eval-split metrics; the model is blessed only if binary cross-entropy stays under the bound."""
    loss_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(upper_bound={"value": loss_upper_bound})
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=features.LABEL_KEY,
                prediction_key="probability",
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="BinaryCrossEntropy", threshold=loss_threshold),
                    tfma.MetricConfig(class_name="BinaryAccuracy"),
                    tfma.MetricConfig(class_name="AUC"),
                ]
            )
        ],
    )


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_path: str,
    serving_model_dir: str,
    model_config: ModelConfig = ModelConfig(),
    eval_loss_upper_bound: float = configs.EVAL_LOSS_UPPER_BOUND,
    skip_invalid: bool = False,
    beam_pipeline_args: Optional[List[str]] = None,
    metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None,
) -> tfx.dsl.Pipeline:
    """Returns the pipeline; `data_path` is a folder of JSON Lines or JSON-array headline files."""
    example_gen = JsonExampleGen(input_base=data_path, skip_invalid=skip_invalid)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"])
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])

    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=configs.PREPROCESSING_FN,
        custom_config={"vocab_size": model_config.vocab_size, "max_length": model_config.max_length},
        splits_config=tfx.proto.SplitsConfig(analyze=["train"], transform=["train", "eval", "test"]),
    )
    transform.add_upstream_node(anomalies_gate)

    trainer = tfx.components.Trainer(
        run_fn=configs.RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=model_config.to_dict(),
    )
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        eval_config=eval_config(eval_loss_upper_bound),
        example_splits=["eval"],
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    )

    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[
            example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
            transform, trainer, evaluator, pusher,
        ],
        enable_cache=False,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=configs.BEAM_PIPELINE_ARGS if beam_pipeline_args is None else beam_pipeline_args,
    )
