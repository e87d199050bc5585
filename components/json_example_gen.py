"""An ExampleGen for headline records in JSON files (JSON Lines or one JSON array per file).

Built as TFX builds its Avro and Parquet ExampleGens: an executor subclassing BaseExampleGenExecutor whose
Beam PTransform turns the input files into tf.Examples, run by a FileBasedExampleGen. Each example has
exactly two features, `headline` (bytes) and `is_sarcastic` (int64); other keys are not copied.

Records are read and checked by `preprocessing.records` (a leading UTF-8 byte-order mark is ignored). Invalid
records (malformed JSON line, missing key, label other than 0/1, empty headline, bytes that are not UTF-8) fail
the component by default with an `InvalidRecordError` naming the file, the line and the problem. With
`skip_invalid=True` they are written instead, one JSON object {source, line, problem, raw} a line, to
`<examples.uri>/quarantine/invalid_records.jsonl`; their count is logged and set as the int custom property
`quarantined_records` of the output Examples artifact (0 when none), next to `records`, the number of valid
records written. A file that cannot be read to its end (a malformed JSON array) always fails the component,
since the records after the break are unknown. Input files that hold no valid record at all (empty, `[]`, or
every record quarantined) fail it with a `NoRecordsError` naming the folder and what each file held.

    example_gen = JsonExampleGen(input_base=data_dir, skip_invalid=True)
"""
import dataclasses
import json
import os
from typing import Any, Dict, Iterator, List, Literal, Optional, Union

import apache_beam as beam
import tensorflow as tf
from absl import logging
from google.protobuf import any_pb2, struct_pb2
from tfx import types
from tfx import v1 as tfx
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from textrnn.errors import TextrnnError
from textrnn.code_version import source_fingerprint
from textrnn.preprocessing import records

# The key, inside the ExampleGen's custom_config, of the flag that quarantines invalid records.
SKIP_INVALID_KEY = "skip_invalid"
# The int custom properties of the output Examples artifact that count written and quarantined records.
RECORDS_PROPERTY = "records"
QUARANTINED_RECORDS_PROPERTY = "quarantined_records"
# Where invalid records go, inside the output Examples artifact's directory.
QUARANTINE_DIR = "quarantine"
QUARANTINE_FILE = "invalid_records.jsonl"
# Files that could not be read to their end; removed when there are none.
UNREADABLE_FILE = "unreadable_files.jsonl"
# How many valid and invalid records each input file held; Do reads it, then removes it.
_FILE_COUNTS_FILE = "_file_counts.jsonl"

# The default input split: every .json and .jsonl file in input_base (a glob has no alternation, so the
# pattern is wider and the executor keeps only these suffixes).
INPUT_PATTERN = "*.json*"
JSON_SUFFIXES = (".json", ".jsonl")

# Private exec property through which Do tells the PTransform where to write the quarantine.
_QUARANTINE_DIR_KEY = "_quarantine_dir"
_INVALID_TAG = "invalid"
_UNREADABLE_TAG = "unreadable"
_FILE_COUNTS_TAG = "file_counts"


class NoRecordsError(TextrnnError, ValueError):
    """The input files hold no valid record (or there are none): there is nothing to make examples of."""


def make_custom_config(skip_invalid: bool) -> tfx.proto.CustomConfig:
    """The ExampleGen custom_config that carries `skip_invalid` (a Struct packed into its Any), and a hash of
    the parsing code, so that TFX's cache does not reuse examples an older parser made."""
    struct = struct_pb2.Struct()
    struct.update({SKIP_INVALID_KEY: bool(skip_invalid), "source": source_fingerprint(__name__, records.__name__)})
    packed = any_pb2.Any()
    packed.Pack(struct)
    return tfx.proto.CustomConfig(custom_config=packed)


def skip_invalid_from(exec_properties: Dict[str, Any]) -> bool:
    """Reads `skip_invalid` from the custom_config exec property (JSON text, as executors receive it)."""
    value = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not value:
        return False
    if isinstance(value, str):
        value = proto_utils.json_to_proto(value, tfx.proto.CustomConfig())
    struct = struct_pb2.Struct()
    if not value.HasField("custom_config") or not value.custom_config.Unpack(struct):
        return False
    return bool(struct.fields[SKIP_INVALID_KEY].bool_value) if SKIP_INVALID_KEY in struct.fields else False


def quarantine_path(examples_uri: str) -> str:
    """The quarantine file of an Examples artifact written by this ExampleGen."""
    return os.path.join(examples_uri, QUARANTINE_DIR, QUARANTINE_FILE)


def read_quarantine(examples_uri: str) -> List[records.InvalidRecord]:
    """The quarantined records of an Examples artifact, in file and line order ([] when there is none)."""
    return _read_invalid(quarantine_path(examples_uri))


def record_to_example(record: records.Record) -> tf.train.Example:
    """The tf.Example of a valid record: exactly `headline` (bytes) and `is_sarcastic` (int64)."""
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                records.TEXT_KEY: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[record.headline.encode("utf-8")])
                ),
                records.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[record.is_sarcastic])),
            }
        )
    )


