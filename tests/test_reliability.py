"""Reliability of `textrnn run` on one output root: run identity, one run at a time, resuming through TFX's
cache (and what invalidates it), a kill in the Trainer, and retention. Real processes on 600 real headlines
with a small model and one epoch.
"""
import glob
import json
import os
import signal
import subprocess
import time

import pytest

from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import options, run_lock

pytestmark = pytest.mark.slow

# A tiny model, and gates every such model passes: these tests are about the runs, not the model.
SMALL = ["--epochs", "1", "--embedding-dim", "8", "--lstm-units", "8", "--dense-units", "8",
         "--eval-loss-bound", "5.0", "--eval-loss-tolerance", "5.0"]
DATA_NODES = ["ImportSchemaGen", "JsonExampleGen", "StatisticsGen", "ExampleValidator", "AnomaliesGate", "Transform"]


def textrnn_run(textrnn_bin, data, root, *extra, wait=True):
    command = [textrnn_bin, "run", "--input-dir", str(data), "--output-root", str(root), *SMALL, *extra]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def summary_of(root, result):
    [path] = [line.split("summary written to ", 1)[1] for line in result.stdout.splitlines()
              if line.startswith("summary written to ")]
    with open(os.path.join(root, os.path.basename(path))) as f:
        return json.load(f)


def states(root, run_id):
    return run_record.read_run(output_layout.metadata_path(str(root)), run_id).states


@pytest.fixture(scope="module")
def headlines_600(make_slice):
    return make_slice(600)


@pytest.fixture(scope="module")
def cached_root(headlines_600, textrnn_bin, tmp_path_factory):
    """Two runs on one root with the same data and settings: the second one's summary."""
    root = tmp_path_factory.mktemp("cached")
    first = summary_of(root, textrnn_run(textrnn_bin, headlines_600, root))
    second = summary_of(root, textrnn_run(textrnn_bin, headlines_600, root))
    return root, first, second


def test_a_rerun_reuses_the_data_components_and_trains_judges_and_pushes_again(cached_root):
    root, first, second = cached_root
    assert first["reused"] == []
    # All but the gate: its drift baseline is new (the first run's model is now the latest blessed one).
    assert sorted(second["reused"]) == sorted(set(DATA_NODES) - {"AnomaliesGate"})
    for node in contract.ALWAYS_RUN:
        assert second["components"][node] == "COMPLETE"
    assert first["pushed_to"] != second["pushed_to"]
    assert len(output_layout.pushed_versions(output_layout.serving_model_dir(str(root)))) == 2


def test_each_summary_is_its_own_runs(cached_root):
    root, first, second = cached_root
    assert first["run_id"] != second["run_id"]
    for summary in (first, second):
        record = run_record.read_run(output_layout.metadata_path(str(root)), summary["run_id"])
        pushed = record.output("Pusher", "pushed_model")
        assert run_record.custom_property(pushed, "pushed_destination") == summary["pushed_to"]
    first_model = run_record.read_run(output_layout.metadata_path(str(root)), first["run_id"]).output("Trainer", "model")
    assert first["baseline"] is None and second["baseline"]["model"] == first_model.uri
    assert len(glob.glob(str(root / "summary-*.json"))) == 2


def test_changed_headlines_rerun_from_example_gen(cached_root, headlines_600, textrnn_bin, tmp_path):
    root, _, _ = cached_root
    changed = tmp_path / "changed"
    changed.mkdir()
    lines = (headlines_600 / "headlines.json").read_text().splitlines()
    (changed / "headlines.json").write_text("\n".join(lines[:-1]) + "\n")  # one headline fewer
    summary = summary_of(root, textrnn_run(textrnn_bin, changed, root))
    assert summary["reused"] == ["ImportSchemaGen"]  # the curated schema; every data component ran again


def test_a_tokenizer_setting_reruns_transform_and_a_model_setting_only_the_trainer_onward(
        cached_root, headlines_600, textrnn_bin):
    root, _, _ = cached_root
    tokenizer = summary_of(root, textrnn_run(textrnn_bin, headlines_600, root, "--vocab-size", "2000"))
    assert {"JsonExampleGen", "StatisticsGen"} <= set(tokenizer["reused"])
    assert "Transform" not in tokenizer["reused"]
    model = summary_of(root, textrnn_run(textrnn_bin, headlines_600, root, "--vocab-size", "2000",
                                         "--dropout", "0.3"))
    assert sorted(model["reused"]) == sorted(DATA_NODES)
    forced = summary_of(root, textrnn_run(textrnn_bin, headlines_600, root, "--no-cache"))
    assert forced["reused"] == [] and set(forced["components"].values()) == {"COMPLETE"}


