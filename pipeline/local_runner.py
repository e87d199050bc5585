"""Runs the pipeline with LocalDagRunner; this is the file `tfx pipeline create --engine local` takes.

    tfx pipeline create --engine local --pipeline_path "$PWD/pipeline/local_runner.py"
    tfx run create --engine local --pipeline_name textrnn

Outputs go under $TEXTRNN_OUTPUT (default ./textrnn_output); the dataset is fetched, or copied from
$TEXTRNN_DATA_MIRROR, on first use, unless $TEXTRNN_INPUT_DIR names a folder of headline JSON files.
"""
from absl import logging
from tfx import v1 as tfx

from textrnn.pipeline import configs, data
from textrnn.pipeline import pipeline as textrnn_pipeline


def create_local_pipeline(
    output_root: str = configs.OUTPUT_ROOT, pipeline_name: str = configs.PIPELINE_NAME, **kwargs
) -> tfx.dsl.Pipeline:
    """The pipeline with local paths for data, artifacts, metadata and pushed models."""
    if "data_path" not in kwargs:
        kwargs["data_path"] = configs.INPUT_DIR or data.ensure_dataset()
    return textrnn_pipeline.create_pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=configs.pipeline_root(output_root, pipeline_name),
        serving_model_dir=configs.serving_model_dir(output_root, pipeline_name),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            configs.metadata_path(output_root, pipeline_name)
        ),
        **kwargs,
    )


def run():
    tfx.orchestration.LocalDagRunner().run(create_local_pipeline())


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)
    run()
