"""Every setting of a pipeline run, each defined once: its default, help, flag and environment variable.

A setting is a field of `PipelineOptions` (the pipeline's own) or of the model's configuration
(`models/config.py`, whose fields a preset fills). Its flag is `--name-with-dashes`, its environment variable
`TEXTRNN_NAME` (a few keep an older name, given with `env=`), its help and default are the field's. Where a
value comes from, strongest first: a flag, the environment, the preset (its model configuration, and the
pipeline settings in its `settings`, such as an ensemble's serving budgets), the default.
`textrnn run`, `textrnn compile-kubeflow`, the file that `tfx pipeline create` takes and `textrnn settings` all
resolve the same way, with `resolve_options`.

Example:

>>> from textrnn.pipeline.options import resolve_options
>>> options = resolve_options({"epochs": 3}, environ={"TEXTRNN_PRESET": "book-stacked"})
>>> options.preset, options.model.training.epochs, options.model.architecture.lstm_units
('book-stacked', 3, (64, 64))
>>> options.origins["epochs"].source, options.origins["lstm_units"].source, options.origins["dropout"].source
('flag', 'preset', 'preset')
"""
import dataclasses
import os
import typing
from typing import Any, Dict, List, Mapping, Optional, Tuple

from textrnn.contract import ALWAYS_RUN, DEFAULT_PIPELINE_NAME
from textrnn.errors import TextrnnError
from textrnn.models import presets
from textrnn.models.config import ModelConfig
from textrnn.preprocessing.features import setting

ENV_PREFIX = "TEXTRNN_"

# Python paths of the user functions; the textrnn package is installed wherever components run.
PREPROCESSING_FN = "textrnn.preprocessing.preprocessing.preprocessing_fn"
RUN_FN = "textrnn.models.train.run_fn"
TUNER_FN = "textrnn.models.tuner.tuner_fn"

# The curated schema of the headline records, imported by ImportSchemaGen: the data schema every run's
# examples are validated against, with the label's skew and drift bounds (TFDV comparators).
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema", "schema.pbtxt")

# What the examples of every split must also look like, [low, high] each, which a TFDV schema cannot state;
# the v1 dataset has 43.9 % sarcastic headlines of 61 characters on average.
DATA_EXPECTATIONS = {"sarcastic_share": (0.2, 0.8), "headline_mean_characters": (20, 200)}

# How Beam's DirectRunner runs the data components. multi_processing starts worker processes in every one of
# them, and each worker imports TensorFlow (about 10 s per component on 2 cores), which pays off only for large
# inputs; "auto" picks in_memory up to AUTO_MULTI_PROCESSING_BYTES (the v1 dataset is 5.6 MB).
BEAM_MODES = ("auto", "in_memory", "multi_processing")
AUTO_MULTI_PROCESSING_BYTES = 50 * 2**20
# The serving check's default budgets. The ratios compare the candidate with the version being served, measured
# side by side (benchmarks/results/serving-ratios.md: a model against a copy of itself stays within these on an
# idle machine and with both cores kept busy, and a model several times slower is far outside them). The absolute
# ones only catch the pathological on any machine (a second per headline, a minute to load) and protect the
# machine (memory). presets.Preset.settings may replace them: the `best` ensemble serves slower than one model.
SERVING_BUDGETS = {"serving_max_p50_ratio": 1.5, "serving_max_p99_ratio": 2.0, "serving_min_throughput_ratio": 0.67,
                   "serving_max_memory_ratio": 1.5, "serving_max_load_s": 60.0, "serving_max_p50_ms": 1000.0,
                   "serving_max_p99_ms": 0.0, "serving_min_headlines_per_second": 0.0,
                   "serving_max_memory_mb": 2000.0}
# Beam runners of local runs: Beam's DirectRunner in this process, or a job service of Beam's portable job API
# (what Flink's and Spark's job servers serve) with SDK workers from an external worker pool.
BEAM_RUNNERS = ("direct", "portable")


class SettingsError(TextrnnError, ValueError):
    """A setting's value cannot be used; the message names the setting and where the value came from."""


