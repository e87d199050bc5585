"""The report page, `report.html`: one self-contained page per run, for people who review a model by looking.

The RunReport component (components/run_report.py) writes it at the end of every run; locally `run_local` copies
it to `<output root>/report-<run id>.html`, and `textrnn report` rebuilds it for any run of an output root from ML
Metadata (`report_from_metadata`). The page has no script and loads nothing: styles are inline and every picture
is a PNG in a data URL, so it opens offline, in a mail attachment or in the Kubeflow UI's sandboxed frame, and
prints. Everything taken from the data or the file system (headlines, file names, paths, reasons) goes through
Jinja2's autoescape.

Sections appear only when the run has what they show: the header (run, preset and changed settings, data,
code version, verdict, time), the pipeline as run, the data (TFDV statistics by split, the gate's checks,
quarantined records), training curves, the evaluation against the baseline (gated metrics, length slices,
confusion matrix, ROC and precision-recall curves, reliability diagram, most confident mistakes), the test
split, GloVe coverage, the Tuner's trials, the serving check and how to call the pushed version.

Example:

>>> from textrnn.components.report_page import calibration_error
>>> calibration_error([{"count": 10, "positive_share": 0.3, "mean_prediction": 0.1}])
0.19999999999999998
"""
import base64
import datetime
import io
import json
import os
from typing import Dict, List, Optional

from tfx.types import standard_artifacts

from textrnn.components import run_artifacts, run_summary
from textrnn.components.run_record import RunRecord, custom_property
from textrnn.contract import BASELINE_NODE, BASELINE_OUTPUTS, REPORT_NODE, RUN_OUTPUTS
from textrnn.errors import TextrnnError

# The report's own settings property (JSON: preset, settings_changed, data_source, data_expectations) among
# RunReport's exec properties.
SETTINGS_PROPERTY = "run_settings"

# The first bytes of every page this module writes; `write_page` replaces only files that start with them.
GENERATOR = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="generator" content="textrnn report">'


MISTAKES_SHOWN = 10


QUARANTINE_SHOWN = 20


CALIBRATION_BINS = 10




def _figure(columns: int = 1, width: float = 5.2, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, columns, figsize=(width * columns, height), dpi=96, squeeze=False)


def png_data_url(figure) -> str:
    """The figure as a PNG data URL (and closed): pictures travel inside the page."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_data_url(path: str) -> Optional[str]:
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def training_figure(history: dict) -> str:
    from textrnn.models.curves import draw_metric

    figure, axes = _figure(2)
    draw_metric(axes[0][0], history, "loss", "loss")
    draw_metric(axes[0][1], history, "accuracy", "accuracy")
    return png_data_url(figure)


def curves_figure(plots: Dict[str, dict]) -> Optional[str]:
    """ROC and precision-recall curves of the candidate (and the baseline) from TFMA's confusion matrices."""
    if not any("matrices" in p for p in plots.values()):
        return None
    figure, axes = _figure(2, width=4.6, height=4.0)
    roc, pr = axes[0]
    for model, style in (("baseline", dict(color="0.55", linestyle="--")), ("candidate", dict(color="C3"))):
        matrices = plots.get(model, {}).get("matrices")
        if not matrices:
            continue
        roc.plot([m.false_positive_rate for m in matrices], [m.recall for m in matrices], label=model, **style)
        kept = [m for m in matrices if m.true_positives + m.false_positives > 0]
        pr.plot([m.recall for m in kept], [m.precision for m in kept], label=model, **style)
    roc.plot([0, 1], [0, 1], ":", color="0.7")
    roc.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    for axis in (roc, pr):
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right" if axis is roc else "lower left")
    return png_data_url(figure)


def reliability(buckets) -> List[dict]:
    """TFMA's calibration histogram (10,000 buckets) regrouped into CALIBRATION_BINS equal bins of predicted
    probability: examples, mean prediction and share of positives in each non-empty bin."""
    bins = [{"count": 0.0, "label": 0.0, "prediction": 0.0} for _ in range(CALIBRATION_BINS)]
    for bucket in buckets:
        low = min(max(bucket.lower_threshold_inclusive, 0.0), 1.0)
        index = min(int(low * CALIBRATION_BINS), CALIBRATION_BINS - 1)
        bins[index]["count"] += bucket.num_weighted_examples.value
        bins[index]["label"] += bucket.total_weighted_label.value
        bins[index]["prediction"] += bucket.total_weighted_refined_prediction.value
    return [{"low": i / CALIBRATION_BINS, "count": b["count"], "positive_share": b["label"] / b["count"],
             "mean_prediction": b["prediction"] / b["count"]} for i, b in enumerate(bins) if b["count"]]


