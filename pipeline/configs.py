"""Settings of the textrnn pipeline that users change most; the runners read them."""
import os

PIPELINE_NAME = "textrnn"

# Python paths of the user functions; the textrnn package is installed wherever components run.
PREPROCESSING_FN = "preprocessing.preprocessing.preprocessing_fn"
RUN_FN = "models.train.run_fn"

# All pipeline outputs (artifacts, metadata, pushed models) go under this folder.
OUTPUT_ROOT = os.environ.get("TEXTRNN_OUTPUT", os.path.join(os.getcwd(), "textrnn_output"))

# A folder of headline JSON files to read instead of the fetched dataset (None: the fetched dataset).
INPUT_DIR = os.environ.get("TEXTRNN_INPUT_DIR")

# The Evaluator blesses a model only if its binary cross-entropy on the eval split is below this.
EVAL_LOSS_UPPER_BOUND = 0.45
# ... and at most this much above that of the latest blessed model (retraining the same configuration
# moves the eval loss by about this much).
EVAL_LOSS_TOLERANCE = 0.01

# Beam's DirectRunner on all local cores, in separate processes.
BEAM_PIPELINE_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]


def pipeline_root(output_root: str, pipeline_name: str = PIPELINE_NAME) -> str:
    return os.path.join(output_root, "pipelines", pipeline_name)


def metadata_path(output_root: str, pipeline_name: str = PIPELINE_NAME) -> str:
    return os.path.join(output_root, "metadata", pipeline_name, "metadata.db")


def serving_model_dir(output_root: str, pipeline_name: str = PIPELINE_NAME) -> str:
    return os.path.join(output_root, "serving_model", pipeline_name)
