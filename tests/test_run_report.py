"""The run report (components/report_page.py, which RunReport writes): escaped, self-contained, opened in headless
Chromium with the network off, its numbers the run's summary file's; the summary built once per run; `textrnn
report` on an older run of a root with two runs."""
import glob
import json
import os
import subprocess

import pytest

from browser import HeadlessChromium
from conftest import MARKUP, UNTRUSTED_FILE, UNTRUSTED_HEADLINE

# The sections a blessed single-model run without GloVe or Tuner has, by element id.
SECTIONS = ("header", "pipeline", "data", "checks", "quarantine", "training", "evaluation", "gated-metrics", "slices",
            "confusion", "mistakes", "test", "demo", "serving-check", "call")


def _minimal_page(**changes) -> dict:
    page = {"summary": {"run_id": "run"}, "settings": {}, "code_version": "textrnn", "generated": "now",
            "timeline": {"rows": [], "total_seconds": None}, "why_not_pushed": None, "failed": [], "checks": []}
    page.update(changes)
    return page


def test_every_value_from_the_data_is_escaped():
    from textrnn.components import report_page

    text = report_page.render(_minimal_page(
        summary={"run_id": MARKUP, "test_accuracy": 0.5, "test_examples": 2,
                 "demo": [{"headline": MARKUP, "probability": 0.9, "from_test_split": True}]},
        quarantine=[{"source": f"/data/{UNTRUSTED_FILE}", "line": 1, "problem": MARKUP, "raw": MARKUP}],
        quarantine_shown=20))
    assert "<script>" not in text and "<img src=x" not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;") == 5
    assert "untrusted &lt;img src=x onerror=alert(3)&gt;.jsonl" in text


def test_run_report_takes_each_output_of_the_mapping_under_its_name():
    """contract.RUN_OUTPUTS is the one node-to-output mapping: create_pipeline wires RunReport from it and
    run_record reads a run by it, so RunReport's inputs are its names (and the baseline's) and no others."""
    from textrnn.components.run_report import RunReport
    from textrnn.contract import BASELINE_OUTPUTS, RUN_OUTPUTS

    assert set(RunReport.SPEC_CLASS.INPUTS) == set(RUN_OUTPUTS) | set(BASELINE_OUTPUTS)
    assert set(RunReport.SPEC_CLASS.OUTPUTS) == {"report", "summary"}


def test_only_a_textrnn_report_is_ever_replaced(tmp_path):
    from textrnn.components import report_page
    from textrnn.errors import TextrnnError

    page = report_page.render(_minimal_page())
    ours, theirs = tmp_path / "report.html", tmp_path / "notes.html"
    report_page.write_page(str(ours), page)
    report_page.write_page(str(ours), page.replace("now", "later"))
    assert "later" in ours.read_text()
    theirs.write_text("<p>my notes</p>")
    with pytest.raises(TextrnnError, match="is not a textrnn report"):
        report_page.write_page(str(theirs), page)
    assert theirs.read_text() == "<p>my notes</p>"


def test_reliability_bins_and_calibration_error():
    from types import SimpleNamespace as Bucket

    from textrnn.components import report_page

    def bucket(low, count, positives, predictions):
        value = lambda v: Bucket(value=v)  # noqa: E731 - TFMA's DoubleValue
        return Bucket(lower_threshold_inclusive=low, num_weighted_examples=value(count),
                      total_weighted_label=value(positives), total_weighted_refined_prediction=value(predictions))

    # 10 examples predicted 0.1 of which 3 positive, 10 predicted 0.85 and 0.95 of which 9 positive.
    bins = report_page.reliability([bucket(-float("inf"), 0, 0, 0), bucket(0.1, 10, 3, 1.0),
                                   bucket(0.85, 5, 4, 4.25), bucket(0.95, 5, 5, 4.75)])
    assert [(b["low"], b["count"]) for b in bins] == [(0.1, 10), (0.8, 5), (0.9, 5)]
    assert report_page.calibration_error(bins) == pytest.approx((10 * 0.2 + 5 * 0.05 + 5 * 0.05) / 20)