def calibration_error(bins: List[dict]) -> float:
    """Expected calibration error: the example-weighted mean gap between mean prediction and share of positives
    (TFMA has no such metric; its Calibration metric is the ratio of the two overall)."""
    total = sum(b["count"] for b in bins)
    return sum(b["count"] * abs(b["positive_share"] - b["mean_prediction"]) for b in bins) / total if total else float("nan")


def reliability_figure(bins_by_model: Dict[str, List[dict]]) -> str:
    figure, axes = _figure(1, width=4.6, height=4.0)
    axis = axes[0][0]
    axis.plot([0, 1], [0, 1], ":", color="0.6", label="perfectly calibrated")
    for model, style in (("baseline", dict(color="0.55", linestyle="--", marker="s")),
                         ("candidate", dict(color="C3", marker="o"))):
        bins = bins_by_model.get(model)
        if bins:
            axis.plot([b["mean_prediction"] for b in bins], [b["positive_share"] for b in bins],
                      label=f"{model} (ECE {calibration_error(bins):.3f})", **style)
    axis.set(xlabel="mean predicted probability", ylabel="share that is sarcastic", title="reliability",
             xlim=(0, 1), ylim=(0, 1))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    return png_data_url(figure)


def data_checks(record: RunRecord, expectations: Dict[str, List[float]]) -> List[dict]:
    """The gate's checks with their values and bounds (components/anomalies_gate.gate_checks; `expectations` as
    the gate got them), and the ExampleValidator's schema anomalies by split (bound 0)."""
    from tfx.types import artifact_utils
    from tfx.utils import io_utils

    from textrnn.components import anomalies_gate

    statistics, schema = record.output(*RUN_OUTPUTS["statistics"]), record.output(*RUN_OUTPUTS["schema"])
    anomalies = record.output(*RUN_OUTPUTS["anomalies"])
    checks = []
    if anomalies is not None:
        anomalies = run_artifacts.tfx_artifact(anomalies, standard_artifacts.ExampleAnomalies)
        for split in artifact_utils.decode_split_names(anomalies.split_names):
            found = [line for line in anomalies_gate.describe_anomalies(anomalies) if f"split '{split}'" in line]
            checks.append({"check": "schema", "split": split, "measure": "anomalies against the curated schema",
                           "value": len(found), "low": None, "high": 0, "ok": not found, "details": found})
    if statistics is None or schema is None:
        return checks
    statistics = run_artifacts.tfx_artifact(statistics, standard_artifacts.ExampleStatistics)
    by_split = {split: anomalies_gate.load_split_statistics(statistics, split)
                for split in artifact_utils.decode_split_names(statistics.split_names)}
    baseline = record.output(BASELINE_NODE, BASELINE_OUTPUTS["baseline_statistics"])
    baseline = baseline and run_artifacts.tfx_artifact(baseline, standard_artifacts.ExampleStatistics)
    baseline_train = None
    if baseline is not None and anomalies_gate.TRAIN_SPLIT in artifact_utils.decode_split_names(baseline.split_names):
        baseline_train = anomalies_gate.load_split_statistics(baseline, anomalies_gate.TRAIN_SPLIT)
    curated = io_utils.SchemaReader().read(os.path.join(schema.uri, "schema.pbtxt"))
    expected = {key: tuple(bounds) for key, bounds in expectations.items()}
    return checks + anomalies_gate.gate_checks(curated, by_split, baseline_train, expected)


def eval_mistakes(serving_model, examples_uri: str, count: int = MISTAKES_SHOWN) -> List[dict]:
    """The eval split's most confident mistakes at threshold 0.5: headline, label, probability."""
    probabilities, labels, headlines = run_artifacts.split_predictions(serving_model, examples_uri, "eval")
    wrong = [i for i in range(len(labels)) if int(probabilities[i] >= 0.5) != labels[i]]
    wrong.sort(key=lambda i: (-abs(float(probabilities[i]) - 0.5), headlines[i]))
    return [{"headline": headlines[i].decode("utf-8", "replace"), "label": int(labels[i]),
             "probability": float(probabilities[i])} for i in wrong[:count]]