@dataclasses.dataclass(frozen=True)
class SettingInfo:
    """What the command line, the environment and `textrnn settings` need to know of one setting."""

    name: str
    type: Any
    default: Any
    help: str
    env: str
    group: str  # "pipeline", "model" or "kubeflow"
    choices: Optional[Tuple[str, ...]] = None
    metavar: Optional[str] = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a setting's effective value came from: "default", "preset", "environment" or "flag"."""

    source: str
    where: str = ""  # the preset's name, the variable or the flag

    def __str__(self) -> str:
        return f"{self.source} {self.where}".strip()


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """The settings of one pipeline run: the pipeline's own fields, and `model`, the preset's model
    configuration with the model settings applied. Build it with `resolve_options` (flags, environment,
    preset, defaults) or directly; `origins` says where each value came from."""

    preset: str = setting("default", "model configuration to start from (see `textrnn presets`); the model "
                                     "settings override it", choices=tuple(presets.PRESETS))
    pipeline_name: str = setting(DEFAULT_PIPELINE_NAME, "the pipeline's name: its folders under the output root "
                                                        "and its context in ML Metadata")
    output_root: str = setting("textrnn_output", "folder for artifacts, metadata, summaries and pushed models "
                                                 "(relative paths from the working directory)", env="TEXTRNN_OUTPUT")
    input_dir: Optional[str] = setting(None, "a folder of headline JSON files to use instead of the fetched "
                                             "dataset", metavar="DIR")
    data_dir: Optional[str] = setting(None, "where the fetched dataset is kept (default ~/.cache/textrnn/data)",
                                      metavar="DIR")
    mirror: Optional[str] = setting(None, "folder with a local copy of the dataset to use instead of downloading",
                                    env="TEXTRNN_DATA_MIRROR", metavar="DIR")
    skip_invalid: bool = setting(False, "quarantine invalid input records (counted, kept with their reasons) "
                                        "instead of failing on the first one")
    schema_file: str = setting(SCHEMA_FILE, "the curated schema the examples must match, with the label's skew "
                                            "and drift bounds (default: the package's pipeline/schema/schema.pbtxt)")
    eval_loss_bound: float = setting(0.45, "bless only below this eval binary cross-entropy")
    # Retraining the same configuration moves the eval loss by about this much.
    eval_loss_tolerance: float = setting(0.01, "bless only if the eval binary cross-entropy is at most this much "
                                               "above the baseline's (the latest blessed model)")
    glove_dir: Optional[str] = setting(None, "where GloVe files named without a folder are found (default "
                                             "~/.cache/textrnn/glove)", metavar="DIR")
    cache: bool = setting(True, "reuse the outputs of earlier runs with the same data and settings (TFX's "
                                f"cache; {', '.join(ALWAYS_RUN)} always run)")
    beam_runner: str = setting("direct", "direct: Beam's DirectRunner in this process (see beam_mode); portable: "
                                         "the job service at job_endpoint with SDK workers from worker_pool",
                               choices=BEAM_RUNNERS)
    beam_mode: str = setting("auto", "how the DirectRunner runs the data components; auto: in_memory for inputs "
                                     f"up to {AUTO_MULTI_PROCESSING_BYTES // 2**20} MB, multi_processing above",
                             choices=BEAM_MODES)
    beam_workers: int = setting(0, "Beam worker processes in multi_processing mode (0: one per core)")
    job_endpoint: Optional[str] = setting(None, "the portable job service (Beam's local_job_service_main, or a "
                                                "Flink or Spark job server)", metavar="HOST:PORT")
    worker_pool: Optional[str] = setting(None, "the Beam worker pool the portable runner's SDK workers come from",
                                         metavar="HOST:PORT")
    keep_runs: Optional[int] = setting(None, "after the run, remove the artifacts of all but the newest N runs "
                                             "(never the latest blessed model or what a kept run reused)",
                                       metavar="N")
    keep_pushed: Optional[int] = setting(None, "with keep_runs, also remove all but the newest M pushed versions",
                                         metavar="M")
    verbose: bool = setting(False, "show the full TFX and Beam log, TensorFlow's start-up lines and tracebacks")
    # The serving check's (components/serving_check.py); its budgets default to SERVING_BUDGETS.
    allow_signature_change: bool = setting(False, "push a model whose serving signatures (names, inputs, dtypes, "
                                                  "shapes, output keys) differ from the version being served")
    serving_max_p50_ratio: float = setting(
        SERVING_BUDGETS["serving_max_p50_ratio"], "the serving check refuses a model whose median latency for one "
                                                  "headline is above this multiple of the served version's, "
                                                  "measured side by side (0: no limit)")
    serving_max_p99_ratio: float = setting(
        SERVING_BUDGETS["serving_max_p99_ratio"], "the same for the 99th-percentile latency (0: no limit)")
    serving_min_throughput_ratio: float = setting(
        SERVING_BUDGETS["serving_min_throughput_ratio"], "the serving check refuses a model that scores fewer "
                                                         "headlines per second in batches of 64 than this "
                                                         "fraction of the served version's (0: no limit)")
    serving_max_memory_ratio: float = setting(
        SERVING_BUDGETS["serving_max_memory_ratio"], "the serving check refuses a model whose serving process "
                                                     "peaks above this multiple of the served version's (each "
                                                     "loaded alone; 0: no limit)")
    serving_max_load_s: float = setting(
        SERVING_BUDGETS["serving_max_load_s"], "the serving check refuses a model that takes longer to load and "
                                               "warm up under TF Serving's loader (seconds; 0: no limit)")
    serving_max_p50_ms: float = setting(
        SERVING_BUDGETS["serving_max_p50_ms"], "the serving check refuses a model whose median latency for one "
                                               "headline is above this (ms; 0: no limit)")
    serving_max_p99_ms: float = setting(
        SERVING_BUDGETS["serving_max_p99_ms"], "the serving check refuses a model whose 99th-percentile latency "
                                               "for one headline is above this (ms; 0: no limit)")
    serving_min_headlines_per_second: float = setting(
        SERVING_BUDGETS["serving_min_headlines_per_second"], "the serving check refuses a model that scores "
                                                             "fewer headlines per second in batches of 64 (0: no "
                                                             "limit)")
    serving_max_memory_mb: float = setting(
        SERVING_BUDGETS["serving_max_memory_mb"], "the serving check refuses a model whose serving process peaks "
                                                  "above this resident memory (MB; killed at twice this, with "
                                                  "the served version beside it; 0: no limit)")
    serving_check_timeout_s: int = setting(300, "the serving check's process is killed after this many seconds")
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    origins: Mapping[str, Origin] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        for name in ("keep_runs", "keep_pushed"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SettingsError(f"{name} must be at least 1, got {value}{self._from(name)}")
        if self.keep_pushed is not None and self.keep_runs is None:
            raise SettingsError("keep_pushed works with keep_runs")
        if self.beam_runner == "portable" and not (self.job_endpoint and self.worker_pool):
            raise SettingsError("beam_runner portable needs job_endpoint and worker_pool (each HOST:PORT)")
        if self.beam_workers < 0:
            raise SettingsError(f"beam_workers must be 0 (one per core) or more, got {self.beam_workers}")
        for name in SERVING_BUDGETS:
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be 0 (no limit) or more, got {getattr(self, name)}"
                                    f"{self._from(name)}")
        if self.serving_check_timeout_s < 1:
            raise SettingsError(f"serving_check_timeout_s must be at least 1, got {self.serving_check_timeout_s}"
                                f"{self._from('serving_check_timeout_s')}")

    def _from(self, name: str) -> str:
        origin = self.origins.get(name)
        return f" (from {origin})" if origin else ""

    def setting_values(self) -> Dict[str, Any]:
        """Every setting's effective value by name: the pipeline's, then the model's (flat)."""
        values = {info.name: getattr(self, info.name) for info in pipeline_settings()}
        values.update(self.model.to_dict())
        return values

    def serving_budgets(self) -> Dict[str, Optional[float]]:
        """The serving check's budgets, by the names of components/serving_check.ServingBudgets (None: 0, no
        limit)."""
        budgets = {name[len("serving_"):].replace("_load_s", "_load_seconds"): getattr(self, name)
                   for name in SERVING_BUDGETS}
        return {name: value or None for name, value in budgets.items()}

    def differences_from_preset(self) -> Dict[str, Any]:
        """The model settings that differ from the preset's own values."""
        preset = presets.get_preset(self.preset).config.to_dict()
        return {name: value for name, value in self.model.to_dict().items() if preset[name] != value}

    def run_settings(self) -> Dict[str, Any]:
        """What a run's summary and report say about its settings: the preset and the changes to it (as JSON)."""
        changed = {name: list(value) if isinstance(value, tuple) else value
                   for name, value in self.differences_from_preset().items()}
        return {"preset": self.preset, "settings_changed": changed}


