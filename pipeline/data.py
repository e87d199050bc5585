"""Fetches the News Headlines Dataset for Sarcasm Detection (v1), verifies it and keeps it in a data folder.

The dataset comes from the first of its public homes that answers, or from a local copy (`--mirror DIR` or
$TEXTRNN_DATA_MIRROR). It is verified by a checksum of its parsed records, so the authors' JSON Lines file
and the JSON-array copy the TensorFlow courses use both pass, and is installed, bytes unchanged, as
`<data dir>/sarcasm/Sarcasm_Headlines_Dataset.json`. The data dir is `--data-dir`, else $TEXTRNN_DATA_DIR,
else `${XDG_CACHE_HOME:-~/.cache}/textrnn/data`.

    folder = ensure_dataset()  # the folder holding the verified dataset file
"""
import dataclasses
import functools
import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import BinaryIO, Callable, Optional, Sequence

from textrnn.errors import TextrnnError
from textrnn.preprocessing import records

DATA_DIR_ENV = "TEXTRNN_DATA_DIR"
MIRROR_ENV = "TEXTRNN_DATA_MIRROR"
DATASET_SUBDIR = "sarcasm"
DATASET_FILE = "Sarcasm_Headlines_Dataset.json"
# Names a mirror folder may hold the dataset under, in either layout; the first found is used.
MIRROR_FILES = (DATASET_FILE, "sarcasm.json")
URLS = (
    "https://raw.githubusercontent.com/rishabhmisra/News-Headlines-Dataset-For-Sarcasm-Detection/master/"
    "Sarcasm_Headlines_Dataset.json",
    "https://storage.googleapis.com/tensorflow-1-public/course3/sarcasm.json",
    "https://storage.googleapis.com/learning-datasets/sarcasm.json",
)
TIMEOUT_S = 30
_CHUNK = 64 * 1024
# Partial files must not match the ExampleGen's `*.json*` input pattern.
_PARTIAL_PREFIX, _PARTIAL_SUFFIX = ".fetch-", ".part"


class DataFetchError(TextrnnError):
    """The dataset could not be fetched or verified; the message is meant for the user, without a traceback."""


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What identifies the dataset independently of its layout: counts and a checksum of the sorted records."""

    records: int
    sarcastic: int
    sha256: str

    def __str__(self) -> str:
        return f"{self.records} records ({self.sarcastic} sarcastic), record sha256 {self.sha256}"


EXPECTED = Fingerprint(
    records=26709, sarcastic=11724, sha256="572ac0110648f4bf58a6ad799e9eaddd5d123a3c4d2dd64b4ce7c37763184842"
)


def fingerprint(path: str) -> Fingerprint:
    """The Fingerprint of a headlines file in either layout; DataFetchError if a record is invalid."""
    try:
        parsed = list(records.parse_file(path))
    except records.InvalidRecordError as error:
        parsed = [error.invalid]
    invalid = [record for record in parsed if isinstance(record, records.InvalidRecord)]
    if invalid:
        raise DataFetchError(f"an invalid record at line {invalid[0].line} ({invalid[0].problem})")
    lines = sorted(json.dumps([record.headline, record.is_sarcastic], ensure_ascii=False) for record in parsed)
    checksum = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return Fingerprint(len(parsed), sum(record.is_sarcastic for record in parsed), checksum)


def verify(path: str, source: Optional[str] = None) -> None:
    """Raises DataFetchError, saying expected and got, unless `path` holds the expected dataset."""
    source = source or path
    try:
        got = fingerprint(path)
    except DataFetchError as error:
        raise DataFetchError(f"{source} is not the expected dataset: expected {EXPECTED}; got {error}") from None
    if got != EXPECTED:
        raise DataFetchError(f"{source} is not the expected dataset: expected {EXPECTED}; got {got}")


def data_root(data_dir: Optional[str] = None) -> str:
    """The data folder: `data_dir`, else $TEXTRNN_DATA_DIR, else the textrnn folder in the user's cache."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    root = data_dir or os.environ.get(DATA_DIR_ENV) or os.path.join(cache, "textrnn", "data")
    return os.path.abspath(os.path.expanduser(root))