def timeline(record: RunRecord, now: Optional[float] = None) -> dict:
    """Each component's state and seconds, in the order they started, and the run's wall time so far."""
    order = sorted(record.states, key=lambda node: record.started.get(node, float("inf")))
    rows = [{"node": node, "state": record.states[node].lower(), "seconds": record.seconds.get(node)} for node in order]
    total = None
    if record.started:
        end = max(record.started[n] + record.seconds.get(n, 0.0) for n in record.started)
        total = max(end, now or 0.0) - min(record.started.values())
    longest = max([r["seconds"] or 0.0 for r in rows] or [0.0]) or 1.0
    for row in rows:
        row["share"] = (row["seconds"] or 0.0) / longest
    return {"rows": rows, "total_seconds": total}


def call_examples(pushed_to: str) -> dict:
    """TF Serving's REST and gRPC requests for the pushed version (model name = the push folder's name)."""
    version = os.path.basename(pushed_to.rstrip("/"))
    model_name = os.path.basename(os.path.dirname(pushed_to.rstrip("/")))
    rest = (f"curl -s -d '{{\"signature_name\": \"headlines\", \"instances\": [\"area man wins argument with himself\"]}}' \\\n"
            f"    http://localhost:8501/v1/models/{model_name}/versions/{version}:predict")
    grpc = (
        "import grpc\nimport tensorflow as tf\nfrom tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc\n\n"
        "request = predict_pb2.PredictRequest()\n"
        f"request.model_spec.name = \"{model_name}\"\nrequest.model_spec.version.value = {version}\n"
        "request.model_spec.signature_name = \"headlines\"\n"
        "request.inputs[\"headline\"].CopyFrom(tf.make_tensor_proto([\"area man wins argument with himself\"]))\n"
        "stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(\"localhost:8500\"))\n"
        "print(tf.make_ndarray(stub.Predict(request, timeout=10.0).outputs[\"probability\"]))")
    return {"model_name": model_name, "version": version, "rest": rest, "grpc": grpc}


def collect(record: RunRecord, summary: dict, settings: dict, serving_model=None, now: Optional[float] = None) -> dict:
    """Everything the page shows, from the run's record and summary (run_summary.build_summary): plain values
    and data URLs, each section None when the run lacks it."""
    import tensorflow as tf

    from textrnn.code_version import code_version
    from textrnn.components.json_example_gen import read_quarantine

    page = {"summary": summary, "settings": settings, "code_version": code_version(),
            "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "timeline": timeline(record, now), "why_not_pushed": None, "failed": [
                node for node, state in record.states.items() if state in ("FAILED", "CANCELED")]}
    if "blessed" in summary:
        page["why_not_pushed"] = run_summary.why_not_pushed(summary)
    examples = record.output(*RUN_OUTPUTS["examples"])
    if examples is not None:
        page["records"] = custom_property(examples, "records")
        page["quarantine"] = [vars(r) for r in read_quarantine(examples.uri)]
        page["quarantine_shown"] = QUARANTINE_SHOWN
    statistics = record.output(*RUN_OUTPUTS["statistics"])
    page["statistics"] = None if statistics is None else run_artifacts.statistics_tables(
        run_artifacts.tfx_artifact(statistics, standard_artifacts.ExampleStatistics))
    # The gate's expectations: given with the report's settings, else as the run's AnomaliesGate got them.
    expectations = settings.get("data_expectations") or json.loads(
        record.properties.get("AnomaliesGate", {}).get("expectations", "{}"))
    page["checks"] = data_checks(record, expectations)

    model_run = record.output(*RUN_OUTPUTS["model_run"])
    if model_run is not None and "training" in summary:
        with tf.io.gfile.GFile(summary["training"]["history"]) as f:
            history = json.load(f)
        page["training_figure"] = training_figure(history)

    evaluation = record.output(*RUN_OUTPUTS["evaluation"])
    if evaluation is not None:
        plots = run_artifacts.evaluator_plots(evaluation.uri)
        page["curves_figure"] = curves_figure(plots)
        bins = {model: reliability(p["buckets"]) for model, p in plots.items() if p.get("buckets")}
        page["calibration_error"] = {model: calibration_error(b) for model, b in bins.items()}
        page["reliability_figure"] = reliability_figure(bins) if bins else None
        page["confusion"] = run_artifacts.confusion_at(evaluation.uri)
        page["thresholds"] = run_artifacts.gate_thresholds(evaluation.uri)
        page["baseline_by_slice"] = run_artifacts.sliced_metrics(evaluation.uri, baseline=True)
    if serving_model is not None and examples is not None:
        page["mistakes"] = eval_mistakes(serving_model, examples.uri)

    coverage = record.output(*RUN_OUTPUTS["coverage"])
    if coverage is not None:
        from textrnn.models import coverage_analysis

        page["coverage"] = {
            "properties": {k: custom_property(coverage, k) for k in (
                "glove", "vocabulary_words", "covered_words", "coverage", "recommended_vocab_size", "rule")},
            "figures": [url for url in (file_data_url(os.path.join(coverage.uri, name)) for name in (
                coverage_analysis.IN_GLOVE_PNG, coverage_analysis.CUMULATIVE_PNG)) if url]}
    if summary.get("pushed_to"):
        page["call"] = call_examples(summary["pushed_to"])
    return page


