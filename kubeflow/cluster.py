"""Settings of the pipeline on Kubeflow Pipelines: where data and artifacts live, the image, resources, Beam.

`kubeflow/kubeflow_v2_runner.py` and `textrnn compile-kubeflow` read them; every one can be overridden from
the environment (the names are below), and the command's flags override both.
"""
import os

from textrnn.pipeline import configs as local_configs

PIPELINE_NAME = os.environ.get("TEXTRNN_KFP_PIPELINE_NAME", local_configs.PIPELINE_NAME)

# A bucket that the cluster's pods (and Dataflow, if used) can read and write.
GCS_BUCKET = os.environ.get("TEXTRNN_GCS_BUCKET", "your-bucket")

# Artifacts of every run go under the pipeline root (written into the spec as its defaultPipelineRoot; a
# run may still override it). It must be a filesystem TensorFlow reads and writes (gs://, or s3:// with
# tensorflow-io), not KFP's default minio:// root: the TFX executors open artifact URIs themselves.
PIPELINE_ROOT = os.environ.get("TEXTRNN_KFP_PIPELINE_ROOT", f"gs://{GCS_BUCKET}/textrnn/pipeline_root")
# A folder of headline JSON files (e.g. the dataset's Sarcasm_Headlines_Dataset.json, copied there).
DATA_ROOT = os.environ.get("TEXTRNN_KFP_DATA_ROOT", f"gs://{GCS_BUCKET}/textrnn/data")
# Where Pusher puts blessed models; None: <pipeline root>/serving_model/<pipeline name>.
SERVING_MODEL_DIR = os.environ.get("TEXTRNN_KFP_SERVING_MODEL_DIR")
# GloVe files named without a folder (book-glove's glove.twitter.27B.25d.txt) are read from here by the pods.
# The glove-6b-50d preset needs no file: its vectors are a package in the image.
GLOVE_DIR = os.environ.get("TEXTRNN_KFP_GLOVE_DIR", f"gs://{GCS_BUCKET}/textrnn/glove")

# The image built from kubeflow/Dockerfile (TFX 1.21 with this package installed) that runs every component.
# The curated schema the pods import: by default the copy kubeflow/Dockerfile puts in the image.
SCHEMA_FILE = os.environ.get("TEXTRNN_KFP_SCHEMA_FILE", "/opt/textrnn/schema.pbtxt")
IMAGE = os.environ.get("TEXTRNN_KFP_IMAGE", "gcr.io/your-project/textrnn:latest")
# The compiled Kubeflow Pipelines v2 spec (YAML).
SPEC_FILE = os.environ.get("TEXTRNN_KFP_SPEC", "textrnn_kubeflow.yaml")

# The GPUs of the Trainer (and of the Tuner). The type is the accelerator resource name: on Kubeflow Pipelines the Kubernetes
# resource the pod asks for ("nvidia.com/gpu"); on Vertex AI Pipelines an accelerator type ("NVIDIA_TESLA_T4").
# 0 GPUs: the Trainer runs on CPUs. Several GPUs: run_fn trains with MirroredStrategy over all of them.
GPUS = int(os.environ.get("TEXTRNN_KFP_GPUS", "1"))
GPU_TYPE = os.environ.get("TEXTRNN_KFP_GPU_TYPE", "nvidia.com/gpu")

# CPU and memory requests (Kubernetes quantities) of the pods. The data components run Beam pipelines (in
# the pod with the DirectRunner, or only drive Dataflow or Flink jobs); the Trainer trains; the others are light.
DEFAULT_CPU = os.environ.get("TEXTRNN_KFP_CPU", "1")
DEFAULT_MEMORY = os.environ.get("TEXTRNN_KFP_MEMORY", "4G")
DATA_CPU = os.environ.get("TEXTRNN_KFP_DATA_CPU", "4")
DATA_MEMORY = os.environ.get("TEXTRNN_KFP_DATA_MEMORY", "8G")
TRAINER_CPU = os.environ.get("TEXTRNN_KFP_TRAINER_CPU", "4")
TRAINER_MEMORY = os.environ.get("TEXTRNN_KFP_TRAINER_MEMORY", "16G")
DATA_COMPONENTS = local_configs.DATA_COMPONENTS
# The components that train models (the Tuner, when a preset or --tuner-trials enables it, trains one per trial).
TRAINING_COMPONENTS = ("Trainer", "Tuner")

