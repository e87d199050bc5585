"""The Kubeflow spec run task by task inside the container image, as Kubeflow Pipelines runs it in pods.

scripts/run_tests.sh builds the image from kubeflow/Dockerfile (scripts/image.sh, podman) and names it in
TEXTRNN_TEST_IMAGE. For `default` and `glove-6b-50d` (on a slice of the real data, one epoch), the spec is
compiled with a local pipeline root, and every task, ExampleGen through RunVerdict, runs in dependency order
in a container of the image through the KFP v2 entrypoint, with the arguments the spec gives, the pipeline
root and the data mounted, no network, and no pre-cache-check hook (open-source Kubeflow Pipelines ignores it). Each preset runs twice on one pipeline root: the second run's
Evaluator is gated against the model the first run pushed. The pushed model is then loaded and scored here,
outside the container, by TF Serving's session loader.
"""
import dataclasses
import json
import os
import shlex
import subprocess

import pytest
import serving_checks

from textrnn.kubeflow import kubeflow_v2_runner
from textrnn.kubeflow.local_launcher import ENGINE_ENV, LocalLauncher, TaskFailedError, load_spec
from textrnn.kubeflow.cluster import ClusterOptions
from textrnn.pipeline import options
from textrnn.pipeline.options import resolve_options
from textrnn.components import run_artifacts

pytestmark = [pytest.mark.slow, pytest.mark.image]

IMAGE_ENV = "TEXTRNN_TEST_IMAGE"
HEADLINES = 1200
# The first run is held to this bound only (no baseline yet); one epoch on a slice must pass it.
FIRST_RUN_BOUND = 5.0
# The second `default` run must beat the serving model by 1.0 in loss, which no model does: it is refused.
IMPOSSIBLE_TOLERANCE = -1.0
PROBE = "import os, sys, textrnn; print(textrnn.__file__, os.getuid(), '%d.%d' % sys.version_info[:2])"
TASKS = ["JsonExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate", "Transform",
         "Trainer", "LatestPushedModel", "Evaluator", "ServingCheck", "Pusher", "RunReport", "RunVerdict"]


@pytest.fixture(scope="module")
def image():
    name = os.environ.get(IMAGE_ENV)
    if not name or not os.environ.get(ENGINE_ENV):
        pytest.fail(f"{IMAGE_ENV} and {ENGINE_ENV} are unset: run the tests through scripts/run_tests.sh, which "
                    "builds the image (scripts/image.sh) and starts the container engine")
    return name


def run_in_containers(spec_path, root, data, serving_dir):
    """Every task of the spec in a container, in dependency order; stops at the first failure (returned)."""
    launcher = LocalLauncher(load_spec(spec_path), str(root), containers=True,
                             mounts=[f"{data}:ro", str(serving_dir)], timeout=1200)
    failure = None
    for task in launcher.task_order():
        try:
            launcher.run_task(task, pre_cache_check=False)  # open-source Kubeflow Pipelines ignores the hook
        except TaskFailedError as error:
            failure = (task, str(error))
            break
    print(f"{os.path.basename(str(root))}: task seconds", {t: round(s, 1) for t, s in launcher.seconds.items()})
    return launcher, failure


def compile_spec(image, work, name, preset, data, serving_dir, **settings):
    options = resolve_options({"preset": preset, "epochs": 1, **settings}, environ={})
    path = str(work / f"{name}.yaml")
    # The cluster's own Beam arguments for the DirectRunner, in memory (one worker) to spare the 2 cores here.
    cluster = ClusterOptions(pipeline_root=str(work / "pipeline_root"), data_root=str(data),
                             serving_model_dir=str(serving_dir), direct_mode="in_memory", direct_workers=1)
    pipeline = kubeflow_v2_runner.create_kubeflow_pipeline(options, cluster)
    kubeflow_v2_runner.compile_pipeline(pipeline, image, path)
    return path


def _log(launcher, task):
    with open(launcher.logs[task]) as f:
        return f.read()


def _pushed(launcher):
    with open(os.path.join(launcher.root, "Pusher", "executor_output.json")) as f:
        output = json.load(f)
    metadata = output["artifacts"]["pushed_model"]["artifacts"][0].get("metadata", {})
    return metadata.get("pushed_destination") if metadata.get("pushed") else None


def _eval_loss(launcher, baseline=False):
    metrics = run_artifacts.sliced_metrics(launcher.outputs["Evaluator"]["evaluation"].uri, baseline=baseline)
    return metrics[""]["binary_crossentropy"]


@pytest.fixture(scope="module", params=["default", "glove-6b-50d"])
def two_runs(request, image, make_slice, tmp_path_factory):
    """Two runs of one preset on one pipeline root and push destination; the second `default` run with a
    tolerance no model meets, the second `glove-6b-50d` run with the preset's own gate."""
    preset = request.param
    work = tmp_path_factory.mktemp(f"kfp_image_{preset}")
    data = make_slice(HEADLINES)
    for path in (data, *data.iterdir()):  # readable by the image's user, as a pod's volume would be
        path.chmod(0o755 if path.is_dir() else 0o644)
    serving_dir = work / "pipeline_root" / "serving_model" / "textrnn"
    first_spec = compile_spec(image, work, "first", preset, data, serving_dir, eval_loss_bound=FIRST_RUN_BOUND)
    second_kwargs = {"eval_loss_tolerance": IMPOSSIBLE_TOLERANCE} if preset == "default" else {}
    second_spec = compile_spec(image, work, "second", preset, data, serving_dir, eval_loss_bound=FIRST_RUN_BOUND,
                               **second_kwargs)
    first = run_in_containers(first_spec, work / "pipeline_root" / "run-1", data, serving_dir)
    second = run_in_containers(second_spec, work / "pipeline_root" / "run-2", data, serving_dir)
    return preset, first, second