def dataset_dir(data_dir: Optional[str] = None) -> str:
    """The folder that holds (or will hold) the dataset file, inside the data folder."""
    return os.path.join(data_root(data_dir), DATASET_SUBDIR)


def ensure_dataset(
    data_dir: Optional[str] = None, mirror: Optional[str] = None, urls: Sequence[str] = URLS
) -> str:
    """Returns the folder holding the verified dataset, first copying it from a mirror or downloading it if needed.

    `mirror` (else $TEXTRNN_DATA_MIRROR) is a folder with a local copy; without one, `urls` are tried in order.
    Raises DataFetchError when no verified copy can be had.
    """
    folder = dataset_dir(data_dir)
    target = os.path.join(folder, DATASET_FILE)
    if _verified(target):
        _say(f"dataset already present: {target}")
        return folder
    os.makedirs(folder, exist_ok=True)
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror:
        _install_from_mirror(mirror, target)
    else:
        _install_from_urls(urls, target)
    return folder


def _verified(target: str) -> bool:
    if not os.path.exists(target):
        return False
    try:
        verify(target)
    except DataFetchError as error:
        _say(f"fetching the dataset again: {error}")
        return False
    return True


def _install_from_mirror(mirror: str, target: str) -> None:
    if not os.path.isdir(mirror):
        raise DataFetchError(f"the mirror {mirror} is not a folder")
    found = [os.path.join(mirror, name) for name in MIRROR_FILES if os.path.isfile(os.path.join(mirror, name))]
    if not found:
        raise DataFetchError(f"the mirror folder {mirror} holds neither {' nor '.join(MIRROR_FILES)}")

    def copy(out: BinaryIO) -> None:
        with open(found[0], "rb") as f:
            shutil.copyfileobj(f, out)

    _install(target, copy, source=found[0])
    _say(f"copied {found[0]} (verified) to {target}")


def _install_from_urls(urls: Sequence[str], target: str) -> None:
    failures = []
    for url in urls:
        try:
            _install(target, functools.partial(_download, url), source=url)
        except (OSError, http.client.HTTPException, ValueError, DataFetchError) as error:
            failures.append(f"  {url}: {_reason(error)}")
            continue
        _say(f"downloaded {url} (verified) to {target}")
        return
    raise DataFetchError(
        "could not download the sarcasm headlines dataset:\n" + "\n".join(failures) + "\n"
        f"To use a local copy instead, pass --mirror DIR or set {MIRROR_ENV}=DIR, where DIR holds "
        f"{' or '.join(MIRROR_FILES)} (e.g. ../shared/data/sarcasm)."
    )


def _install(target: str, write: Callable[[BinaryIO], None], source: str) -> None:
    """Writes a file with `write` beside `target`, verifies it, then moves it into place in one step."""
    fd, partial = tempfile.mkstemp(dir=os.path.dirname(target), prefix=_PARTIAL_PREFIX, suffix=_PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        verify(partial, source)
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _download(url: str, out: BinaryIO) -> None:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        progress = _Progress(url, total)
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            progress.update(len(chunk))
        progress.finish()
    if total and progress.received < total:
        raise OSError(f"incomplete download: {progress.received} of {total} bytes")


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


class _Progress:
    """Shows the bytes received so far (and the total, when known) on stderr, about once a second."""

    def __init__(self, url: str, total: Optional[int], interval_s: float = 1.0):
        self.total, self.received, self.interval_s = total, 0, interval_s
        self.shown_at = time.monotonic()
        self.tty = sys.stderr.isatty()
        _say(f"downloading {url}")

    def update(self, count: int) -> None:
        self.received += count
        if time.monotonic() - self.shown_at >= self.interval_s:
            self._show()

    def finish(self) -> None:
        self._show(last=True)

    def _show(self, last: bool = False) -> None:
        line = f"  {self.received / 1e6:.1f}" + (f" / {self.total / 1e6:.1f}" if self.total else "") + " MB"
        # A terminal gets one line rewritten in place; a log gets one line per update.
        sys.stderr.write(f"\r{line}" + ("\n" if last else "") if self.tty else line + "\n")
        sys.stderr.flush()
        self.shown_at = time.monotonic()


def _say(message: str) -> None:
    print(message, file=sys.stderr)
