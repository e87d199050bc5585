"""RunReport, the last component of every run: the run's page (`report.html`, components/report_page.py) and
its summary (`summary.json`, components/run_summary.py), each an output artifact.

The page is an artifact of type `system.HTML` (the type whose file Kubeflow Pipelines' UI shows on the run's page);
the summary a `textrnn.RunSummary`, which `run_local`, RunVerdict and `textrnn report` read instead of building it
again. Both are written whatever the verdict, so a refused run has them too.

Example:

>>> from textrnn.components.run_report import HTML, RunReport
>>> HTML.TYPE_NAME
'system.HTML'
>>> sorted(RunReport.SPEC_CLASS.OUTPUTS)
['report', 'summary']
"""
import dataclasses
import json
import time

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.types.value_artifact import ValueArtifact

from textrnn.components.glove_coverage import GloveCoverageReport
from textrnn.components.run_artifacts import RunSummary, summary_file

InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
Parameter = tfx.dsl.components.Parameter


class HTML(ValueArtifact):
    """A web page whose artifact URI is the file itself: Kubeflow Pipelines' `system.HTML`, which its UI renders
    on the run's page (locally TFX names the file `.../<execution id>/value`).

    Example:

    >>> from textrnn.components.run_report import HTML
    >>> page = HTML()
    >>> page.decode(page.encode("<p>hi</p>"))
    '<p>hi</p>'
    """

    TYPE_NAME = "system.HTML"

    def encode(self, value: str) -> bytes:
        return value.encode("utf-8")

    def decode(self, serialized_value: bytes) -> str:
        return serialized_value.decode("utf-8")


@tfx.dsl.components.component
def RunReport(
    report: OutputArtifact[HTML],
    summary: OutputArtifact[RunSummary],
    examples: InputArtifact[standard_artifacts.Examples] = None,
    statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
    schema: InputArtifact[standard_artifacts.Schema] = None,
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies] = None,
    model: InputArtifact[standard_artifacts.Model] = None,
    model_run: InputArtifact[standard_artifacts.ModelRun] = None,
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation] = None,
    blessing: InputArtifact[standard_artifacts.ModelBlessing] = None,
    serving_blessing: InputArtifact[standard_artifacts.InfraBlessing] = None,
    pushed_model: InputArtifact[standard_artifacts.PushedModel] = None,
    baseline: InputArtifact[standard_artifacts.Model] = None,
    baseline_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
    coverage: InputArtifact[GloveCoverageReport] = None,
    tuner_results: InputArtifact[standard_artifacts.TunerResults] = None,
    best_hyperparameters: InputArtifact[standard_artifacts.HyperParameters] = None,
    run_settings: Parameter[str] = "{}",
    metadata_path: Parameter[str] = "",
):
    """Writes the run's report.html to `report` (the file is the artifact's URI) and its summary.json to
    `summary`; the test split and the demo sentences are scored here, once per run.

    `run_settings` is JSON: the preset, the settings that differ from it and the data's source. With
    `metadata_path` (local runs: the SQLite ML Metadata store), the page also shows each component's state and
    time; on Kubeflow the run's own page shows those.
    """
    import tensorflow as tf

    from textrnn.components import run_record
    from textrnn.components.report_page import build_report, write_page

    anchor = pushed_model or blessing
    record = run_record.record_of_inputs(
        f"kubeflow {run_record.run_name(anchor.uri)}" if anchor else "kubeflow run",
        dict(examples=examples, statistics=statistics, schema=schema, anomalies=anomalies, model=model,
             model_run=model_run, evaluation=evaluation, blessing=blessing, serving_blessing=serving_blessing,
             pushed_model=pushed_model, coverage=coverage, tuner_results=tuner_results,
             best_hyperparameters=best_hyperparameters, baseline=baseline, baseline_statistics=baseline_statistics))
    if metadata_path and anchor is not None:
        store = run_record.open_store(metadata_path)
        ran = run_record.read_run_context(store, run_record.run_of_artifact(store, anchor.id))
        record = dataclasses.replace(record, run_id=ran.run_id, states=ran.states, seconds=ran.seconds,
                                     started=ran.started)
    text, result = build_report(record, json.loads(run_settings), now=time.time())
    write_page(report.uri, text)
    tf.io.gfile.makedirs(summary.uri)
    with tf.io.gfile.GFile(summary_file(summary.uri), "w") as f:
        json.dump({**result, "report": report.uri}, f, indent=1)
