"""Where a run's outputs go under an output root, and the versions in a push destination.

    <output root>/pipelines/<pipeline name>/       artifacts (the pipeline root)
    <output root>/metadata/<pipeline name>/metadata.db
    <output root>/serving_model/<pipeline name>/<version>/   what the Pusher pushed, TF Serving's model base path

Example:

>>> from textrnn.output_layout import serving_model_dir
>>> serving_model_dir("/srv/textrnn_output", "textrnn")
'/srv/textrnn_output/serving_model/textrnn'
"""
import os
from typing import List

from textrnn.contract import DEFAULT_PIPELINE_NAME


def pipeline_root(output_root: str, pipeline_name: str = DEFAULT_PIPELINE_NAME) -> str:
    return os.path.join(output_root, "pipelines", pipeline_name)


def metadata_path(output_root: str, pipeline_name: str = DEFAULT_PIPELINE_NAME) -> str:
    return os.path.join(output_root, "metadata", pipeline_name, "metadata.db")


def serving_model_dir(output_root: str, pipeline_name: str = DEFAULT_PIPELINE_NAME) -> str:
    return os.path.join(output_root, "serving_model", pipeline_name)


def pushed_versions(serving_dir: str) -> List[int]:
    """The numbered versions in a push destination that hold a SavedModel, oldest first; the destination may be
    a URL (gs://, s3://), read through TensorFlow's filesystems."""
    if "://" in serving_dir:
        import tensorflow as tf

        isdir, listdir, isfile = tf.io.gfile.isdir, tf.io.gfile.listdir, tf.io.gfile.exists
    else:
        isdir, listdir, isfile = os.path.isdir, os.listdir, os.path.isfile
    if not isdir(serving_dir):
        return []
    names = (name.rstrip("/") for name in listdir(serving_dir))  # gfile lists GCS folders as "name/"
    return sorted(int(name) for name in names
                  if name.isdigit() and isfile(os.path.join(serving_dir, name, "saved_model.pb")))
