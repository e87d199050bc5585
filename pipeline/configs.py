"""Settings of the textrnn pipeline that users change most; the runners read them."""
import os
from typing import List, Optional

PIPELINE_NAME = "textrnn"

# Python paths of the user functions; the textrnn package is installed wherever components run.
PREPROCESSING_FN = "textrnn.preprocessing.preprocessing.preprocessing_fn"
RUN_FN = "textrnn.models.train.run_fn"
TUNER_FN = "textrnn.models.tuner.tuner_fn"

# All pipeline outputs (artifacts, metadata, pushed models) go under this folder.
OUTPUT_ROOT = os.environ.get("TEXTRNN_OUTPUT", os.path.join(os.getcwd(), "textrnn_output"))

# A folder of headline JSON files to read instead of the fetched dataset (None: the fetched dataset).
INPUT_DIR = os.environ.get("TEXTRNN_INPUT_DIR")

# The curated schema of the headline records, imported by ImportSchemaGen: the data contract every run's
# examples are validated against, with the label's skew and drift bounds (TFDV comparators).
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema", "schema.pbtxt")

# What the examples of every split must also look like, [low, high] each, which a TFDV schema cannot state;
# the v1 dataset has 43.9 % sarcastic headlines of 61 characters on average.
DATA_EXPECTATIONS = {"sarcastic_share": (0.2, 0.8), "headline_mean_characters": (20, 200)}

# Components that run in every local run even when TFX's cache holds a matching execution: each run trains,
# judges and pushes its own model (a cached Pusher would report an earlier push as this run's).
ALWAYS_RUN = ("Trainer", "Evaluator", "Pusher")

# The Evaluator blesses a model only if its binary cross-entropy on the eval split is below this.
EVAL_LOSS_UPPER_BOUND = 0.45
# ... and at most this much above that of the latest blessed model (retraining the same configuration
# moves the eval loss by about this much).
EVAL_LOSS_TOLERANCE = 0.01

# The Beam-powered components ("the data components"): the ones Beam's runner settings below concern.
DATA_COMPONENTS = ("JsonExampleGen", "StatisticsGen", "Transform", "Evaluator")

# How Beam's DirectRunner runs the data components (ExampleGen, StatisticsGen, Transform, Evaluator).
# multi_processing starts worker processes in every one of them, and each worker imports TensorFlow (about
# 10 s per component on 2 cores), which pays off only for large inputs; "auto" picks in_memory for inputs
# up to AUTO_MULTI_PROCESSING_BYTES (the v1 dataset is 5.6 MB) and multi_processing above.
BEAM_MODES = ("auto", "in_memory", "multi_processing")
AUTO_MULTI_PROCESSING_BYTES = 50 * 2**20

# The project's setup.py, which declares everything Beam workers import (empty: none). In multi_processing
# mode, naming it (--setup_file) keeps TFX from packing its own installation into a throwaway 52 MB sdist in
# every Beam component, left behind in the temp folder; the local workers run this same Python.
SETUP_FILE = os.environ.get(
    "TEXTRNN_BEAM_SETUP_FILE", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py")
)


def disk_bytes(path: str) -> int:
    """Size of the file, or of all files under the folder, at `path` (0 when there is none)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names)


def resolve_beam_mode(mode: str, data_path: Optional[str] = None) -> str:
    """`mode`, with "auto" replaced by in_memory or multi_processing according to the size of `data_path`."""
    if mode not in BEAM_MODES:
        raise ValueError(f"unknown Beam mode {mode!r}; one of {', '.join(BEAM_MODES)}")
    if mode != "auto":
        return mode
    large = data_path is not None and disk_bytes(data_path) > AUTO_MULTI_PROCESSING_BYTES
    return "multi_processing" if large else "in_memory"


def beam_pipeline_args(mode: str = "auto", workers: int = 0, data_path: Optional[str] = None) -> List[str]:
    """Arguments for Beam's DirectRunner in `mode` (see BEAM_MODES); multi_processing runs `workers` processes
    (0: one per core). in_memory is Beam's default and needs no arguments (so TFX packs nothing either)."""
    if resolve_beam_mode(mode, data_path) == "in_memory":
        return []
    args = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    if SETUP_FILE and os.path.exists(SETUP_FILE):
        args.append(f"--setup_file={SETUP_FILE}")
    return args


# Beam runners of local runs: "direct" (Beam's DirectRunner in this process, see BEAM_MODES) or "portable", a
# job service of Beam's portable job API (what Flink's and Spark's job servers serve) with SDK workers from an
# external worker pool, both given as host:port.
BEAM_RUNNERS = ("direct", "portable")


def external_worker_args(worker_pool: str) -> List[str]:
    """Beam arguments for SDK workers started by the worker pool at `worker_pool` (host:port: Beam's
    `worker_pool_main`, or `/opt/apache/beam/boot --worker_pool` in this package's image); they import
    textrnn and TFX from their own installation."""
    return ["--environment_type=EXTERNAL", f"--environment_config={worker_pool}"]


def portable_beam_pipeline_args(job_endpoint: str, worker_pool: str) -> List[str]:
    """Arguments for Beam's PortableRunner submitting to the job service at `job_endpoint` (host:port)."""
    args = ["--runner=PortableRunner", f"--job_endpoint={job_endpoint}", *external_worker_args(worker_pool)]
    if SETUP_FILE and os.path.exists(SETUP_FILE):  # as for multi_processing: no throwaway TFX package
        args.append(f"--setup_file={SETUP_FILE}")
    return args


def pipeline_root(output_root: str, pipeline_name: str = PIPELINE_NAME) -> str:
    return os.path.join(output_root, "pipelines", pipeline_name)


def metadata_path(output_root: str, pipeline_name: str = PIPELINE_NAME) -> str:
    return os.path.join(output_root, "metadata", pipeline_name, "metadata.db")


def serving_model_dir(output_root: str, pipeline_name: str = PIPELINE_NAME) -> str:
    return os.path.join(output_root, "serving_model", pipeline_name)
