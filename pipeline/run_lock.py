"""One run at a time per output root and pipeline: a second `textrnn run` fails at once and changes nothing.

Runs on one root share the ML Metadata database, the cache and the push destination, and retention
(`--keep-runs`) deletes old artifacts, which must not happen under a run that may be reading them. The
lock is an flock(2) on `<output root>/metadata/<pipeline>/run.lock`: the kernel releases it when the
holder exits, killed or not, so a crashed run never leaves a stale lock. The file names the holder.

    with exclusive_run(output_root, "textrnn", run_id):
        ...  # run the pipeline, write its summary
"""
import contextlib
import datetime
import fcntl
import json
import os
from typing import Iterator

from textrnn.errors import TextrnnError
from textrnn.output_layout import metadata_path

LOCK_FILE = "run.lock"


class RunInProgressError(TextrnnError, RuntimeError):
    """Another process holds the output root's run lock; the message says which run."""


def new_run_id() -> str:
    """A pipeline run id as LocalDagRunner makes them: the local time, to the microsecond."""
    return datetime.datetime.now().isoformat()


def lock_path(output_root: str, pipeline_name: str) -> str:
    return os.path.join(os.path.dirname(metadata_path(output_root, pipeline_name)), LOCK_FILE)


@contextlib.contextmanager
def exclusive_run(output_root: str, pipeline_name: str, run_id: str) -> Iterator[None]:
    """Holds the run lock of `pipeline_name` on `output_root` for the block; RunInProgressError if another
    process holds it."""
    path = lock_path(output_root, pipeline_name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgressError(
                f"another run of pipeline '{pipeline_name}' is using {output_root} ({_holder(fd)}); nothing was "
                "changed: wait for it to finish, or pass another --output-root") from None
        holder = {"run_id": run_id, "pid": os.getpid(),
                  "started": datetime.datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"run {holder['run_id']}, process {holder['pid']}, started {holder['started']}"
    except (ValueError, KeyError):
        return "a run that has just started"
