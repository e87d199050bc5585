"""Shared fixtures: the real dataset (from ../shared/data) and small slices of it."""
import os
import pathlib

import pytest

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATASET_FILE = SHARED_DATA / "sarcasm" / "Sarcasm_Headlines_Dataset.json"
# The 11,925 words of GloVe Twitter 25d that the book's model uses (the full file is not redistributed here).
TWITTER_25D_SUBSET = SHARED_DATA / "glove" / "glove.twitter.27B.25d.subset11925.txt.gz"


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