# --- the catalogue of settings -----------------------------------------------------------------------------------


def settings_of(cls, group: str, prefix: str = ENV_PREFIX) -> List[SettingInfo]:
    """The settings a dataclass defines with `setting(...)`, environment variables named with `prefix`."""
    hints = typing.get_type_hints(cls)
    return [
        SettingInfo(field.name, hints[field.name], field.default, field.metadata["help"],
                    field.metadata.get("env") or prefix + field.name.upper(), group,
                    field.metadata.get("choices"), field.metadata.get("metavar"))
        for field in dataclasses.fields(cls) if "help" in field.metadata
    ]


def pipeline_settings() -> List[SettingInfo]:
    return settings_of(PipelineOptions, "pipeline")


def model_settings() -> List[SettingInfo]:
    """The model configuration's fields as settings; their defaults are ModelConfig's (a preset may differ)."""
    defaults = ModelConfig().to_dict()
    return [SettingInfo(field.name, field.type, _plain(defaults[field.name]), field.metadata["help"],
                        ENV_PREFIX + field.name.upper(), "model")
            for field in ModelConfig.flat_fields()]


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def parse_value(text: str, kind: Any, what: str) -> Any:
    """`text` (from the environment or a flag) as a value of type `kind`; SettingsError names `what`."""
    if typing.get_origin(kind) is typing.Union:  # Optional[X]
        if text.strip().lower() in ("", "none"):
            return None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("not a yes/no value (1, true, yes, on; 0, false, no, off)")
        if typing.get_origin(kind) in (tuple, Tuple):
            return tuple(int(part) for part in text.split(","))
        if kind in (int, float):
            return kind(text)
        return str(text)
    except ValueError as error:
        raise SettingsError(f"{what}: {text!r} is not a valid value: {error}") from None


