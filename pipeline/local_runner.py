"""Runs the pipeline with LocalDagRunner; this is the file `tfx pipeline create --engine local` takes.

    tfx pipeline create --engine local --pipeline_path "$PWD/pipeline/local_runner.py"
    tfx run create --engine local --pipeline_name textrnn

Outputs go under $TEXTRNN_OUTPUT (default ./textrnn_output); the dataset is fetched, or copied from
$TEXTRNN_DATA_MIRROR, on first use, unless $TEXTRNN_INPUT_DIR names a folder of headline JSON files.

Local runs use TFX's cache: a component whose inputs and settings match a successful earlier execution
reuses its outputs (so a rerun after a failure resumes where it stopped), except the components in
`configs.ALWAYS_RUN`, which train, judge and push a new model every run. One run at a time uses an output
root (see pipeline/run_lock.py).
"""
from absl import logging
from tfx import v1 as tfx
from tfx.dsl.compiler import constants
from tfx.orchestration.portable import runtime_parameter_utils

from textrnn.pipeline import configs, data
from textrnn.pipeline import pipeline as textrnn_pipeline
from textrnn.pipeline.run_lock import exclusive_run, new_run_id


def create_local_pipeline(
    output_root: str = configs.OUTPUT_ROOT, pipeline_name: str = configs.PIPELINE_NAME, **kwargs
) -> tfx.dsl.Pipeline:
    """The pipeline with local paths for data, artifacts, metadata and pushed models; cached unless
    `enable_cache=False` is passed."""
    if "data_path" not in kwargs:
        kwargs["data_path"] = configs.INPUT_DIR or data.ensure_dataset()
    kwargs.setdefault("enable_cache", True)
    return textrnn_pipeline.create_pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=configs.pipeline_root(output_root, pipeline_name),
        serving_model_dir=configs.serving_model_dir(output_root, pipeline_name),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            configs.metadata_path(output_root, pipeline_name)
        ),
        **kwargs,
    )


class _IdentifiedLocalDagRunner(tfx.orchestration.LocalDagRunner):
    """LocalDagRunner recording its run as `run_id`, with the components in configs.ALWAYS_RUN never taken
    from the cache. Its `run` is LocalDagRunner's own, which the TFX CLI intercepts to read the pipeline."""

    def __init__(self, run_id: str):
        super().__init__()
        self._run_id = run_id

    def run_with_ir(self, pipeline, run_options=None):
        # LocalDagRunner would stamp its own id; substituted here first, ours is the one the run records.
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self._run_id})
        for node in pipeline.nodes:
            if node.pipeline_node.node_info.id in configs.ALWAYS_RUN:
                node.pipeline_node.execution_options.caching_options.enable_cache = False
        return super().run_with_ir(pipeline, run_options)


def run_local_pipeline(pipeline: tfx.dsl.Pipeline, run_id: str) -> None:
    """Runs `pipeline` with LocalDagRunner as run `run_id` (its pipeline-run context in ML Metadata), the
    components in configs.ALWAYS_RUN never taken from the cache."""
    _IdentifiedLocalDagRunner(run_id).run(pipeline)


def run():
    pipeline = create_local_pipeline()
    run_id = new_run_id()
    with exclusive_run(configs.OUTPUT_ROOT, pipeline.pipeline_info.pipeline_name, run_id):
        run_local_pipeline(pipeline, run_id)


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)
    run()
