"""The gate after ExampleValidator: real StatisticsGen and ExampleValidator against a schema the data breaks."""
import pathlib

import pytest
from tfx import v1 as tfx

from textrnn.components.anomalies_gate import AnomaliesGate
from textrnn.components.json_example_gen import JsonExampleGen

pytestmark = pytest.mark.slow

# A schema under which every sarcastic headline is an anomaly: is_sarcastic may only be 0.
SCHEMA = """
feature { name: "headline" type: BYTES presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } } }
feature {
  name: "is_sarcastic" type: INT int_domain { min: 0 max: 0 }
  presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } }
}
"""


def run_validation(data_dir: pathlib.Path, root: pathlib.Path, schema: str):
    schema_dir = root / "schema"
    schema_dir.mkdir(parents=True)
    (schema_dir / "schema.pbtxt").write_text(schema)
    example_gen = JsonExampleGen(input_base=str(data_dir))
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=str(schema_dir / "schema.pbtxt"))
    validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    gate = AnomaliesGate(anomalies=validator.outputs["anomalies"])
    tfx.orchestration.LocalDagRunner().run(
        tfx.dsl.Pipeline(
            pipeline_name="anomalies_gate_test",
            pipeline_root=str(root / "pipeline"),
            components=[example_gen, statistics_gen, schema_gen, validator, gate],
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                str(root / "metadata.db")
            ),
            beam_pipeline_args=["--direct_running_mode=in_memory"],
        )
    )


@pytest.fixture(scope="module")
def headlines_300(make_slice):
    return make_slice(300)


def test_gate_stops_the_run_and_names_the_anomaly(headlines_300, tmp_path):
    with pytest.raises(Exception) as failure:
        run_validation(headlines_300, tmp_path, SCHEMA)
    message = str(failure.value)
    assert "training is not started" in message
    assert "split 'train', feature 'is_sarcastic'" in message
    assert "Out-of-range values" in message


def test_gate_passes_data_that_matches_the_schema(headlines_300, tmp_path):
    run_validation(headlines_300, tmp_path, SCHEMA.replace("max: 0", "max: 1"))
