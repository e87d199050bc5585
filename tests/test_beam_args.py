"""Beam arguments of local runs: the mode chosen by input size, and no throwaway TFX package."""
import os

import pytest
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, SetupOptions
from tfx.utils import dependency_utils

from textrnn.pipeline import configs


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


def test_multi_processing_names_the_setup_file():
    args = configs.beam_pipeline_args("multi_processing", workers=2)
    options = PipelineOptions(args)
    assert options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert options.view_as(DirectOptions).direct_num_workers == 2
    assert options.view_as(SetupOptions).setup_file == configs.SETUP_FILE
    assert os.path.isfile(configs.SETUP_FILE)


def test_tfx_builds_no_throwaway_package_for_our_arguments():
    args = configs.beam_pipeline_args("multi_processing")
    assert dependency_utils.make_beam_dependency_flags(list(args)) == args


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown Beam mode 'threads'"):
        configs.beam_pipeline_args("threads")