def _run_files(output_root):
    summary_path = glob.glob(str(output_root / "summary-*.json"))
    assert len(summary_path) == 1, summary_path
    with open(summary_path[0]) as f:
        summary = json.load(f)
    return summary, summary["report"]


@pytest.fixture(scope="module")
def chromium():
    with HeadlessChromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def report_visit(pipeline_run, chromium, test_artifacts):
    output_root, result = pipeline_run
    summary, report = _run_files(output_root)
    visit = chromium.open(report)
    visit.screenshot(test_artifacts / "report.png")
    return summary, report, visit, result


@pytest.mark.slow
def test_the_run_builds_its_summary_once_in_its_run_report(pipeline_run, tmp_path, monkeypatch):
    """RunReport scores the test split and the demo and saves the summary; what reads the run afterwards (the
    local runner's files, `textrnn report`, RunVerdict's log) rebuilds nothing: a second build fails here."""
    from conftest import E2E_SETTINGS
    from textrnn import output_layout
    from textrnn.components import report_page, run_artifacts, run_record, run_summary
    from textrnn.pipeline.local_runner import save_run_outputs
    from textrnn.pipeline.options import resolve_options

    output_root, result = pipeline_run
    saved, _ = _run_files(output_root)
    record = run_record.latest_run(output_layout.metadata_path(str(output_root)))
    component_summary = run_artifacts.read_summary(record.output("RunReport", "summary").uri)
    assert component_summary["test_accuracy"] == saved["test_accuracy"] and component_summary["demo"] == saved["demo"]

    def built_again(*args, **kwargs):
        raise AssertionError("the summary was built again after the run")

    monkeypatch.setattr(run_summary, "build_summary", built_again)
    options = resolve_options({**E2E_SETTINGS, "output_root": str(tmp_path)}, environ={})
    summary, summary_path, report_path = save_run_outputs(options, record)
    assert {**summary, "report": saved["report"]} == saved
    assert set(summary) == set(component_summary)  # the same keys as the file RunReport wrote
    text, _ = report_page.report_from_metadata(output_layout.metadata_path(str(output_root)))
    assert f"{saved['test_accuracy']:.4f}" in text
    assert run_summary.format_summary(component_summary).splitlines()[-1] in result.stdout


@pytest.mark.slow
def test_the_summary_ends_with_the_report_which_is_the_components_page(report_visit, pipeline_run):
    from textrnn import output_layout
    from textrnn.components import run_record

    summary, report, _, result = report_visit
    assert result.stdout.rstrip().splitlines()[-1] == f"report: {report}"
    assert os.path.basename(report) == f"report-{summary['run_id'].replace(':', '-')}.html"
    record = run_record.latest_run(output_layout.metadata_path(str(pipeline_run[0])))
    assert record.states["RunReport"] == "COMPLETE"
    with open(record.output("RunReport", "report").uri, "rb") as component_page, open(report, "rb") as copy:
        assert component_page.read() == copy.read()


@pytest.mark.slow
def test_the_report_loads_offline_with_no_error_and_every_section(report_visit, test_artifacts):
    _, report, visit, _ = report_visit
    assert visit.errors == []
    assert visit.dialogs == []
    assert [url for url in visit.requests if not url.startswith("data:")] == [visit.url]
    assert visit.broken_images() == []
    assert visit.evaluate("document.images.length") >= 3  # curves, ROC and precision-recall, reliability
    missing = [s for s in SECTIONS if not visit.evaluate(f"document.getElementById({json.dumps(s)}) !== null")]
    assert missing == []
    assert (test_artifacts / "report.png").stat().st_size > 50_000


