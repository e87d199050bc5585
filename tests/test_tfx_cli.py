"""The TFX CLI path: `tfx pipeline create` and `tfx run create` with the local engine."""
import pytest
import os
import pathlib
import subprocess
import sys

from textrnn.pipeline import configs, run_record

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]


def tfx_cli(*args, env):
    tfx_bin = os.path.join(os.path.dirname(sys.executable), "tfx")
    result = subprocess.run([tfx_bin, *args], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def test_tfx_pipeline_create_and_run_create(headlines_1500, tmp_path):
    env = dict(
        os.environ,
        LOCAL_HOME=str(tmp_path / "tfx_home"),
        TEXTRNN_OUTPUT=str(tmp_path / "output"),
        TEXTRNN_INPUT_DIR=str(headlines_1500),
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    )
    pipeline_path = str(REPO / "pipeline" / "local_runner.py")
    created = tfx_cli("pipeline", "create", "--engine", "local", "--pipeline_path", pipeline_path, env=env)
    assert 'Pipeline "textrnn" created successfully' in created.stdout

    tfx_cli("run", "create", "--engine", "local", "--pipeline_name", configs.PIPELINE_NAME, env=env)
    record = run_record.latest_run(configs.metadata_path(str(tmp_path / "output")))
    assert len(record.states) == 10  # the nine components and the latest-blessed-model Resolver
    assert set(record.states.values()) == {"COMPLETE"}
