"""The TFX CLI path (`tfx pipeline create` and `tfx run create` with the local engine) is the same run as
`textrnn run`: both call pipeline/local_runner.run_local. The same slice and settings go through both (the TFX
CLI gets them as TEXTRNN_* variables), and each records the same thing: a summary file with the same keys, one
pushed version, the same verdict and message when the model is not blessed, and an exit status to act on."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import E2E_QUARANTINED, E2E_SETTINGS, WORSE_SETTINGS
from textrnn import output_layout
from textrnn.components import run_record

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]


def _as_environment(settings: dict) -> dict:
    return {f"TEXTRNN_{name.upper()}": "1" if value is True else str(value) for name, value in settings.items()}


def _summary(output_root) -> dict:
    (path,) = pathlib.Path(output_root).glob("summary-*.json")
    return json.loads(path.read_text())


def _tfx(*args, env):
    tfx_bin = os.path.join(os.path.dirname(sys.executable), "tfx")
    return subprocess.run([tfx_bin, *args], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def tfx_runs(e2e_input_dir, headlines_1500, tmp_path_factory):
    """`tfx pipeline create`, then `tfx run create` twice: the end-to-end run's settings, then the worse run's
    into a copy of the first root (as tests/conftest.py's pipeline_run and worse_run do with `textrnn run`)."""
    work = tmp_path_factory.mktemp("tfx_cli")
    base = {k: v for k, v in os.environ.items() if not k.startswith("TEXTRNN_")}
    base.update(LOCAL_HOME=str(work / "tfx_home"), PATH=os.path.dirname(sys.executable) + os.pathsep + base["PATH"])
    first_env = dict(base, TEXTRNN_OUTPUT=str(work / "first"), TEXTRNN_INPUT_DIR=str(e2e_input_dir),
                     **_as_environment(E2E_SETTINGS))
    created = _tfx("pipeline", "create", "--engine", "local", "--pipeline_path",
                   str(REPO / "pipeline" / "local_runner.py"), env=first_env)
    assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-5000:]
    assert 'Pipeline "textrnn" created successfully' in created.stdout
    # Reading the pipeline ran nothing: no run recorded, no summary.
    assert not list((work / "first").rglob("metadata.db")) and not list((work / "first").glob("summary-*"))
    first = _tfx("run", "create", "--engine", "local", "--pipeline_name", "textrnn", env=first_env)

    for folder in ("metadata", "serving_model"):
        shutil.copytree(work / "first" / folder, work / "second" / folder)
    second_env = dict(base, TEXTRNN_OUTPUT=str(work / "second"), TEXTRNN_INPUT_DIR=str(headlines_1500),
                      **_as_environment(WORSE_SETTINGS))
    second = _tfx("run", "create", "--engine", "local", "--pipeline_name", "textrnn", env=second_env)
    return work, first, second


def test_a_blessed_run_records_the_same_through_both_entry_points(tfx_runs, pipeline_run):
    work, first, _ = tfx_runs
    textrnn_root, textrnn_result = pipeline_run
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    through_tfx, through_textrnn = _summary(work / "first"), _summary(textrnn_root)
    assert set(through_tfx) == set(through_textrnn)
    assert through_tfx["blessed"] is through_textrnn["blessed"] is True
    assert through_tfx["quarantined_records"] == through_textrnn["quarantined_records"] == E2E_QUARANTINED
    for root in (work / "first", textrnn_root):
        assert len(output_layout.pushed_versions(output_layout.serving_model_dir(str(root)))) == 1
    # The same summary is shown, not only written, and the components ran as in `textrnn run`.
    for result in (first, textrnn_result):
        assert "blessed: yes" in result.stdout and "summary written to" in result.stdout
    record = run_record.latest_run(output_layout.metadata_path(str(work / "first")))
    assert record.run_id == through_tfx["run_id"] and set(record.states.values()) == {"COMPLETE"}
    assert "[1/12] ImportSchemaGen running" in first.stderr  # progress, not TFX's INFO stream


def _masked(message: str) -> str:
    return re.sub(r"\d+\.\d+", "#", message)


def test_a_run_that_is_not_blessed_says_so_the_same_way_and_fails(tfx_runs, worse_run):
    work, _, second = tfx_runs
    _, textrnn_root, textrnn_result = worse_run
    assert textrnn_result.returncode == 3
    # The pipeline file exits 3; the TFX CLI turns any failure of the file into its own status 1.
    assert second.returncode == 1 and "Error while running" in second.stderr, second.stderr[-3000:]
    through_tfx, through_textrnn = _summary(work / "second"), _summary(textrnn_root)
    assert set(through_tfx) == set(through_textrnn)
    assert through_tfx["blessed"] is through_textrnn["blessed"] is False
    assert through_tfx["pushed_to"] is through_textrnn["pushed_to"] is None
    (tfx_failure,), (textrnn_failure,) = through_tfx["validation"]["failures"], through_textrnn["validation"]["failures"]
    assert (tfx_failure["metric"], tfx_failure["threshold"]) == (textrnn_failure["metric"], textrnn_failure["threshold"])
    assert _masked(tfx_failure["message"]) == _masked(textrnn_failure["message"])
    for result, failure in ((second, tfx_failure), (textrnn_result, textrnn_failure)):
        assert f"blessed: no, not blessed: {failure['message']}" in result.stdout
    # Nothing pushed: the version of the first run stays the only one.
    assert os.listdir(output_layout.serving_model_dir(str(work / "second"))) == \
        os.listdir(output_layout.serving_model_dir(str(work / "first")))