# Which Beam runner the data components use: "direct" (inside each component's pod), "dataflow", "flink", or
# "portable" (any job service of Beam's portable job API, e.g. Spark's job server).
BEAM_RUNNER = os.environ.get("TEXTRNN_KFP_BEAM_RUNNER", "direct")
BEAM_RUNNERS = ("direct", "dataflow", "flink", "portable")

# DirectRunner: worker processes in the pod; by default as many as the data components' CPU request.
DIRECT_RUNNING_MODE = os.environ.get("TEXTRNN_KFP_DIRECT_MODE", "multi_processing")
DIRECT_NUM_WORKERS = int(os.environ.get("TEXTRNN_KFP_DIRECT_WORKERS", "0")) or None  # None: from DATA_CPU

# Dataflow: its workers run the same image (--sdk_container_image), so they have this package.
GCP_PROJECT = os.environ.get("TEXTRNN_GCP_PROJECT", "your-project")
GCP_REGION = os.environ.get("TEXTRNN_GCP_REGION", "us-central1")
DATAFLOW_TEMP_LOCATION = os.environ.get("TEXTRNN_DATAFLOW_TEMP", f"gs://{GCS_BUCKET}/textrnn/beam_tmp")
DATAFLOW_MACHINE_TYPE = os.environ.get("TEXTRNN_DATAFLOW_MACHINE_TYPE", "n1-standard-4")
DATAFLOW_MAX_WORKERS = int(os.environ.get("TEXTRNN_DATAFLOW_MAX_WORKERS", "8"))

# Flink: a Flink cluster in reach of the pods, whose task managers run a Beam worker pool of this same
# image as a sidecar (`/opt/apache/beam/boot --worker_pool`, port 50000): the EXTERNAL environment.
FLINK_MASTER = os.environ.get("TEXTRNN_FLINK_MASTER", "flink-jobmanager.flink.svc.cluster.local:8081")
FLINK_PARALLELISM = int(os.environ.get("TEXTRNN_FLINK_PARALLELISM", "4"))
FLINK_WORKER_POOL = os.environ.get("TEXTRNN_FLINK_WORKER_POOL", "localhost:50000")

# Portable: a job service in reach of the pods, and a worker pool of this same image beside its workers, as for
# Flink. `textrnn run --beam-runner portable` runs the same arguments locally (tests/test_portable_runner.py).
PORTABLE_JOB_ENDPOINT = os.environ.get("TEXTRNN_PORTABLE_JOB_ENDPOINT", "beam-job-server.beam.svc.cluster.local:8099")
PORTABLE_WORKER_POOL = os.environ.get("TEXTRNN_PORTABLE_WORKER_POOL", "localhost:50000")


def beam_pipeline_args(runner: str = BEAM_RUNNER, image: str = IMAGE) -> list:
    """The Beam arguments of every Beam-powered component for `runner` (one of BEAM_RUNNERS)."""
    if runner == "direct":
        workers = DIRECT_NUM_WORKERS or max(1, int(cpu_cores(DATA_CPU)))
        return [f"--direct_running_mode={DIRECT_RUNNING_MODE}", f"--direct_num_workers={workers}"]
    if runner == "dataflow":
        return [
            "--runner=DataflowRunner",
            f"--project={GCP_PROJECT}",
            f"--region={GCP_REGION}",
            f"--temp_location={DATAFLOW_TEMP_LOCATION}",
            f"--sdk_container_image={image}",
            "--experiments=use_runner_v2",
            f"--machine_type={DATAFLOW_MACHINE_TYPE}",
            f"--max_num_workers={DATAFLOW_MAX_WORKERS}",
        ]
    if runner == "flink":
        return [
            "--runner=FlinkRunner",
            f"--flink_master={FLINK_MASTER}",
            "--flink_submit_uber_jar",
            f"--parallelism={FLINK_PARALLELISM}",
            *local_configs.external_worker_args(FLINK_WORKER_POOL),
        ]
    if runner == "portable":
        return ["--runner=PortableRunner", f"--job_endpoint={PORTABLE_JOB_ENDPOINT}",
                *local_configs.external_worker_args(PORTABLE_WORKER_POOL)]
    raise ValueError(f"unknown Beam runner {runner!r}; one of {', '.join(BEAM_RUNNERS)}")


def cpu_cores(quantity: str) -> float:
    """Cores in a Kubernetes CPU quantity: "2" is 2.0, "500m" is 0.5."""
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