def _invalid_to_json(invalid: records.InvalidRecord) -> str:
    return json.dumps(dataclasses.asdict(invalid), ensure_ascii=False)


def _read_invalid(path: str) -> List[records.InvalidRecord]:
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path, "r") as f:
        found = [records.InvalidRecord(**json.loads(line)) for line in f if line.strip()]
    return sorted(found, key=lambda r: (r.source, r.line))


def _write_invalid(path: str, invalid: List[records.InvalidRecord]) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(_invalid_to_json(r) + "\n" for r in invalid))


def list_input_files(input_base: str, split_pattern: str) -> List[str]:
    """The .json and .jsonl files that `split_pattern` matches in `input_base`, sorted."""
    matched = sorted(tf.io.gfile.glob(os.path.join(input_base, split_pattern)))
    files = [path for path in matched if path.endswith(JSON_SUFFIXES)]
    for path in sorted(set(matched) - set(files)):
        logging.warning("JsonExampleGen: ignoring %s (not a .json or .jsonl file)", path)
    if not files:
        raise NoRecordsError(f"no .json or .jsonl files match {split_pattern!r} in {input_base}")
    return files


def _parse_file(
    path: str,
) -> Iterator[
    Union[
        tf.train.Example,
        beam.pvalue.TaggedOutput[Literal["invalid"], str],
        beam.pvalue.TaggedOutput[Literal["unreadable"], str],
        beam.pvalue.TaggedOutput[Literal["file_counts"], str],
    ]
]:
    """Examples of a file's valid records; its invalid records, a break that ends reading, and how many valid and
    invalid records it held, as tagged JSON."""
    valid = invalid = 0
    try:
        for item in records.parse_file(path):
            if isinstance(item, records.Record):
                valid += 1
                yield record_to_example(item)
            else:
                invalid += 1
                yield beam.pvalue.TaggedOutput(_INVALID_TAG, _invalid_to_json(item))
    except records.InvalidRecordError as e:
        yield beam.pvalue.TaggedOutput(_UNREADABLE_TAG, _invalid_to_json(e.invalid))
    yield beam.pvalue.TaggedOutput(
        _FILE_COUNTS_TAG, json.dumps({"source": path, "valid": valid, "invalid": invalid}, ensure_ascii=False)
    )


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _JsonToExample(  # pylint: disable=invalid-name
    pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    """Reads the JSON files of one input split into tf.Examples; writes invalid records aside.

    Args:
      pipeline: beam pipeline.
      exec_properties: A dict of execution properties.
        - input_base: input dir that contains the JSON files.
        - _quarantine_dir: where the invalid records are written (set by Executor.Do).
      split_pattern: Split.pattern in Input config, glob relative file pattern that maps to input files with
        root directory given by input_base.

    Returns:
      PCollection of TF examples.
    """
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    quarantine_dir = exec_properties[_QUARANTINE_DIR_KEY]
    files = list_input_files(input_base, split_pattern)
    logging.info("Processing input JSON data %s to TFExample.", files)

    parsed = (
        pipeline
        | "ListFiles" >> beam.Create(files)
        # Files are small: each is read whole, which gives every record its line number.
        | "Reshuffle" >> beam.Reshuffle()
        | "ParseFiles"
        >> beam.FlatMap(_parse_file).with_outputs(_INVALID_TAG, _UNREADABLE_TAG, _FILE_COUNTS_TAG, main="examples")
    )
    for tag, name in (
        (_INVALID_TAG, QUARANTINE_FILE),
        (_UNREADABLE_TAG, UNREADABLE_FILE),
        (_FILE_COUNTS_TAG, _FILE_COUNTS_FILE),
    ):
        _ = parsed[tag] | f"Write[{tag}]" >> beam.io.WriteToText(
            os.path.join(quarantine_dir, name), shard_name_template=""
        )
    return parsed["examples"]


class Executor(BaseExampleGenExecutor):
    """TFX ExampleGen executor for headline records in JSON Lines or JSON-array files.

    Do runs the Beam pipeline of BaseExampleGenExecutor, then checks the invalid records it wrote aside:
    raises InvalidRecordError for the first one (by file and line) unless custom_config has skip_invalid,
    raises NoRecordsError when no valid record was written, and sets the `records` and `quarantined_records`
    custom properties of the output Examples artifact.
    """

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        """Returns PTransform for JSON headline records to TF examples."""
        return _JsonToExample

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        input_config = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], tfx.proto.Input()
        )
        if len(input_config.splits) != 1:
            # Every input split would write the same quarantine file.
            raise ValueError("JsonExampleGen reads one input split; split its output with output_config")
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        skip_invalid = skip_invalid_from(exec_properties)
        quarantine_dir = os.path.join(examples.uri, QUARANTINE_DIR)
        tf.io.gfile.makedirs(quarantine_dir)
        exec_properties = dict(exec_properties, **{_QUARANTINE_DIR_KEY: quarantine_dir})

        super().Do(input_dict, output_dict, exec_properties)

        file_counts = _read_file_counts(os.path.join(quarantine_dir, _FILE_COUNTS_FILE))
        unreadable_path = os.path.join(quarantine_dir, UNREADABLE_FILE)
        unreadable = _read_invalid(unreadable_path)
        if unreadable:
            logging.error("JsonExampleGen: %d file(s) could not be read to their end", len(unreadable))
            raise records.InvalidRecordError(unreadable[0])
        if tf.io.gfile.exists(unreadable_path):
            tf.io.gfile.remove(unreadable_path)

        path = os.path.join(quarantine_dir, QUARANTINE_FILE)
        invalid = _read_invalid(path)
        _write_invalid(path, invalid)  # sorted by file and line, and present (empty) when there are none
        if invalid and not skip_invalid:
            logging.error("JsonExampleGen: %d invalid record(s), all listed in %s", len(invalid), path)
            raise records.InvalidRecordError(invalid[0])
        if invalid:
            logging.warning("JsonExampleGen: quarantined %d invalid record(s) in %s", len(invalid), path)
        else:
            logging.info("JsonExampleGen: no invalid records")
        valid = sum(counts["valid"] for counts in file_counts)
        if not valid:
            input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
            raise NoRecordsError(_no_records_message(input_base, file_counts, invalid))
        examples.set_int_custom_property(RECORDS_PROPERTY, valid)
        examples.set_int_custom_property(QUARANTINED_RECORDS_PROPERTY, len(invalid))


