"""The one local run: `textrnn run` and the TFX CLI both call `run_local`; this is also the file the TFX CLI takes.

    tfx pipeline create --engine local --pipeline_path "$PWD/pipeline/local_runner.py"
    tfx run create --engine local --pipeline_name textrnn

`run_local(options)` takes the output root's run lock, fetches the dataset (or uses the input folder), picks the
Beam arguments, runs the pipeline with LocalDagRunner, writes the summary RunReport made to `summary-<run id>.json`
and copies its page to `report-<run id>.html` beside it (a failed run gets both, with what it got to), applies the
retention settings and returns a `RunResult` with the text to show and the exit status: 0 when a
model was blessed and pushed, 3 (contract.NOT_BLESSED_EXIT_CODE) when the Evaluator did not bless it or the
serving check (components/serving_check.py) refused it. Run as a
file, it reads every setting from the TEXTRNN_* environment variables (see `textrnn settings`), prints the
summary and exits with that status; `tfx run create` turns any non-zero status of this file into its own
exit status 1, after printing the summary.

Local runs use TFX's cache: a component whose inputs and settings match a successful earlier execution reuses its
outputs (so a rerun after a failure resumes where it stopped), except the components in `contract.ALWAYS_RUN`,
which train, judge and push a new model every run. One run at a time uses an output root (pipeline/run_lock.py).
"""
import dataclasses
import json
import os
import shutil
import sys
from typing import Optional

