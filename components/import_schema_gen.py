"""TFX's ImportSchemaGen whose cache key covers the schema file's content, not only its path.

The stock component's one setting is the file's path, so with caching on, an edited schema under the same
path would be "reused" as the old one and the run validated against stale bounds. Here the SHA-256 of the
file, read when the pipeline is built, is a second execution property (empty when the file exists only
where the components run, as the image's copy does for a Kubeflow spec compiled elsewhere, which runs
without TFX's cache).

Example:

>>> from textrnn.components.import_schema_gen import ImportSchemaGen
>>> import textrnn.pipeline, os
>>> schema_gen = ImportSchemaGen(os.path.join(textrnn.pipeline.__path__[0], "schema", "schema.pbtxt"))
>>> schema_gen.id, len(schema_gen.exec_properties["schema_sha256"])
('ImportSchemaGen', 64)
"""
import hashlib

import tensorflow as tf
from tfx import types
from tfx import v1 as tfx
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter

SCHEMA_SHA256_KEY = "schema_sha256"


class ImportSchemaGenSpec(standard_component_specs.ImportSchemaGenSpec):
    PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
                  SCHEMA_SHA256_KEY: ExecutionParameter(type=str)}


class ImportSchemaGen(tfx.components.ImportSchemaGen):
    """tfx.components.ImportSchemaGen (same output and executor) with the file's hash among its properties."""

    SPEC_CLASS = ImportSchemaGenSpec

    def __init__(self, schema_file: str):
        sha256 = ""
        if tf.io.gfile.exists(schema_file):
            with tf.io.gfile.GFile(schema_file, "rb") as f:
                sha256 = hashlib.sha256(f.read()).hexdigest()
        spec = ImportSchemaGenSpec(schema_file=schema_file, schema_sha256=sha256,
                                   schema=types.Channel(type=tfx.types.standard_artifacts.Schema))
        super(tfx.components.ImportSchemaGen, self).__init__(spec=spec)  # pylint: disable=bad-super-call