def test_every_task_ran_in_the_image(two_runs, image):
    preset, (first, failure), _ = two_runs
    assert failure is None, failure
    expected = TASKS + (["GloveCoverage"] if preset == "glove-6b-50d" else [])
    assert sorted(first.seconds) == sorted(expected)
    assert {first.container(task).image for task in first.seconds} == {image}
    command = first.in_container(image, ["python", "-V"], "/tmp")
    assert command[:len(shlex.split(os.environ[ENGINE_ENV]))] == shlex.split(os.environ[ENGINE_ENV])
    assert "--network" in command and command[command.index("--network") + 1] == "none"
    # The tasks' user code is the image's installed package (the checkout is not mounted), run by a non-root user.
    probe = subprocess.run(first.in_container(image, ["python", "-c", PROBE], "/tmp"), capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr[-2000:]
    package, uid, version = probe.stdout.split()
    assert package.startswith("/opt/textrnn/venv/lib/python3.13/site-packages/textrnn/")
    assert uid == "10001" and version == "3.13"


def test_no_task_built_tfx_s_throwaway_package(two_runs):
    """With Beam arguments that name no package, TFX logs that it infers its own dependency and builds a 52 MB
    tfx_ephemeral sdist in every Beam component; the cluster's arguments name the image's empty requirements."""
    _, (first, _), (second, _) = two_runs
    for launcher in (first, second):
        for task in launcher.seconds:
            log = _log(launcher, task)
            assert "tfx_ephemeral" not in log and "Attempting to infer TFX Python dependency" not in log, task
        assert "already includes dependency" in _log(launcher, "StatisticsGen")


def test_first_run_is_held_to_the_bound_alone_and_pushes(two_runs):
    _, (first, _), _ = two_runs
    assert not os.path.exists(os.path.join(first.root, "JsonExampleGen", "pre_cache_check.log"))
    assert "no model pushed to" in _log(first, "LatestPushedModel")
    verdict = _log(first, "RunVerdict")
    assert "baseline (latest blessed model): none yet, so only the loss bound applies" in verdict
    assert "blessed: yes" in verdict
    # The serving check ran in the image, in a child process of its task, and passed the model.
    check = first.outputs["ServingCheck"]["blessing"]
    assert check.metadata["blessed"] == 1 and os.path.exists(os.path.join(check.uri, "INFRA_BLESSED"))
    assert "serving check: load " in verdict and "\n               passed" in verdict
    pushed = _pushed(first)
    assert pushed and os.path.basename(pushed).isdigit()
    assert f"pushed to: {pushed}" in verdict
    # The run's page: the report artifact's URI is the HTML file itself, as Kubeflow's UI reads system.HTML.
    page = _report(first)
    assert f"blessed and pushed as version {os.path.basename(pushed)}" in page
    assert f"textrnn run kubeflow {os.path.basename(first.root)}" in page


def _report(launcher) -> str:
    from textrnn.components.report_page import GENERATOR

    with open(launcher.outputs["RunReport"]["report"].uri) as f:
        page = f.read()
    assert page.startswith(GENERATOR)
    return page


def test_second_run_is_gated_against_the_first_runs_pushed_model(two_runs):
    preset, (first, _), (second, failure) = two_runs
    first_pushed = _pushed(first)
    baseline = second.outputs["LatestPushedModel"]["baseline"]
    assert baseline.metadata["found"] == 1 and baseline.metadata["pushed_destination"] == first_pushed
    loss, baseline_loss = _eval_loss(second), _eval_loss(second, baseline=True)
    assert baseline_loss == pytest.approx(_eval_loss(first), abs=1e-6)  # the same model on the same eval split
    verdict = _log(second, "RunVerdict")
    assert f"baseline (latest blessed model): loss {baseline_loss:.4f}, {first_pushed}" in verdict
    if preset == "default":
        # Refused: RunVerdict, the last task, fails with the reason `textrnn run` prints; nothing is pushed.
        assert failure is not None and failure[0] == "RunVerdict"
        assert "ModelNotBlessedError: not blessed: binary_crossentropy" in failure[1]
        assert "not blessed: binary_crossentropy" in _report(second)  # written before RunVerdict failed the run
        assert "is worse than the latest blessed model's" in failure[1]
        assert _pushed(second) is None
        assert os.listdir(os.path.dirname(first_pushed)) == [os.path.basename(first_pushed)]
    else:
        tolerance = options.PipelineOptions().eval_loss_tolerance
        blessed = loss <= baseline_loss + tolerance
        print(f"{preset} second run: loss {loss:.4f}, baseline {baseline_loss:.4f}, tolerance {tolerance}: "
              f"{'blessed' if blessed else 'not blessed'}")
        assert (failure is None) == blessed, failure
        assert (_pushed(second) is not None) == blessed


def test_pushed_model_scores_outside_the_container(two_runs, tmp_path):
    """TF Serving's session loader and the object loader agree on every signature, saved_model_cli runs it,
    and its warm-up requests replay."""
    _, (first, _), _ = two_runs
    serving_checks.compare_loaders(_pushed(first))
    serving_checks.check_saved_model_cli(_pushed(first), tmp_path)
    serving_checks.replay_warmup_requests(_pushed(first))
