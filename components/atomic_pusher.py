"""A Pusher whose pushes are atomic: a model server watching the serving directory never sees half a version.

TFX's stock Pusher copies the SavedModel file by file straight into `<base_directory>/<version>`, so a
watcher (TF Serving polls the directory) can find a version whose variables are still being written. This
one copies into a hidden folder beside the versions, `<base_directory>/.tmp-<version>-<random>`, on the
same filesystem, and then renames it to `<base_directory>/<version>` in one `os.rename`. TF Serving only
loads folders whose names are numbers, so the temporary folder is invisible to it; a push that fails or is
killed part-way leaves at most that hidden folder, which a later push clears once it is an hour old.
Earlier versions are never touched. Versions are Unix timestamps, bumped past the newest existing version
so they always increase (two pushes in one second still get two versions).
"""
import os
import shutil
import time
import uuid
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx import v1 as tfx
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 3600


def versions(base_directory: str) -> List[int]:
    """The model versions in a serving directory (its all-digit folder names), oldest first."""
    if not os.path.isdir(base_directory):
        return []
    return sorted(int(name) for name in os.listdir(base_directory)
                  if name.isdigit() and os.path.isdir(os.path.join(base_directory, name)))


def next_version(base_directory: str, now: Optional[float] = None) -> int:
    """The current Unix time, or one more than the newest existing version if that is not older."""
    existing = versions(base_directory)
    version = int(time.time() if now is None else now)
    return max(version, existing[-1] + 1) if existing else version


def _copy_file(source: str, destination: str) -> None:
    """Copies one file (the unit a test interrupts)."""
    shutil.copy2(source, destination)


def _copy_model(source: str, destination: str) -> None:
    """Copies a SavedModel folder, `saved_model.pb` last, as TF Serving and TFX expect."""
    os.makedirs(destination)
    for root, dirs, files in os.walk(source):
        dirs.sort()
        relative = os.path.relpath(root, source)
        for name in dirs:
            os.makedirs(os.path.join(destination, relative, name))
        for name in sorted(files):
            if (relative, name) != (".", "saved_model.pb"):
                _copy_file(os.path.join(root, name), os.path.join(destination, relative, name))
    if os.path.exists(os.path.join(source, "saved_model.pb")):
        _copy_file(os.path.join(source, "saved_model.pb"), os.path.join(destination, "saved_model.pb"))


def _remove_stale_temporaries(base_directory: str) -> None:
    """Removes hidden folders of pushes that died more than an hour ago."""
    for name in os.listdir(base_directory):
        path = os.path.join(base_directory, name)
        if name.startswith(TEMP_PREFIX) and time.time() - os.path.getmtime(path) > STALE_TEMP_SECONDS:
            logging.info("removing %s, left by an interrupted push", path)
            shutil.rmtree(path, ignore_errors=True)


def push_atomically(model_path: str, base_directory: str) -> str:
    """Copies the SavedModel at `model_path` to a new version under `base_directory`; returns its path.

    The version appears all at once (a rename) or not at all; on any failure the partial copy is removed.
    """
    os.makedirs(base_directory, exist_ok=True)
    _remove_stale_temporaries(base_directory)
    version = next_version(base_directory)
    temporary = os.path.join(base_directory, f"{TEMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
        _copy_model(model_path, temporary)
        while True:
            destination = os.path.join(base_directory, str(version))
            try:
                # rename(2) of a folder onto a name that does not exist is atomic within one filesystem; onto
                # an existing non-empty folder (a concurrent push took this version) it fails, and we retry.
                os.rename(temporary, destination)
                break
            except OSError:
                if not os.path.exists(destination):
                    raise
                version += 1
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    logging.info("model pushed atomically to %s", destination)
    return destination


class Executor(pusher_executor.Executor):
    """The stock Pusher executor with an atomic copy for filesystem destinations on local disk.

    Destinations with a URL scheme (gs://, s3://), where folders cannot be renamed atomically, fall back to
    the stock behaviour.
    """

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        push_destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], push_destination)
        if push_destination.WhichOneof("destination") != "filesystem" or "://" in push_destination.filesystem.base_directory:
            return super().Do(input_dict, output_dict, exec_properties)

        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        serving_path = push_atomically(model_path, push_destination.filesystem.base_directory)
        io_utils.copy_dir(model_path, model_push.uri)  # the archived copy, as the stock Pusher keeps
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=os.path.basename(serving_path))


class AtomicPusher(tfx.components.Pusher):
    """tfx.components.Pusher (same inputs, outputs and properties) with the atomic executor above.

    Example:

    >>> from tfx import v1 as tfx
    >>> from textrnn.components.atomic_pusher import AtomicPusher
    >>> model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
    >>> blessing = tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing)
    >>> destination = tfx.proto.PushDestination(
    ...     filesystem=tfx.proto.PushDestination.Filesystem(base_directory="/srv/models/textrnn"))
    >>> pusher = AtomicPusher(model=model, model_blessing=blessing, push_destination=destination)
    >>> sorted(pusher.outputs)
    ['pushed_model']
    """

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
