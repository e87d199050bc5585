"""The last task of a Kubeflow run: the summary `textrnn run` prints, and a failure when nothing was blessed.

On Kubeflow Pipelines a run whose model the Evaluator did not bless, or the serving check refused, still ends
with every task green: the Pusher succeeds by pushing nothing. This task reads the run's artifacts, logs the
same summary as a local `textrnn run` (metrics, baseline, blessing, serving check, pushed version, demo
predictions), and fails with the same reasons when the model was not blessed or refused, so the run shows as
failed at its final step.

Example:

>>> from tfx import v1 as tfx
>>> from textrnn.components.run_verdict import RunVerdict
>>> channel = lambda t: tfx.dsl.Channel(type=getattr(tfx.types.standard_artifacts, t))
>>> node = RunVerdict(examples=channel("Examples"), model=channel("Model"), model_run=channel("ModelRun"),
...                   evaluation=channel("ModelEvaluation"), blessing=channel("ModelBlessing"),
...                   pushed_model=channel("PushedModel"))
>>> node.id
'RunVerdict'
"""
import os

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from textrnn.errors import TextrnnError

InputArtifact = tfx.dsl.components.InputArtifact


class ModelNotBlessedError(TextrnnError, RuntimeError):
    """The Evaluator did not bless the run's model, or the serving check refused it, so nothing was pushed; the
    message says why."""


def run_name(artifact_uri: str) -> str:
    """The run's folder name in an output URI laid out as `<root>/.../<run>/<task>/<output>` (Kubeflow
    Pipelines and Vertex AI Pipelines both lay out output artifacts so)."""
    return os.path.basename(os.path.dirname(os.path.dirname(artifact_uri.rstrip("/"))))


@tfx.dsl.components.component
def RunVerdict(
    examples: InputArtifact[standard_artifacts.Examples],
    model: InputArtifact[standard_artifacts.Model],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: InputArtifact[standard_artifacts.ModelBlessing],
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    serving_blessing: InputArtifact[standard_artifacts.InfraBlessing] = None,
    baseline: InputArtifact[standard_artifacts.Model] = None,
):
    """Logs the run's summary; raises ModelNotBlessedError when the model was not blessed or was refused."""
    from textrnn.components import run_summary
    from textrnn.components.run_record import RunRecord, custom_property

    outputs = {
        "JsonExampleGen": {"examples": examples},
        "Trainer": {"model": model, "model_run": model_run},
        "Evaluator": {"evaluation": evaluation, "blessing": blessing},
        "Pusher": {"pushed_model": pushed_model},
        **({"ServingCheck": {"blessing": serving_blessing}} if serving_blessing else {}),
    }
    record = RunRecord(
        run_id=f"kubeflow {run_name(blessing.uri)}",
        states={node: "COMPLETE" for node in outputs},
        outputs={node: {key: a.mlmd_artifact for key, a in artifacts.items()} for node, artifacts in outputs.items()},
    )
    result = run_summary.build_summary(record)
    serving_baseline = custom_property(baseline.mlmd_artifact, "pushed_destination") if baseline else None
    if result.get("baseline") and serving_baseline:
        result["baseline"]["model"] = serving_baseline
    print(run_summary.format_summary(result), flush=True)
    reason = run_summary.why_not_pushed(result)
    if reason:
        raise ModelNotBlessedError(reason)
