"""Names that several layers share: the serving signatures and their keys, node ids, file names, exit codes.

They live here, below everything else and with no imports, so that reading a name does not load TensorFlow
and no layer has to import a layer above it to agree on one.

Example:

>>> from textrnn import contract
>>> contract.HEADLINES_SIGNATURE, contract.OUTPUT_KEY
('headlines', 'probability')
"""

# The pipeline's name when a run names none: its folders and ML Metadata context are named after it.
DEFAULT_PIPELINE_NAME = "textrnn"

# --- the serving SavedModel (models/export.py writes it; predict, the Evaluator and the summary read it) ------
DEFAULT_SIGNATURE = "serving_default"  # serialized tf.Examples
HEADLINES_SIGNATURE = "headlines"  # raw headline strings
OUTPUT_KEY = "probability"
# TFMA calls a signature of this name, when a model has one, and slices on its outputs (the Evaluator's
# "by headline length" metrics); it is not a preprocessing step of the model.
TRANSFORMED_FEATURES_SIGNATURE = "transformed_features"
LENGTH_BUCKET_KEY = "headline_length_bucket"
# Words per headline (as the Transform graph tokenizes it): upper bounds and names of the buckets, chosen
# so that each holds from an eighth to a third of the dataset.
LENGTH_BUCKETS = ((8, "0-7 words"), (11, "8-10 words"), (14, "11-13 words"), (None, "14+ words"))

# --- the Trainer's run folder (models/train.py writes it; the summary reads it) ----------------------------------
KERAS_MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
ACCURACY_PNG = "accuracy.png"
LOSS_PNG = "loss.png"

# --- the package --------------------------------------------------------------------------------------------------
# The design card's top-level folders that install as `textrnn.<name>` (setup.py reads this tuple; the run
# report's code version hashes their source).
SUBPACKAGES = ("pipeline", "components", "preprocessing", "models", "kubeflow")

# --- node ids of the pipeline ------------------------------------------------------------------------------------
# The Beam-powered components ("the data components"): the ones Beam's runner settings concern.
DATA_COMPONENTS = ("JsonExampleGen", "StatisticsGen", "Transform", "Evaluator")
# The components that train models (the Tuner, when enabled, trains one per trial).
TRAINING_COMPONENTS = ("Trainer", "Tuner")
# Components that run in every local run even when TFX's cache holds a matching execution: each run trains,
# judges and pushes its own model (a cached Pusher would report an earlier push as this run's; a cached serving
# check would compare with the version served back then; a cached report would be an earlier run's).
ALWAYS_RUN = ("Trainer", "Evaluator", "ServingCheck", "Pusher", "RunReport")
# The last component of every run: its page ("report") and its summary ("summary"), which everything after it reads.
REPORT_NODE = "RunReport"

# Where each output that a run's end reads sits in a run record: node id and output key, as ML Metadata records
# them. RunReport takes these names as inputs, create_pipeline wires them from this table, and
# components/run_record.py reads a run by it (RunVerdict reads only RunReport's summary).
RUN_OUTPUTS = {
    "examples": ("JsonExampleGen", "examples"),
    "statistics": ("StatisticsGen", "statistics"),
    "schema": ("ImportSchemaGen", "schema"),
    "anomalies": ("ExampleValidator", "anomalies"),
    "model": ("Trainer", "model"),
    "model_run": ("Trainer", "model_run"),
    "evaluation": ("Evaluator", "evaluation"),
    "blessing": ("Evaluator", "blessing"),
    "serving_blessing": ("ServingCheck", "blessing"),
    "pushed_model": ("Pusher", "pushed_model"),
    "coverage": ("GloveCoverage", "coverage"),
    "tuner_results": ("Tuner", "tuner_results"),
    "best_hyperparameters": ("Tuner", "best_hyperparameters"),
}
# The Evaluator's baseline comes from a node that differs by platform (a Resolver over ML Metadata locally,
# LatestPushedModel on Kubeflow); a record names it BASELINE_NODE whichever it was, with these outputs.
BASELINE_NODE = "baseline"
BASELINE_OUTPUTS = {"baseline": "model", "baseline_statistics": "statistics"}
LOCAL_BASELINE_NODE = "latest_blessed_model_resolver"

# --- exit status of a run ----------------------------------------------------------------------------------------
# The Evaluator did not bless the model, so nothing was pushed; 1 is any error and 2 a usage error.
NOT_BLESSED_EXIT_CODE = 3