@pytest.mark.slow
def test_the_reports_numbers_are_the_summary_files(report_visit):
    summary, _, visit, _ = report_visit
    shown = visit.evaluate("Object.fromEntries([...document.querySelectorAll('[data-metric]')]"
                           ".map(e => [e.dataset.metric, e.textContent.trim()]))")
    expected = {name: f"{value:.4f}" for name, value in summary["eval_metrics"].items()
                if name in ("binary_crossentropy", "binary_accuracy", "auc", "precision", "recall", "calibration")}
    assert shown == expected
    assert visit.evaluate("document.getElementById('test-accuracy').textContent") == f"{summary['test_accuracy']:.4f}"
    assert visit.evaluate("document.getElementById('best-epoch').textContent") == f"{summary['training']['best_epoch']:g}"
    version = os.path.basename(summary["pushed_to"])
    assert visit.evaluate("document.getElementById('verdict').textContent") == f"blessed and pushed as version {version}"
    confusion = visit.evaluate("[...document.querySelectorAll('#confusion td')].map(e => +e.textContent)")
    assert sum(confusion) == summary["eval_metrics"]["example_count"]
    text = visit.text()
    for demo in summary["demo"]:
        assert f"{demo['probability']:.3f}\t{demo['headline']}" in text


@pytest.mark.slow
def test_markup_in_headlines_and_file_names_shows_as_text_and_never_runs(report_visit):
    _, report, visit, _ = report_visit
    assert visit.evaluate("document.scripts.length") == 0
    assert visit.evaluate("document.querySelectorAll('[onerror], img[src=\"x\"]').length") == 0
    assert visit.dialogs == []
    text = visit.text()
    # The train split's most frequent headline, in its statistics (TFDV's sketch counts about 5).
    statistics = visit.evaluate("[...document.querySelectorAll('table.statistics')].map(t => t.innerText).join()")
    assert f"{UNTRUSTED_HEADLINE} (" in statistics
    assert UNTRUSTED_FILE in text  # the quarantined record's file
    assert json.dumps({"headline": MARKUP, "is_sarcastic": 7}) in text  # and the record itself
    with open(report) as f:
        assert "<script" not in f.read()


@pytest.mark.slow
def test_report_command_rebuilds_an_older_run_of_a_root_with_two_runs(worse_run, textrnn_bin, chromium, tmp_path):
    first_root, second_root, _ = worse_run
    first_summary, _ = _run_files(first_root)
    second_summary, second_report = _run_files(second_root)
    older = tmp_path / "older.html"
    result = subprocess.run([textrnn_bin, "report", "--output-root", str(second_root), "--run", first_summary["run_id"],
                             "--output", str(older)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(older)
    visit = chromium.open(str(older))
    assert visit.errors == [] and visit.broken_images() == []
    assert visit.evaluate("document.title") == f"textrnn run {first_summary['run_id']}"
    version = os.path.basename(first_summary["pushed_to"])
    assert visit.evaluate("document.getElementById('verdict').textContent") == f"blessed and pushed as version {version}"
    loss = visit.evaluate("document.querySelector('[data-metric=binary_crossentropy]').textContent")
    assert loss == f"{first_summary['eval_metrics']['binary_crossentropy']:.4f}"
    assert "preset\ndefault; changed: " in visit.text()

    # The newest run by default, into the root, replacing the page its run wrote there.
    result = subprocess.run([textrnn_bin, "report", "--output-root", str(second_root)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == second_report
    visit = chromium.open(second_report)
    assert visit.evaluate("document.getElementById('verdict').textContent").startswith("not blessed: ")
    assert visit.evaluate("document.getElementById('pipeline').textContent").count("running") == 0

    notes = tmp_path / "notes.html"
    notes.write_text("mine")
    result = subprocess.run([textrnn_bin, "report", "--output-root", str(second_root), "--output", str(notes)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "is not a textrnn report" in result.stderr
    assert notes.read_text() == "mine"
    result = subprocess.run([textrnn_bin, "report", "--output-root", str(second_root), "--run", "no-such-run"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "no pipeline run no-such-run" in result.stderr