def resolve_options(flags: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None,
                    **fixed: Any) -> PipelineOptions:
    """The options of a run from `flags` (setting name to value, already typed; None or absent: not given),
    `environ` (default os.environ) and the preset; `fixed` sets fields a runner decides (not settings)."""
    flags = {name: value for name, value in (flags or {}).items() if value is not None}
    environ = os.environ if environ is None else environ
    values: Dict[str, Any] = {}
    origins: Dict[str, Origin] = {}

    def pick(info: SettingInfo) -> Optional[Tuple[Any, Origin]]:
        if info.name in flags:
            return flags[info.name], Origin("flag", info.flag)
        if environ.get(info.env) not in (None, ""):
            return parse_value(environ[info.env], info.type, info.env), Origin("environment", info.env)
        return None

    preset_info = next(info for info in pipeline_settings() if info.name == "preset")
    preset_name, origins["preset"] = pick(preset_info) or (preset_info.default, Origin("default"))
    try:
        chosen_preset = presets.get_preset(preset_name)
    except ValueError as error:
        raise SettingsError(f"{error} (from {origins['preset']})") from None
    for info in pipeline_settings():
        chosen = (preset_name, origins["preset"]) if info.name == "preset" else pick(info)
        if not chosen and info.name in chosen_preset.settings:
            chosen = chosen_preset.settings[info.name], Origin("preset", preset_name)
        values[info.name], origins[info.name] = chosen if chosen else (info.default, Origin("default"))
        if info.choices and values[info.name] not in info.choices:
            raise SettingsError(f"{info.name} must be one of {', '.join(info.choices)}, got "
                                f"{values[info.name]!r} (from {origins[info.name]})")
    preset = chosen_preset.config
    preset_values, defaults = preset.to_dict(), ModelConfig().to_dict()
    overrides = {}
    for info in model_settings():
        chosen = pick(info)
        if chosen:
            overrides[info.name], origins[info.name] = chosen
        elif preset_values[info.name] != defaults[info.name]:
            origins[info.name] = Origin("preset", values["preset"])
        else:
            origins[info.name] = Origin("default")
    try:
        model = preset.replace(**overrides)
    except (TypeError, ValueError) as error:
        raise SettingsError(f"the model settings do not fit together: {error}") from None
    return PipelineOptions(**values, model=model, origins=origins, **fixed)