def render(page: dict) -> str:
    """The page as HTML, from the template beside this module; autoescape on for every value."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.dirname(os.path.abspath(__file__))),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["seconds"] = _format_seconds
    environment.filters["basename"] = lambda path: os.path.basename(str(path).rstrip("/"))
    text = environment.get_template("report_page.html.j2").render(page=page, generator=GENERATOR)
    assert text.startswith(GENERATOR), "the template must start with GENERATOR"
    return text


def _format_seconds(value) -> str:
    if value is None:
        return ""
    return f"{value:.1f} s" if value < 120 else f"{int(value // 60)} min {value % 60:.0f} s"


def build_report(record: RunRecord, settings: Optional[dict] = None, now: Optional[float] = None,
                 summary: Optional[dict] = None):
    """(HTML, summary) for a run: its summary (given, else run_summary.build_summary with the preset and changed
    settings of `settings`) and the page; the served model is loaded once, for both."""
    import tensorflow as tf

    settings = dict(settings or {})
    model_dir = run_artifacts.served_model_dir(record)
    serving_model = tf.saved_model.load(model_dir) if model_dir and tf.io.gfile.exists(model_dir) else None
    if summary is None:
        summary = run_summary.build_summary(record, serving_model=serving_model)
        summary.update({key: settings[key] for key in ("preset", "settings_changed") if key in settings})
    return render(collect(record, summary, settings, serving_model, now)), summary


def report_from_metadata(metadata_path: str, run_id: Optional[str] = None, summary_dir: Optional[str] = None):
    """(HTML, run id) of the run `run_id` (default: the newest) recorded in the ML Metadata store at
    `metadata_path`, whatever ran after it; the preset and settings come from the run's RunReport, else from its
    summary file in `summary_dir`. A run that failed gets the sections it got to."""
    from textrnn.components import run_record

    record = (run_record.read_run(metadata_path, run_id) if run_id
              else run_record.latest_run(metadata_path))
    pruned = sorted(node for node, outputs in record.outputs.items()
                    if any(a.state in (a.MARKED_FOR_DELETION, a.DELETED) for a in outputs.values()))
    if pruned:
        raise TextrnnError(f"the outputs of run {record.run_id} ({', '.join(pruned)}) were pruned; the report it "
                           f"wrote when it ran, report-{record.run_id.replace(':', '-')}.html, is kept")
    settings = json.loads(record.properties.get(REPORT_NODE, {}).get(SETTINGS_PROPERTY, "{}"))
    summary = run_artifacts.saved_summary(record)
    summary_file = summary_dir and os.path.join(summary_dir, f"summary-{record.run_id.replace(':', '-')}.json")
    if summary is None and summary_file and os.path.exists(summary_file):  # a run that failed before RunReport
        with open(summary_file) as f:
            summary = json.load(f)
    if summary is not None:
        settings = {**{key: summary[key] for key in ("preset", "settings_changed") if key in summary}, **settings}
        summary = {**summary, **run_summary.component_states(record)}
    text, _ = build_report(record, settings, summary=summary)
    return text, record.run_id


def write_page(path: str, text: str) -> None:
    """Writes the page to `path`, replacing only a page this module wrote (nothing a user wrote is lost)."""
    import tensorflow as tf

    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path, "rb") as f:
            start = f.read(len(GENERATOR.encode()))
        if start and start != GENERATOR.encode():
            raise TextrnnError(f"{path} exists and is not a textrnn report; choose another --output")
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)
