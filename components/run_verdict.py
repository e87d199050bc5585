"""The last task of a Kubeflow run: the summary `textrnn run` prints, and a failure when nothing was blessed.

On Kubeflow Pipelines a run whose model the Evaluator did not bless, or the serving check refused, still ends
with every task green: the Pusher succeeds by pushing nothing. This task reads the summary RunReport wrote, logs
it as a local `textrnn run` prints it (metrics, baseline, blessing, serving check, pushed version, demo
predictions), and fails with the same reasons when the model was not blessed or refused, so the run shows as
failed at its final step.

Example:

>>> from tfx import v1 as tfx
>>> from textrnn.components.run_artifacts import RunSummary
>>> from textrnn.components.run_verdict import RunVerdict
>>> node = RunVerdict(summary=tfx.dsl.Channel(type=RunSummary))
>>> node.id
'RunVerdict'
"""
from tfx import v1 as tfx

from textrnn.components.run_artifacts import RunSummary
from textrnn.errors import TextrnnError

InputArtifact = tfx.dsl.components.InputArtifact


class ModelNotBlessedError(TextrnnError, RuntimeError):
    """The Evaluator did not bless the run's model, or the serving check refused it, so nothing was pushed; the
    message says why."""


@tfx.dsl.components.component
def RunVerdict(summary: InputArtifact[RunSummary]):
    """Logs the run's summary (RunReport's); raises ModelNotBlessedError when the model was not blessed or was
    refused."""
    from textrnn.components import run_summary
    from textrnn.components.run_artifacts import read_summary

    result = read_summary(summary.uri)
    print(run_summary.format_summary(result), flush=True)
    reason = run_summary.why_not_pushed(result)
    if reason:
        raise ModelNotBlessedError(reason)
