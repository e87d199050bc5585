"""The portable-runner contract that Flink, Spark and Dataflow's runner v2 share, run here: the data components
submitted to Beam's local job service (a separate process) with SDK workers from an external worker pool (another
process), on 127.0.0.1, must give what Beam's DirectRunner gives."""
import collections
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from textrnn import contract
from textrnn import output_layout
from textrnn.components import run_record
from textrnn.pipeline import options

pytestmark = pytest.mark.slow
SPLITS = ("train", "eval", "test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(module: str, port_flag: str, log_path):
    """Starts `python -m module` on a free port in its own process group; returns (process, port, log file)."""
    port = _free_port()
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, "-m", module, f"{port_flag}={port}"], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port, log
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start: {open(log_path).read()}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def beam_services(tmp_path_factory):
    """Beam's local job service and an external worker pool, each its own process on 127.0.0.1."""
    logs = tmp_path_factory.mktemp("beam_services")
    started = []
    try:
        started.append(_serve("apache_beam.runners.portability.local_job_service_main", "--port",
                              logs / "job_service.log"))
        started.append(_serve("apache_beam.runners.worker.worker_pool_main", "--service_port",
                              logs / "worker_pool.log"))
        yield f"127.0.0.1:{started[0][1]}", f"127.0.0.1:{started[1][1]}", logs
    finally:
        for process, _, log in started:  # the pool's SDK workers are in its process group
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            log.close()


