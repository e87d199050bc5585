"""`textrnn compile-kubeflow`: the pipeline as a Kubeflow Pipelines v2 spec (YAML), from kubeflow/configs.py and flags."""
import argparse
import os
import sys

from kubeflow import configs


def add_parser(subparsers) -> None:
    from pipeline import cli, configs as local_configs
    from models import presets

    parser = subparsers.add_parser(
        "compile-kubeflow",
        help="compile the pipeline into a Kubeflow Pipelines v2 spec (YAML) to upload and run on Kubeflow",
        description="Compiles the pipeline (the local runner's factory) with KubeflowV2DagRunner. Defaults come "
                    "from kubeflow/configs.py and its TEXTRNN_KFP_* environment variables.",
    )
    parser.add_argument("--output", default=configs.SPEC_FILE, help="the YAML file to write (default %(default)s)")
    parser.add_argument("--pipeline-root", default=configs.PIPELINE_ROOT,
                        help="where runs write their artifacts, e.g. gs://BUCKET/textrnn/pipeline_root (default %(default)s)")
    parser.add_argument("--data-root", default=configs.DATA_ROOT,
                        help="folder of headline JSON files the pods can read (default %(default)s)")
    parser.add_argument("--serving-model-dir", default=configs.SERVING_MODEL_DIR,
                        help="where Pusher puts blessed models (default <pipeline root>/serving_model/<name>)")
    parser.add_argument("--image", default=configs.IMAGE,
                        help="the image built from kubeflow/Dockerfile that runs every component (default %(default)s)")
    parser.add_argument("--gpus", type=int, default=configs.GPUS, help="GPUs for the Trainer, 0 for none (default %(default)s)")
    parser.add_argument("--gpu-type", default=configs.GPU_TYPE,
                        help="accelerator: the Kubernetes resource on Kubeflow (nvidia.com/gpu), the type on Vertex AI "
                             "(NVIDIA_TESLA_T4) (default %(default)s)")
    parser.add_argument("--beam-runner", default=configs.BEAM_RUNNER, choices=configs.BEAM_RUNNERS,
                        help="where the data components run Beam; arguments from kubeflow/configs.py (default %(default)s)")
    parser.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    parser.add_argument("--skip-invalid", action="store_true",
                        help="quarantine invalid input records instead of failing on the first one")
    parser.add_argument("--eval-loss-bound", type=float, default=local_configs.EVAL_LOSS_UPPER_BOUND,
                        help="bless only below this eval binary cross-entropy (default %(default)s)")
    parser.add_argument("--preset", default="default", choices=sorted(presets.PRESETS),
                        help="model configuration to start from (see `textrnn presets`); flags below override it")
    cli._model_flags(parser)
    parser.set_defaults(command=compile_kubeflow)


def compile_kubeflow(args: argparse.Namespace) -> int:
    from pipeline import cli
    from kubeflow import kubeflow_v2_runner

    spec = kubeflow_v2_runner.run(
        output_path=args.output,
        image=args.image,
        beam_runner=args.beam_runner,
        gpus=args.gpus,
        gpu_type=args.gpu_type,
        model_config=cli._model_config(args),
        pipeline_root=args.pipeline_root,
        data_root=args.data_root,
        serving_model_dir=args.serving_model_dir,
        pipeline_name=args.pipeline_name,
        skip_invalid=args.skip_invalid,
        eval_loss_upper_bound=args.eval_loss_bound,
    )
    tasks = spec["root"]["dag"]["tasks"]
    trainer = spec["deploymentSpec"]["executors"][f"{configs.TRAINER}_executor"]["container"].get("resources", {})
    accelerator = trainer.get("accelerator")
    print(f"wrote {os.path.abspath(args.output)}: pipeline '{spec['pipelineInfo']['name']}', {len(tasks)} tasks "
          f"({', '.join(tasks)}), image {args.image}, pipeline root {spec['defaultPipelineRoot']}, "
          f"Beam {args.beam_runner}, Trainer "
          + (f"{accelerator['resourceCount']} x {accelerator['resourceType']}" if accelerator else "on CPU"),
          file=sys.stderr)
    return 0