def format_settings(options: PipelineOptions, extra: Optional[List[Tuple[SettingInfo, Any, Origin]]] = None) -> str:
    """Every setting as a table: name, effective value, where it came from (like `git config --show-origin`)."""
    rows = [(info, value, options.origins.get(info.name, Origin("default")))
            for info, value in zip(pipeline_settings() + model_settings(),
                                   [getattr(options, i.name) for i in pipeline_settings()]
                                   + [_plain(v) for v in options.model.to_dict().values()])]
    rows += extra or []
    width = max(len(info.name) for info, _, _ in rows)
    value_width = min(40, max(len(_shown(value)) for _, value, _ in rows))
    lines, group = [], None
    for info, value, origin in rows:
        if info.group != group:
            group = info.group
            lines.append(f"# {group} settings (flag --name, environment variable {info.env.rsplit('_', 1)[0].split('_')[0]}_NAME)"
                         if group != "kubeflow" else "# kubeflow settings (compile-kubeflow only)")
        lines.append(f"{info.name:{width}}  {_shown(value):{value_width}}  {origin}")
    return "\n".join(lines)


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return "-" if value is None else str(value)


# --- what a local run derives from its options ---------------------------------------------------------------


def disk_bytes(path: str) -> int:
    """Size of the file, or of all files under the folder, at `path` (0 when there is none)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names)


def resolve_beam_mode(mode: str, data_path: Optional[str] = None) -> str:
    """`mode`, with "auto" replaced by in_memory or multi_processing according to the size of `data_path`."""
    if mode not in BEAM_MODES:
        raise SettingsError(f"unknown Beam mode {mode!r}; one of {', '.join(BEAM_MODES)}")
    if mode != "auto":
        return mode
    large = data_path is not None and disk_bytes(data_path) > AUTO_MULTI_PROCESSING_BYTES
    return "multi_processing" if large else "in_memory"


def installed_package_args() -> List[str]:
    """Beam arguments that name the installed textrnn as what the workers need, so that TFX does not pack its own
    installation into a throwaway 52 MB `tfx_ephemeral` sdist for every Beam component: an empty
    requirements file (every worker here, in the image, or on Dataflow from the image, already has the packages).
    TFX builds its package only when none of --setup_file, --extra_package, --requirements_file is given."""
    return [f"--requirements_file={EMPTY_REQUIREMENTS}"]


# An empty requirements file shipped with the package (see installed_package_args): pip installs nothing from it.
EMPTY_REQUIREMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "no_requirements.txt")


def beam_pipeline_args(mode: str = "auto", workers: int = 0, data_path: Optional[str] = None) -> List[str]:
    """Arguments for Beam's DirectRunner in `mode` (see BEAM_MODES); multi_processing runs `workers` processes
    (0: one per core). in_memory is Beam's default and needs no arguments (TFX packs nothing for it either)."""
    if resolve_beam_mode(mode, data_path) == "in_memory":
        return []
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}", *installed_package_args()]


def external_worker_args(worker_pool: str) -> List[str]:
    """Beam arguments for SDK workers started by the worker pool at `worker_pool` (host:port: Beam's
    `worker_pool_main`, or `/opt/apache/beam/boot --worker_pool` in this package's image); they import
    textrnn and TFX from their own installation."""
    return ["--environment_type=EXTERNAL", f"--environment_config={worker_pool}"]


def portable_beam_pipeline_args(job_endpoint: str, worker_pool: str) -> List[str]:
    """Arguments for Beam's PortableRunner submitting to the job service at `job_endpoint` (host:port)."""
    return ["--runner=PortableRunner", f"--job_endpoint={job_endpoint}", *external_worker_args(worker_pool),
            *installed_package_args()]