def test_a_second_concurrent_run_fails_at_once_and_changes_nothing(headlines_600, textrnn_bin, tmp_path):
    root = tmp_path / "root"
    first = textrnn_run(textrnn_bin, headlines_600, root, wait=False)
    lock = run_lock.lock_path(str(root), contract.DEFAULT_PIPELINE_NAME)
    deadline = time.monotonic() + 120
    while not (os.path.exists(lock) and open(lock).read()):
        assert time.monotonic() < deadline and first.poll() is None, "the first run never took the lock"
        time.sleep(0.2)
    holder = json.loads(open(lock).read())
    second = subprocess.run([textrnn_bin, "run", "--input-dir", str(headlines_600), "--output-root", str(root),
                             *SMALL], capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert first.poll() is None  # it failed at once: it did not wait for the first run to end
    assert f"another run of pipeline 'textrnn' is using {root} (run {holder['run_id']}" in second.stderr
    assert "nothing was changed" in second.stderr
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stdout + stderr
    summaries = glob.glob(str(root / "summary-*.json"))
    assert len(summaries) == 1 and json.load(open(summaries[0]))["run_id"] == holder["run_id"]
    assert len(output_layout.pushed_versions(output_layout.serving_model_dir(str(root)))) == 1
    assert run_record.latest_run(output_layout.metadata_path(str(root))).run_id == holder["run_id"]


def test_a_run_killed_in_the_trainer_resumes_from_the_cache(headlines_600, textrnn_bin, tmp_path):
    root = tmp_path / "root"
    killed = textrnn_run(textrnn_bin, headlines_600, root, "--epochs", "50", wait=False)
    killed_id = None
    for line in killed.stderr:
        if " as run " in line:
            killed_id = line.split(" as run ", 1)[1].split()[0]
        if "Trainer running" in line:
            break
    time.sleep(3)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert states(root, killed_id)["Transform"] == "COMPLETE" and states(root, killed_id)["Trainer"] == "RUNNING"
    resumed = textrnn_run(textrnn_bin, headlines_600, root)
    assert "Transform reused from the cache" in resumed.stderr
    summary = summary_of(root, resumed)
    assert sorted(summary["reused"]) == sorted(DATA_NODES)
    assert summary["blessed"] and summary["pushed_to"]


def test_retention_keeps_the_baseline_and_what_kept_runs_reused(cached_root, headlines_600, textrnn_bin):
    root, _, _ = cached_root
    before = output_layout.pushed_versions(output_layout.serving_model_dir(str(root)))
    result = textrnn_run(textrnn_bin, headlines_600, root, "--keep-runs", "1")
    summary = summary_of(root, result)
    assert "retention: kept the newest 1 run(s); removed" in result.stdout
    record = run_record.read_run(output_layout.metadata_path(str(root)), summary["run_id"])
    # What this run reused from the cache (outputs of the first runs) is still on disk; so is the baseline.
    for node in DATA_NODES:
        for artifact in record.outputs[node].values():
            assert os.path.exists(artifact.uri), (node, artifact.uri)
    assert os.path.exists(summary["baseline"]["model"])
    after = output_layout.pushed_versions(output_layout.serving_model_dir(str(root)))
    assert after[:-1] == before  # pushed versions are kept unless --keep-pushed asks
    # Removed artifacts are marked DELETED in ML Metadata, and are gone from disk.
    store = run_record.open_store(output_layout.metadata_path(str(root)))
    deleted = [a for a in store.get_artifacts() if a.state == a.DELETED]
    assert deleted and not [a for a in deleted if os.path.exists(a.uri)]
    live = [a for a in store.get_artifacts() if a.state == a.LIVE]
    assert not [a for a in live if a.uri and not os.path.exists(a.uri)]
    # A run after retention still works, and --keep-pushed leaves the newest version only.
    final = textrnn_run(textrnn_bin, headlines_600, root, "--keep-runs", "1", "--keep-pushed", "1")
    assert len(output_layout.pushed_versions(output_layout.serving_model_dir(str(root)))) == 1
    assert summary_of(root, final)["pushed_to"].endswith(str(output_layout.pushed_versions(
        output_layout.serving_model_dir(str(root)))[-1]))