def _run(textrnn_bin, input_dir, output_root, *beam_flags):
    command = [textrnn_bin, "run", "--input-dir", str(input_dir), "--output-root", str(output_root), "--epochs", "1",
               "--vocab-size", "3000", "--seed", "0", "--eval-loss-bound", "10", *beam_flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    return result, run_record.latest_run(output_layout.metadata_path(str(output_root)))


@pytest.fixture(scope="module")
def runs(beam_services, make_slice, textrnn_bin, tmp_path_factory):
    """The same slice through the DirectRunner and through the portable runner: (direct, portable, stderr)."""
    input_dir = make_slice(1000)
    job_endpoint, worker_pool, _ = beam_services
    _, direct = _run(textrnn_bin, input_dir, tmp_path_factory.mktemp("direct"), "--beam-mode", "in_memory")
    result, portable = _run(textrnn_bin, input_dir, tmp_path_factory.mktemp("portable"), "--beam-runner", "portable",
                            "--job-endpoint", job_endpoint, "--worker-pool", worker_pool)
    return direct, portable, result.stderr


def _records(uri, split):
    """The split's tf.Examples as a multiset of {feature: values} (serialized, a map's order may differ)."""
    files = sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*")))
    examples = collections.Counter()
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        examples[tuple(sorted((name, tuple(getattr(value, value.WhichOneof("kind")).value))
                              for name, value in feature.items()))] += 1
    return examples


def test_the_job_service_ran_the_data_components_on_the_pool_workers(runs, beam_services):
    _, portable, stderr = runs
    _, _, logs = beam_services
    assert "PortableRunner at 127.0.0.1:" in stderr
    assert set(portable.states.values()) == {"COMPLETE"}
    jobs = open(logs / "job_service.log").read()
    workers = open(logs / "worker_pool.log").read()
    # one job per Beam-powered component (the ExampleGen, StatisticsGen, Transform's two, Evaluator at least)
    assert jobs.count("Running job") >= 4, jobs[-2000:]
    assert "Starting worker with command" in workers, workers[-2000:]


def test_examples_statistics_and_vocabulary_equal_the_direct_runners(runs):
    import tensorflow_data_validation as tfdv

    direct, portable, _ = runs
    for split in SPLITS:
        examples = _records(portable.output("JsonExampleGen", "examples").uri, split)
        assert examples and examples == _records(direct.output("JsonExampleGen", "examples").uri, split), split
        transformed = _records(portable.output("Transform", "transformed_examples").uri, split)
        assert transformed == _records(direct.output("Transform", "transformed_examples").uri, split), split

    for split in SPLITS:
        stats = [tfdv.load_stats_binary(os.path.join(r.output("StatisticsGen", "statistics").uri, f"Split-{split}",
                                                      "FeatureStats.pb")).datasets[0] for r in (direct, portable)]
        assert stats[0].num_examples == stats[1].num_examples == sum(_records(
            direct.output("JsonExampleGen", "examples").uri, split).values())
        for left, right in zip(*(sorted(s.features, key=lambda f: f.path.step[0]) for s in stats)):
            assert left.path == right.path
            kind = left.WhichOneof("stats")
            assert getattr(left, kind).common_stats.num_non_missing == getattr(right, kind).common_stats.num_non_missing
            if kind == "string_stats":
                assert (left.string_stats.unique, left.string_stats.avg_length) == pytest.approx(
                    (right.string_stats.unique, right.string_stats.avg_length))
            else:
                assert left.num_stats.mean == pytest.approx(right.num_stats.mean)

    assets = [os.path.join(r.output("Transform", "transform_graph").uri, "transform_fn", "assets") for r in runs[:2]]
    names = sorted(os.listdir(assets[0]))
    assert names and names == sorted(os.listdir(assets[1]))
    for name in names:
        with open(os.path.join(assets[0], name), "rb") as a, open(os.path.join(assets[1], name), "rb") as b:
            assert a.read() == b.read(), name


def _metrics(eval_result):
    """{(slice, output, metric): value} of an EvalResult's scalar metrics."""
    values = {}
    for slice_key, outputs in eval_result.slicing_metrics:
        for output, sub_keys in outputs.items():
            for sub_key, metrics in sub_keys.items():
                for name, value in metrics.items():
                    if "doubleValue" in value:
                        values[(str(slice_key), output, sub_key, name)] = value["doubleValue"]
    return values


def test_evaluator_metrics_equal_the_direct_runners_for_the_same_model(runs, tmp_path):
    import tensorflow_model_analysis as tfma

    from textrnn.pipeline.pipeline import eval_config

    _, portable, _ = runs
    portable_metrics = _metrics(tfma.load_eval_result(portable.output("Evaluator", "evaluation").uri))
    config = eval_config(10.0, options.PipelineOptions().eval_loss_tolerance)
    for spec in config.metrics_specs:  # no baseline here: the thresholds are the gate's, not the metrics'
        for metric in spec.metrics:
            metric.ClearField("per_slice_thresholds")
    model_dir = os.path.join(portable.output("Trainer", "model").uri, "Format-Serving")
    direct_result = tfma.run_model_analysis(
        eval_shared_model=tfma.default_eval_shared_model(model_dir, eval_config=config),
        eval_config=config,
        data_location=os.path.join(portable.output("JsonExampleGen", "examples").uri, "Split-eval", "*"),
        file_format="tfrecords",
        output_path=str(tmp_path / "direct_evaluation"),
    )
    direct_metrics = _metrics(direct_result)
    assert any(key[-1] == "example_count" for key in direct_metrics)
    assert set(portable_metrics) == set(direct_metrics)
    for key, value in direct_metrics.items():
        assert portable_metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize("flags, message", [
    (["--job-endpoint", "127.0.0.1:9"], "beam_runner portable needs job_endpoint and worker_pool (each HOST:PORT)"),
    (["--job-endpoint", "127.0.0.1:9", "--worker-pool", "127.0.0.1:9"],
     "cannot reach the Beam job service (job_endpoint) at 127.0.0.1:9: Connection refused"),
    (["--job-endpoint", "jobs", "--worker-pool", "127.0.0.1:9"], "the Beam job service (job_endpoint): 'jobs' is not HOST:PORT"),
])
def test_a_portable_run_without_a_job_service_fails_at_once_saying_why(flags, message, textrnn_bin, tmp_path):
    result = subprocess.run([textrnn_bin, "run", "--beam-runner", "portable", *flags, "--output-root", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and f"textrnn: error: {message}" in result.stderr, result.stderr
    assert "running pipeline" not in result.stderr and "Traceback" not in result.stderr