from textrnn.output_layout import metadata_path, pipeline_root, serving_model_dir
from textrnn.contract import ALWAYS_RUN, NOT_BLESSED_EXIT_CODE, REPORT_NODE
from textrnn.errors import TextrnnError
from textrnn.pipeline import options as run_options
from textrnn.pipeline.options import PipelineOptions


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a local run leaves: its id, the summary (also written to `summary_path`), the retention report, the
    text to show and the exit status a scheduler acts on."""

    run_id: str
    summary: dict
    summary_path: str
    text: str
    exit_code: int

    @property
    def blessed(self) -> bool:
        return bool(self.summary["blessed"])


def local_placement(options: PipelineOptions, data_path: str):
    """Where a local run puts everything: under `options.output_root`, with ML Metadata in SQLite there."""
    from tfx import v1 as tfx

    from textrnn.pipeline.pipeline import Placement

    output_root = os.path.abspath(options.output_root)
    if options.beam_runner == "portable":
        beam_args = run_options.portable_beam_pipeline_args(options.job_endpoint, options.worker_pool)
    else:
        beam_args = run_options.beam_pipeline_args(options.beam_mode, options.beam_workers, data_path)
    return Placement(
        pipeline_root=pipeline_root(output_root, options.pipeline_name),
        data_path=os.path.abspath(data_path),
        serving_model_dir=serving_model_dir(output_root, options.pipeline_name),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            metadata_path(output_root, options.pipeline_name)),
        beam_pipeline_args=beam_args,
    )


def describe_beam(options: PipelineOptions, data_path: str) -> str:
    if options.beam_runner == "portable":
        return f"PortableRunner at {options.job_endpoint}, workers from {options.worker_pool}"
    return run_options.resolve_beam_mode(options.beam_mode, data_path)


def _local_dag_runner(run_id: str):
    """LocalDagRunner recording its run as `run_id`, the components in contract.ALWAYS_RUN never taken from the
    cache. Its `run` is LocalDagRunner's own, which the TFX CLI intercepts to read the pipeline."""
    from tfx import v1 as tfx
    from tfx.dsl.compiler import constants
    from tfx.orchestration.portable import runtime_parameter_utils

    class IdentifiedLocalDagRunner(tfx.orchestration.LocalDagRunner):
        def run_with_ir(self, pipeline, run_options=None):
            # LocalDagRunner would stamp its own id; substituted here first, ours is the one the run records.
            runtime_parameter_utils.substitute_runtime_parameter(
                pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
            for node in pipeline.nodes:
                if node.pipeline_node.node_info.id in ALWAYS_RUN:
                    node.pipeline_node.execution_options.caching_options.enable_cache = False
            return super().run_with_ir(pipeline, run_options)

    return IdentifiedLocalDagRunner()


def check_reachable(endpoint: str, what: str, timeout_s: float = 10.0) -> None:
    """Fails at once, naming `what`, unless a TCP connection to `endpoint` (HOST:PORT) opens (Beam's portable
    runner would wait minutes and then fail without a message)."""
    import socket

    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise TextrnnError(f"{what}: {endpoint!r} is not HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise TextrnnError(f"cannot reach {what} at {endpoint}: {error.strerror or error}") from None


def run_local(options: PipelineOptions, progress: bool = True) -> RunResult:
    """Runs the whole pipeline locally as `options` say and returns what it did (see the module's docstring).

    Example (a full run takes minutes):

        from textrnn.pipeline.options import resolve_options
        result = run_local(resolve_options({"input_dir": "my_headlines/", "preset": "glove-6b-50d"}))
        print(result.text); raise SystemExit(result.exit_code)
    """
    from textrnn.pipeline import run_lock  # before TensorFlow and TFX: a second run on the root fails at once

    if options.beam_runner == "portable":
        check_reachable(options.job_endpoint, "the Beam job service (job_endpoint)")
    output_root = os.path.abspath(options.output_root)
    run_id = run_lock.new_run_id()
    with run_lock.exclusive_run(output_root, options.pipeline_name, run_id):
        from absl import logging

        from textrnn.components import run_record, run_summary
        from textrnn.pipeline import data, progress as progress_display, retention
        from textrnn.pipeline.pipeline import create_pipeline

        data_path = options.input_dir or data.ensure_dataset(data_dir=options.data_dir, mirror=options.mirror)
        pipeline = create_pipeline(options, local_placement(options, data_path))
        logging.set_verbosity(logging.INFO)
        if progress and not options.verbose:
            progress_display.show_component_progress(len(pipeline.components))
        print(f"running pipeline '{options.pipeline_name}' as run {run_id} (preset {options.preset}, Beam "
              f"{describe_beam(options, data_path)}{'' if options.cache else ', no cache'}) on {data_path}, "
              f"outputs in {options.output_root}", file=sys.stderr)
        try:
            _local_dag_runner(run_id).run(pipeline)
        except Exception:
            save_failed_run(options, output_root, run_id)
            raise
        record = run_record.read_run(metadata_path(output_root, options.pipeline_name), run_id)
        summary, summary_path, report_path = save_run_outputs(options, record)
        lines = [run_summary.format_summary(summary)]
        if options.keep_runs is not None:
            lines.append(str(retention.prune(output_root, options.pipeline_name, options.keep_runs, options.keep_pushed)))
    lines += [f"summary written to {summary_path}", f"report: {report_path}"]
    exit_code = NOT_BLESSED_EXIT_CODE if run_summary.why_not_pushed(summary) else 0
    return RunResult(run_id, summary, summary_path, "\n".join(lines), exit_code)


def save_run_outputs(options: PipelineOptions, record) -> tuple:
    """(summary, summary path, report path): writes `summary-<run id>.json` and `report-<run id>.html` in the
    output root, where people look for them. Both are RunReport's (its summary with every component's final
    state); for a run that failed before its RunReport finished, both are built here from what the run recorded."""
    from textrnn.components import report_page, run_artifacts, run_summary

    stem = record.run_id.replace(":", "-")
    summary_path = os.path.join(options.output_root, f"summary-{stem}.json")
    report_path = os.path.join(options.output_root, f"report-{stem}.html")
    summary = run_artifacts.saved_summary(record)
    if summary is None:
        text, summary = report_page.build_report(record, options.run_settings())
        report_page.write_page(report_path, text)
    else:
        shutil.copyfile(record.output(REPORT_NODE, "report").uri, report_path)
    summary.update(run_summary.component_states(record), **options.run_settings(), report=report_path)
    with open(summary_path, "x") as f:  # a run id is never reused, so neither is its file
        json.dump(summary, f, indent=1)
    return summary, summary_path, report_path


def save_failed_run(options: PipelineOptions, output_root: str, run_id: str) -> None:
    """The summary and report of a run that failed, with the sections it got to, named on stderr; a failure to
    write them is reported without hiding the run's own error."""
    from textrnn.components import run_record

    try:
        record = run_record.read_run(metadata_path(output_root, options.pipeline_name), run_id)
        _, summary_path, report_path = save_run_outputs(options, record)
        print(f"the run failed; summary written to {summary_path}, report: {report_path}", file=sys.stderr)
    except Exception as error:  # noqa: BLE001 - the run's own error follows and matters more
        print(f"the run failed, and its summary and report could not be written: {error}", file=sys.stderr)


def _tfx_cli_reads_the_pipeline() -> bool:
    """Whether `tfx pipeline create` runs this file: it patches LocalDagRunner.run (functools.wraps) to record the
    pipeline instead of running it."""
    from tfx import v1 as tfx

    return hasattr(tfx.orchestration.LocalDagRunner.run, "__wrapped__")


def main(environ: Optional[dict] = None) -> int:
    """This file as a program: the settings from the environment, one local run, its summary, its exit status."""
    from textrnn.pipeline.tf_log_filter import TensorflowLogFilter

    try:
        options = run_options.resolve_options(environ=environ)
        if _tfx_cli_reads_the_pipeline():  # `tfx pipeline create`: hand over the pipeline, run nothing
            from textrnn.pipeline import data
            from textrnn.pipeline.pipeline import create_pipeline

            data_path = options.input_dir or data.dataset_dir(options.data_dir)
            _local_dag_runner("tfx-cli").run(create_pipeline(options, local_placement(options, data_path)))
            return 0
        if options.verbose:
            result = run_local(options)
        else:
            with TensorflowLogFilter():
                result = run_local(options)
    except TextrnnError as error:
        if options_verbose(environ):
            raise
        print(f"textrnn: error: {error}", file=sys.stderr)
        return 1
    print(result.text, flush=True)
    return result.exit_code


def exit_without_teardown(code: int) -> None:
    """Exits with `code` once the exit handlers have run and the standard streams are flushed, skipping the
    interpreter's own finalization: after a run has imported TensorFlow that takes about 3 s (its thread pools
    and C++ objects torn down one by one) and writes nothing. Everything the run wrote is closed already; the
    exit handlers flush logging and remove temporary folders as at any exit."""
    import atexit

    atexit._run_exitfuncs()  # noqa: SLF001 - the public route to them is the finalization skipped here
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def options_verbose(environ: Optional[dict]) -> bool:
    value = (os.environ if environ is None else environ).get("TEXTRNN_VERBOSE", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


if __name__ == "__main__":
    status = main()
    if _tfx_cli_reads_the_pipeline():  # `tfx pipeline create` runs this file inside its own process, then goes on
        sys.exit(status)
    exit_without_teardown(status)
