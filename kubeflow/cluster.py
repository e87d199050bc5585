"""What only a Kubeflow cluster needs: where data and artifacts live, the image, resources, the Beam runner.

The pipeline's own settings (preset, model settings, gate, schema, ...) are `pipeline/options.py`'s, shared with
local runs. These are defined the same way, once each, with their environment variables prefixed
TEXTRNN_KFP_ (`textrnn settings` lists them); `textrnn compile-kubeflow` takes both as flags.

Example:

>>> from textrnn.kubeflow.cluster import resolve_cluster_options
>>> cluster = resolve_cluster_options({"gcs_bucket": "ml-data"}, environ={})
>>> cluster.pipeline_root, cluster.beam_pipeline_args()[:1]
('gs://ml-data/textrnn/pipeline_root', ['--direct_running_mode=multi_processing'])
"""
import dataclasses
from typing import Any, Dict, List, Mapping, Optional

from textrnn.pipeline.options import Origin, SettingsError, external_worker_args, parse_value, settings_of
from textrnn.preprocessing.features import setting

ENV_PREFIX = "TEXTRNN_KFP_"
BEAM_RUNNERS = ("direct", "dataflow", "flink", "portable")
# The curated schema at the fixed path where kubeflow/Dockerfile puts it in the image.
IMAGE_SCHEMA_FILE = "/opt/textrnn/schema.pbtxt"
# An empty requirements file in the image (kubeflow/Dockerfile): naming it tells TFX that the workers have what
# they need, so it builds no `tfx_ephemeral` package of its own installation (see pipeline/options.py).
IMAGE_REQUIREMENTS_FILE = "/opt/textrnn/no_requirements.txt"


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """The cluster's settings; paths left empty derive from `gcs_bucket`."""

    gcs_bucket: str = setting("your-bucket", "a bucket the cluster's pods (and Dataflow, if used) read and write")
    pipeline_root: Optional[str] = setting(
        None, "where runs write their artifacts (a filesystem TensorFlow reads: gs://, or s3:// with tensorflow-io, "
              "not KFP's minio:// default); default gs://<bucket>/textrnn/pipeline_root")
    data_root: Optional[str] = setting(None, "folder of headline JSON files the pods can read; default "
                                             "gs://<bucket>/textrnn/data")
    serving_model_dir: Optional[str] = setting(None, "where the Pusher puts blessed models; default <pipeline "
                                                     "root>/serving_model/<pipeline name>")
    image: str = setting("gcr.io/your-project/textrnn:latest", "the image built from kubeflow/Dockerfile that runs "
                                                               "every component")
    output: str = setting("textrnn_kubeflow.yaml", "the Kubeflow Pipelines v2 spec (YAML) to write", env=ENV_PREFIX + "SPEC")
    gpus: int = setting(1, "GPUs for the Trainer (and the Tuner), 0 for none; several: MirroredStrategy")
    gpu_type: str = setting("nvidia.com/gpu", "accelerator: the Kubernetes resource on Kubeflow (nvidia.com/gpu), "
                                              "the type on Vertex AI (NVIDIA_TESLA_T4)")
    default_cpu: str = setting("1", "CPU request of the light components (a Kubernetes quantity)", env=ENV_PREFIX + "CPU")
    default_memory: str = setting("4G", "memory request of the light components", env=ENV_PREFIX + "MEMORY")
    data_cpu: str = setting("4", "CPU request of the data (Beam-powered) components")
    data_memory: str = setting("8G", "memory request of the data components")
    trainer_cpu: str = setting("4", "CPU request of the Trainer and the Tuner")
    trainer_memory: str = setting("16G", "memory request of the Trainer and the Tuner")
    beam_runner: str = setting("direct", "where the data components run Beam: direct (in each pod), dataflow, "
                                         "flink or portable (any job service of Beam's portable job API)",
                               choices=BEAM_RUNNERS)
    direct_mode: str = setting("multi_processing", "DirectRunner: how it runs in the pod")
    direct_workers: int = setting(0, "DirectRunner: worker processes (0: as many as data_cpu)")
    gcp_project: str = setting("your-project", "Dataflow: the project")
    gcp_region: str = setting("us-central1", "Dataflow: the region")
    dataflow_temp: Optional[str] = setting(None, "Dataflow: temp location; default gs://<bucket>/textrnn/beam_tmp")
    dataflow_machine_type: str = setting("n1-standard-4", "Dataflow: worker machine type")
    dataflow_max_workers: int = setting(8, "Dataflow: most workers")
    flink_master: str = setting("flink-jobmanager.flink.svc.cluster.local:8081", "Flink: the job manager")
    flink_parallelism: int = setting(4, "Flink: parallelism")
    flink_worker_pool: str = setting("localhost:50000", "Flink: the Beam worker pool of this image beside each task "
                                                        "manager (/opt/apache/beam/boot --worker_pool)")
    portable_job_endpoint: str = setting("beam-job-server.beam.svc.cluster.local:8099", "portable: the job service")
    portable_worker_pool: str = setting("localhost:50000", "portable: the Beam worker pool of this image")
    origins: Mapping[str, Origin] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        bucket = f"gs://{self.gcs_bucket}/textrnn"
        for name, default in (("pipeline_root", f"{bucket}/pipeline_root"), ("data_root", f"{bucket}/data"),
                              ("dataflow_temp", f"{bucket}/beam_tmp")):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        if self.beam_runner not in BEAM_RUNNERS:
            raise SettingsError(f"unknown Beam runner {self.beam_runner!r}; one of {', '.join(BEAM_RUNNERS)}")

    @property
    def glove_dir(self) -> str:
        """Where the pods find GloVe files named without a folder, unless the run names its own glove_dir."""
        return f"gs://{self.gcs_bucket}/textrnn/glove"

    def beam_pipeline_args(self) -> List[str]:
        """The Beam arguments of every Beam-powered component for this cluster's runner. Each names the installed
        package (or the image, for Dataflow), so no pod builds TFX's throwaway `tfx_ephemeral` package."""
        runner = self.beam_runner
        if runner == "direct":
            workers = self.direct_workers or max(1, int(cpu_cores(self.data_cpu)))
            return [f"--direct_running_mode={self.direct_mode}", f"--direct_num_workers={workers}",
                    f"--requirements_file={IMAGE_REQUIREMENTS_FILE}"]
        if runner == "dataflow":
            return [
                "--runner=DataflowRunner",
                f"--project={self.gcp_project}",
                f"--region={self.gcp_region}",
                f"--temp_location={self.dataflow_temp}",
                f"--sdk_container_image={self.image}",  # its workers run this image, which has the package
                "--experiments=use_runner_v2",
                f"--machine_type={self.dataflow_machine_type}",
                f"--max_num_workers={self.dataflow_max_workers}",
            ]
        if runner == "flink":
            return ["--runner=FlinkRunner", f"--flink_master={self.flink_master}", "--flink_submit_uber_jar",
                    f"--parallelism={self.flink_parallelism}", *external_worker_args(self.flink_worker_pool),
                    f"--requirements_file={IMAGE_REQUIREMENTS_FILE}"]
        return ["--runner=PortableRunner", f"--job_endpoint={self.portable_job_endpoint}",
                *external_worker_args(self.portable_worker_pool), f"--requirements_file={IMAGE_REQUIREMENTS_FILE}"]


def cluster_settings():
    return settings_of(ClusterOptions, "kubeflow", ENV_PREFIX)


def resolve_cluster_options(flags: Optional[Mapping[str, Any]] = None,
                            environ: Optional[Mapping[str, str]] = None) -> ClusterOptions:
    """The cluster's settings from `flags` (name to typed value; None: not given), the environment, the defaults."""
    import os

    environ = os.environ if environ is None else environ
    values: Dict[str, Any] = {}
    origins: Dict[str, Origin] = {}
    for info in cluster_settings():
        if (flags or {}).get(info.name) is not None:
            values[info.name], origins[info.name] = flags[info.name], Origin("flag", info.flag)
        elif environ.get(info.env) not in (None, ""):
            values[info.name] = parse_value(environ[info.env], info.type, info.env)
            origins[info.name] = Origin("environment", info.env)
        else:
            origins[info.name] = Origin("default")
    return ClusterOptions(**values, origins=origins)


def cpu_cores(quantity: str) -> float:
    """Cores in a Kubernetes CPU quantity: "2" is 2.0, "500m" is 0.5."""
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