def _read_file_counts(path: str) -> List[Dict[str, Any]]:
    """The per-file counts the Beam pipeline wrote, sorted by file; removes the file, which is not an output."""
    with tf.io.gfile.GFile(path, "r") as f:
        counts = [json.loads(line) for line in f if line.strip()]
    tf.io.gfile.remove(path)
    return sorted(counts, key=lambda c: c["source"])


def _no_records_message(
    input_base: str, file_counts: List[Dict[str, Any]], invalid: List[records.InvalidRecord]
) -> str:
    held = []
    for counts in file_counts:
        name = os.path.relpath(counts["source"], input_base)
        quarantined = f", {counts['invalid']} quarantined as invalid" if counts["invalid"] else ""
        held.append(f"{name}: {counts['valid']} records{quarantined}")
    # A failed run's outputs are removed, quarantine included: the message shows the first problem itself.
    first_invalid = f"; the first invalid one: {invalid[0].message()}" if invalid else ""
    return f"no valid headline records in {input_base} ({'; '.join(held)}){first_invalid}"


def default_output_config() -> tfx.proto.Output:
    """train/eval/test 80/10/10 by a hash of the headline, so repeated headlines share one split."""
    return tfx.proto.Output(
        split_config=tfx.proto.SplitConfig(
            splits=[
                tfx.proto.SplitConfig.Split(name="train", hash_buckets=8),
                tfx.proto.SplitConfig.Split(name="eval", hash_buckets=1),
                tfx.proto.SplitConfig.Split(name="test", hash_buckets=1),
            ],
            partition_feature_name=records.TEXT_KEY,
        )
    )


def default_input_config() -> tfx.proto.Input:
    """One input split: every .json and .jsonl file in input_base."""
    return tfx.proto.Input(splits=[tfx.proto.Input.Split(name="single_split", pattern=INPUT_PATTERN)])


class JsonExampleGen(FileBasedExampleGen):
    """FileBasedExampleGen for headline JSON files, with the JSON executor and textrnn's defaults.

    Its id defaults to "JsonExampleGen". Outputs `examples`: train/eval/test splits (80/10/10 by a hash of
    the headline unless `output_config` says otherwise) of tf.Examples with `headline` and `is_sarcastic`.

    Example:

    >>> from textrnn.components.json_example_gen import JsonExampleGen
    >>> example_gen = JsonExampleGen(input_base="/data/headlines", skip_invalid=True)
    >>> example_gen.id, sorted(example_gen.outputs)
    ('JsonExampleGen', ['examples'])
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        input_base: str,
        skip_invalid: bool = False,
        input_config: Optional[tfx.proto.Input] = None,
        output_config: Optional[tfx.proto.Output] = None,
        range_config: Optional[tfx.proto.RangeConfig] = None,
    ):
        """Args:
        input_base: a folder of JSON Lines or JSON-array files of headline records.
        skip_invalid: quarantine invalid records (see the module doc) instead of failing on the first one.
        input_config: the one input split; default all *.json and *.jsonl files in input_base (the executor
          keeps only files ending in .json or .jsonl from what the pattern matches).
        output_config: output splits; default train/eval/test 80/10/10 partitioned on the headline.
        range_config: optional span range, as for any FileBasedExampleGen.
        """
        super().__init__(
            input_base=input_base,
            input_config=input_config or default_input_config(),
            output_config=output_config or default_output_config(),
            custom_config=make_custom_config(skip_invalid),
            range_config=range_config,
        )
