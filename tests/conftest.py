"""Shared fixtures: the real dataset (from ../shared/data), small slices of it, and the end-to-end runs that
several modules only read."""
import glob
import json
import tempfile
import os
import pathlib
import shutil
import subprocess

import pytest

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATASET_FILE = SHARED_DATA / "sarcasm" / "Sarcasm_Headlines_Dataset.json"
# The 11,925 words of GloVe Twitter 25d that the book's model uses (the full file is not redistributed here).
TWITTER_25D_SUBSET = SHARED_DATA / "glove" / "glove.twitter.27B.25d.subset11925.txt.gz"


# Modules whose tests share session fixtures run on one pytest-xdist worker (each module is a group of its own
# otherwise, so that its module fixtures are made once).
SHARED_GROUPS = {"test_pipeline_e2e": "end_to_end_run", "test_tfx_cli": "end_to_end_run",
                 "test_run_report": "end_to_end_run"}
# The longest modules first (seconds on 2 cores), so that no worker starts one of them at the end.
LONGEST_FIRST = ("test_kubeflow_image", "test_reliability", "test_pipeline_e2e", "test_tfx_cli", "test_run_report",
                 "test_serving_runtime",
                 "test_serving_check", "test_glove_pipeline", "test_portable_runner", "test_anomalies_gate",
                 "test_kubeflow", "test_tuner", "test_packaging")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(module, module)))
    rank = {module: index for index, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rsplit(".", 1)[-1], len(rank)))


def _throwaway_tfx_packages() -> set:
    """TFX's `tfx_ephemeral` sdists (52 MB each), which it builds in a fresh temp folder for every Beam component
    whose arguments name no package, requirements file or container image."""
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "*", "**", "tfx_ephemeral-*"), recursive=True))


@pytest.fixture(scope="session", autouse=True)
def no_throwaway_tfx_package_is_left_behind():
    """The temp folder before and after all the suite's pipeline runs: none may have packed TFX."""
    before = _throwaway_tfx_packages()
    yield
    left = _throwaway_tfx_packages() - before
    assert not left, f"Beam components built TFX's throwaway package: {sorted(left)[:3]}"


@pytest.fixture(scope="session")
def dataset_file() -> pathlib.Path:
    if not DATASET_FILE.exists():
        pytest.fail(f"the real dataset is expected at {DATASET_FILE} (the repo's ../shared/data)")
    return DATASET_FILE


def write_slice(dataset_file: pathlib.Path, folder: pathlib.Path, count: int) -> pathlib.Path:
    """Writes the first `count` records of the real dataset, as JSON Lines, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(dataset_file, "rb") as f:
        lines = [next(f) for _ in range(count)]
    (folder / "headlines.json").write_bytes(b"".join(lines))
    return folder


@pytest.fixture(scope="session")
def make_slice(dataset_file, tmp_path_factory):
    """A factory: make_slice(count) is a folder holding the first `count` real records."""
    return lambda count: write_slice(dataset_file, tmp_path_factory.mktemp(f"headlines_{count}"), count)


@pytest.fixture(scope="session")
def headlines_1500(make_slice) -> pathlib.Path:
    return make_slice(1500)


@pytest.fixture(scope="session")
def textrnn_bin() -> str:
    """The installed console script, next to the running interpreter."""
    import sys

    path = os.path.join(os.path.dirname(sys.executable), "textrnn")
    assert os.path.exists(path), f"the textrnn console script is not installed at {path}"
    return path


INVALID_RECORDS = [
    b'{"headline": "a label out of range", "is_sarcastic": 3}',
    b'{"headline": "", "is_sarcastic": 0}',
    b'{"headline": "cut short", "is_sa',
]


# Markup that must reach the run report as text (tests/test_run_report.py), in a file whose name is markup too:
# five copies of a headline that TFX's hash puts in the train split (the top value of its headline statistics;
# eval and test stay those of headlines_1500, which the second run scores) and one invalid record.
MARKUP = "<script>alert(1)</script><img src=x onerror=alert(2)>"
UNTRUSTED_FILE = "untrusted <img src=x onerror=alert(3)>.jsonl"
UNTRUSTED_HEADLINE = f"{MARKUP} area man 0"
UNTRUSTED_RECORDS = [{"headline": UNTRUSTED_HEADLINE, "is_sarcastic": 1}] * 5 + [{"headline": MARKUP, "is_sarcastic": 7}]
E2E_QUARANTINED = len(INVALID_RECORDS) + 1


@pytest.fixture(scope="session")
def e2e_input_dir(headlines_1500, tmp_path_factory) -> pathlib.Path:
    """The 1,500 real headlines, three invalid records (quarantined by --skip-invalid) and UNTRUSTED_FILE."""
    input_dir = tmp_path_factory.mktemp("input")
    (input_dir / "headlines.json").write_bytes((headlines_1500 / "headlines.json").read_bytes())
    (input_dir / "more.jsonl").write_bytes(b"\n".join(INVALID_RECORDS) + b"\n")
    (input_dir / UNTRUSTED_FILE).write_text("".join(json.dumps(r) + "\n" for r in UNTRUSTED_RECORDS))
    return input_dir


@pytest.fixture(scope="session")
def test_artifacts() -> pathlib.Path:
    """Where tests keep what people look at after a run (screenshots): $TEXTRNN_TEST_ARTIFACTS, else
    .test-artifacts/ in the checkout."""
    folder = pathlib.Path(os.environ.get("TEXTRNN_TEST_ARTIFACTS") or pathlib.Path(__file__).parent.parent / ".test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The settings of the end-to-end run, as `textrnn run` flags; tests/test_tfx_cli.py gives them as variables.
E2E_SETTINGS = {"skip_invalid": True, "epochs": 3, "vocab_size": 3000, "eval_loss_bound": 1.0}
# The second run: a learning rate too small to learn anything, on the slice without invalid records.
WORSE_SETTINGS = {"epochs": 1, "learning_rate": 1e-6, "vocab_size": 3000, "eval_loss_bound": 1.0}


def as_flags(settings: dict) -> list:
    flags = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


@pytest.fixture(scope="session")
def pipeline_run(e2e_input_dir, textrnn_bin, tmp_path_factory):
    """One `textrnn run` on the end-to-end slice, shared by every test that only reads its outputs."""
    input_dir = e2e_input_dir
    output_root = tmp_path_factory.mktemp("run")
    command = [textrnn_bin, "run", "--input-dir", str(input_dir), "--output-root", str(output_root),
               *as_flags(E2E_SETTINGS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return output_root, result


@pytest.fixture(scope="session")
def worse_run(pipeline_run, headlines_1500, textrnn_bin, tmp_path_factory):
    """A second `textrnn run` with a learning rate too small to learn anything, into a copy of the first run's
    output root: its ML Metadata store (where the Resolver finds the first model, blessed) and its serving
    directory, the state a second run into the same root meets. The copy keeps the first run's checks above
    independent of test order."""
    first_root, _ = pipeline_run
    output_root = tmp_path_factory.mktemp("second_run")
    for folder in ("metadata", "serving_model"):
        shutil.copytree(first_root / folder, output_root / folder)
    command = [textrnn_bin, "run", "--input-dir", str(headlines_1500), "--output-root", str(output_root),
               *as_flags(WORSE_SETTINGS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    return first_root, output_root, result
