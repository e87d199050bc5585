"""Beam arguments of local and cluster runs: the mode chosen by input size, and no throwaway TFX package."""
import os

import pytest
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, SetupOptions
from tfx.utils import dependency_utils

from textrnn.kubeflow.cluster import BEAM_RUNNERS, ClusterOptions
from textrnn.pipeline import options as configs


def test_auto_runs_the_v1_dataset_in_memory(dataset_file):
    assert configs.disk_bytes(os.path.dirname(dataset_file)) >= os.path.getsize(dataset_file)
    assert configs.resolve_beam_mode("auto", os.path.dirname(dataset_file)) == "in_memory"
    assert configs.beam_pipeline_args("auto", data_path=os.path.dirname(dataset_file)) == []


def test_auto_uses_worker_processes_for_large_inputs(tmp_path):
    (tmp_path / "part-1.json").write_bytes(b"")
    with open(tmp_path / "part-2.json", "wb") as f:
        f.truncate(configs.AUTO_MULTI_PROCESSING_BYTES + 1)
    assert configs.resolve_beam_mode("auto", str(tmp_path)) == "multi_processing"
    assert configs.resolve_beam_mode("in_memory", str(tmp_path)) == "in_memory"


def test_multi_processing_names_the_installed_package_as_all_the_workers_need():
    args = configs.beam_pipeline_args("multi_processing", workers=2)
    options = PipelineOptions(args)
    assert options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert options.view_as(DirectOptions).direct_num_workers == 2
    requirements = options.view_as(SetupOptions).requirements_file
    assert requirements == configs.EMPTY_REQUIREMENTS and open(requirements).read().strip() == ""


@pytest.mark.parametrize("args", [
    configs.beam_pipeline_args("multi_processing"),
    configs.portable_beam_pipeline_args("h:1", "h:2"),
    *(ClusterOptions(beam_runner=runner).beam_pipeline_args() for runner in BEAM_RUNNERS),
], ids=["multi_processing", "portable", *(f"kubeflow-{runner}" for runner in BEAM_RUNNERS)])
def test_tfx_builds_no_throwaway_package_for_any_runners_arguments(args):
    """TFX adds its own 52 MB `tfx_ephemeral` sdist (built into the temp folder, staged to every worker) to any
    Beam arguments that name no package, requirements file or container image; ours always name one."""
    assert dependency_utils.make_beam_dependency_flags(list(args)) == args


def test_unknown_mode_is_rejected():
    with pytest.raises(configs.SettingsError, match="unknown Beam mode 'threads'"):
        configs.beam_pipeline_args("threads")


def test_portable_arguments_are_the_flink_configurations_but_for_runner_and_endpoint():
    cluster = ClusterOptions(beam_runner="flink")
    portable = PipelineOptions(configs.portable_beam_pipeline_args(
        "127.0.0.1:8099", cluster.flink_worker_pool)).get_all_options(drop_default=True)
    flink = PipelineOptions(cluster.beam_pipeline_args()).get_all_options(drop_default=True)
    assert portable["runner"] == "PortableRunner" and portable["job_endpoint"] == "127.0.0.1:8099"
    assert portable["environment_type"] == "EXTERNAL" == flink["environment_type"]
    # Both name an empty requirements file: the image's on the cluster, the installed package's locally.
    assert flink["requirements_file"] == "/opt/textrnn/no_requirements.txt"
    assert portable["requirements_file"] == configs.EMPTY_REQUIREMENTS
    flink_only, portable_only = {"runner", "flink_master", "flink_submit_uber_jar", "parallelism",
                                 "requirements_file"}, {"runner", "job_endpoint", "requirements_file"}
    assert ({k: v for k, v in flink.items() if k not in flink_only}
            == {k: v for k, v in portable.items() if k not in portable_only})


def test_statistics_count_distinct_headlines_with_fixed_size_sketches(tmp_path):
    import tensorflow_data_validation as tfdv

    from textrnn.pipeline.pipeline import Placement, create_pipeline

    pipeline = create_pipeline(configs.PipelineOptions(),
                               Placement(str(tmp_path / "root"), str(tmp_path / "data"), str(tmp_path / "serving")))
    (statistics_gen,) = [c for c in pipeline.components if c.id == "StatisticsGen"]
    options = tfdv.StatsOptions.from_json(statistics_gen.exec_properties["stats_options_json"])
    assert options.use_sketch_based_topk_uniques
