"""JsonExampleGen run by LocalDagRunner (real TFX, Beam and MLMD) on slices of the real headlines dataset."""
import glob
import json
import os
import pathlib
from collections import Counter

import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from tfx import v1 as tfx
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from textrnn.components import json_example_gen
from textrnn.components.json_example_gen import JsonExampleGen
from textrnn.pipeline import options

pytestmark = pytest.mark.slow

DATASET_FILE = pathlib.Path(__file__).resolve().parents[2] / "shared/data/sarcasm" / "Sarcasm_Headlines_Dataset.json"
# The pipeline's own Beam arguments, which name the installed package (so TFX packs no copy of itself).
IN_MEMORY = options.beam_pipeline_args("in_memory")
MULTI_PROCESSING = options.beam_pipeline_args("multi_processing", workers=2)
SPLITS = ("train", "eval", "test")


@pytest.fixture(scope="module")
def real_lines():
    """The real dataset's lines (JSON Lines with CRLF), as bytes."""
    if not DATASET_FILE.exists():
        pytest.fail(f"the real dataset is expected at {DATASET_FILE} (the repo's ../shared/data)")
    with open(DATASET_FILE, "rb") as f:
        return f.read().split(b"\n")


def write_lines(path: pathlib.Path, lines) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line.rstrip(b"\r\n") + b"\r\n" for line in lines))
    return path


def write_array(path: pathlib.Path, lines) -> pathlib.Path:
    """The same records as one JSON array, one object a line (the layout the courses download)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    objects = [json.dumps(json.loads(line)) for line in lines]
    path.write_text("[\n" + ",\n".join(objects) + "\n]\n", encoding="utf-8")
    return path


def run_example_gen(input_dir, root: pathlib.Path, skip_invalid=False, beam_args=IN_MEMORY, **kwargs):
    """Runs a pipeline of just the ExampleGen; returns its Examples artifact, as recorded in MLMD."""
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(str(root / "metadata.db"))
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="json_example_gen_test",
        pipeline_root=str(root / "pipeline"),
        components=[JsonExampleGen(input_base=str(input_dir), skip_invalid=skip_invalid, **kwargs)],
        metadata_connection_config=metadata,
        beam_pipeline_args=beam_args,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    [examples] = metadata_store.MetadataStore(metadata).get_artifacts_by_type("Examples")
    return examples


def read_split(examples, split: str):
    files = sorted(glob.glob(os.path.join(examples.uri, f"Split-{split}", "*")))
    assert files, f"no files in split {split} of {examples.uri}"
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def read_splits(examples):
    """{split: sorted [(headline, label)]}, checking every example has exactly the two features."""
    result = {}
    for split in SPLITS:
        pairs = []
        for example in read_split(examples, split):
            feature = example.features.feature
            assert set(feature) == {"headline", "is_sarcastic"}
            assert feature["headline"].WhichOneof("kind") == "bytes_list"
            assert feature["is_sarcastic"].WhichOneof("kind") == "int64_list"
            [headline], [label] = feature["headline"].bytes_list.value, feature["is_sarcastic"].int64_list.value
            pairs.append((headline.decode("utf-8"), label))
        result[split] = sorted(pairs)
    return result


def expected_pairs(lines):
    return Counter((json.loads(line)["headline"], json.loads(line)["is_sarcastic"]) for line in lines)


def quarantined(examples) -> int:
    assert "quarantined_records" in examples.custom_properties, dict(examples.custom_properties)
    return examples.custom_properties["quarantined_records"].int_value


def written(examples) -> int:
    assert "records" in examples.custom_properties, dict(examples.custom_properties)
    return examples.custom_properties["records"].int_value


def read_quarantine_file(examples):
    """The quarantine file's records as dicts, by file and line; reading it as UTF-8 checks it is UTF-8."""
    path = pathlib.Path(json_example_gen.quarantine_path(examples.uri))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(lines, key=lambda r: (r["source"], r["line"]))


def raised(failure, error_type):
    """The `error_type` that a pipeline run raised, directly or as the cause of what TFX or Beam raised."""
    error = failure.value
    while error is not None and not isinstance(error, error_type):
        error = error.__cause__ or error.__context__
    assert error is not None, f"no {error_type.__name__} in {failure.value!r}"
    return error


# ---------------------------------------------------------------- valid input, both layouts


REPEATED = slice(1000, 1020)  # real headlines that the valid input repeats
COPIES = 4


def flip_label(line: bytes) -> bytes:
    record = json.loads(line)
    record["is_sarcastic"] = 1 - record["is_sarcastic"]
    return json.dumps(record).encode()


@pytest.fixture(scope="module")
def valid_lines(real_lines):
    """1,000 real records, plus 20 other real headlines 4 times each, spread through the file.

    Every other copy has the opposite label, so the copies differ as examples and only partitioning on the
    headline keeps them together (with 20 headlines, chance would put all copies together about 1 in 4,000).
    """
    lines = real_lines[:1000]
    for copy in range(COPIES):
        for i, line in enumerate(real_lines[REPEATED]):
            lines.insert(copy * 250 + i * 12, flip_label(line) if copy % 2 else line)
    return lines


@pytest.fixture(scope="module")
def layouts(valid_lines, tmp_path_factory):
    """The Examples artifacts of the same records given as JSON Lines and as a JSON array."""
    base = tmp_path_factory.mktemp("layouts")
    jsonl = write_lines(base / "jsonl_in" / "Sarcasm_Headlines_Dataset.json", valid_lines).parent
    array = write_array(base / "array_in" / "headlines.json", valid_lines).parent
    return {
        "jsonl": run_example_gen(jsonl, base / "jsonl_run"),
        "array": run_example_gen(array, base / "array_run"),
    }


def test_both_layouts_give_all_records_as_the_same_examples(layouts, valid_lines):
    by_layout = {name: read_splits(examples) for name, examples in layouts.items()}
    assert by_layout["jsonl"] == by_layout["array"]
    everything = Counter(pair for split in by_layout["jsonl"].values() for pair in split)
    assert everything == expected_pairs(valid_lines)
    assert sum(everything.values()) == len(valid_lines) == 1000 + 20 * COPIES


def test_splits_are_near_80_10_10(layouts, valid_lines):
    sizes = {split: len(pairs) for split, pairs in read_splits(layouts["jsonl"]).items()}
    total = len(valid_lines)
    assert abs(sizes["train"] - 0.8 * total) <= 50, sizes  # about 4 standard deviations
    assert abs(sizes["eval"] - 0.1 * total) <= 40, sizes
    assert abs(sizes["test"] - 0.1 * total) <= 40, sizes
    assert json.loads(layouts["jsonl"].properties["split_names"].string_value) == list(SPLITS)


def test_repeated_headlines_land_in_one_split(layouts, real_lines):
    splits = read_splits(layouts["jsonl"])
    for line in real_lines[REPEATED]:
        headline = json.loads(line)["headline"]
        where = {split: sum(h == headline for h, _ in pairs) for split, pairs in splits.items()}
        assert sorted(where.values()) == [0, 0, COPIES], (headline, where)


def test_no_invalid_records_means_all_written_and_zero_quarantined(layouts, valid_lines):
    for examples in layouts.values():
        assert written(examples) == len(valid_lines)
        assert quarantined(examples) == 0
        assert json_example_gen.read_quarantine(examples.uri) == []


# ---------------------------------------------------------------- invalid input

BAD_RECORDS = {
    "malformed": (b'{"headline": "broken line", "is_sarcastic": 1', "malformed JSON (Expecting ',' delimiter at column 46)"),
    "no_headline": (b'{"article_link": "https://example.com/a", "is_sarcastic": 0}', "missing 'headline'"),
    "no_label": (b'{"headline": "a headline without a label"}', "missing 'is_sarcastic'"),
    "bad_label": (b'{"headline": "labelled two", "is_sarcastic": 2}', "'is_sarcastic' must be 0 or 1, got 2"),
    "empty_headline": (b'{"headline": "  ", "is_sarcastic": 1}', "empty 'headline'"),
    "not_utf8": (b'{"headline": "caf\xe9 au lait", "is_sarcastic": 0}', "not valid UTF-8 (byte 0xe9 at column 18)"),
    "lone_surrogate": (b'{"headline": "half an emoji \\ud83d", "is_sarcastic": 0}',
                       "'headline' holds an unpaired UTF-16 surrogate escape"),
}


def quarantined_raw(raw: bytes) -> str:
    """A record's raw text as the quarantine shows it: bytes that are not UTF-8 as \\xNN escapes."""
    return raw.decode("utf-8", "backslashreplace")


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_invalid_record_fails_by_default_naming_file_line_and_problem(case, real_lines, tmp_path):
    raw, problem = BAD_RECORDS[case]
    source = write_lines(tmp_path / "in" / "headlines.json", real_lines[:30] + [raw] + real_lines[30:60])
    with pytest.raises(Exception) as failure:
        run_example_gen(source.parent, tmp_path / "run")
    assert f"invalid record in {source}, line 31: {problem}" in str(failure.value)


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_malformed_json_array_fails_even_when_skipping(skip_invalid, real_lines, tmp_path):
    source = write_array(tmp_path / "in" / "headlines.json", real_lines[:20])
    text = source.read_text().splitlines()
    text[5] = text[5].replace('"is_sarcastic": ', '"is_sarcastic" ')  # line 6: no ':', the array cannot be read on
    source.write_text("\n".join(text) + "\n")
    with pytest.raises(Exception) as failure:
        run_example_gen(source.parent, tmp_path / "run", skip_invalid=skip_invalid)
    assert f"invalid record in {source}, line 6: malformed JSON array" in str(failure.value)


def test_skip_invalid_quarantines_bad_records_and_counts_them(real_lines, tmp_path):
    """Also the default multi-process DirectRunner: the quarantine is written from the Beam workers."""
    good = real_lines[:200]
    jsonl_lines = list(good[:150])
    bad_at = {}
    for n, case in enumerate(sorted(BAD_RECORDS)):
        jsonl_lines.insert(10 + 20 * n, BAD_RECORDS[case][0])
        bad_at[case] = 11 + 20 * n
    jsonl = write_lines(tmp_path / "in" / "part-1.jsonl", jsonl_lines)
    array = write_array(tmp_path / "in" / "part-2.json", good[150:] + [b'{"headline": "three", "is_sarcastic": 3}'])
    (tmp_path / "in" / "notes.txt").write_text("not an input file\n")

    examples = run_example_gen(tmp_path / "in", tmp_path / "run", skip_invalid=True, beam_args=MULTI_PROCESSING)

    assert quarantined(examples) == len(BAD_RECORDS) + 1
    assert written(examples) == len(good)
    path = pathlib.Path(examples.uri) / "quarantine" / "invalid_records.jsonl"
    assert path == pathlib.Path(json_example_gen.quarantine_path(examples.uri))
    expected = [
        {"source": str(jsonl), "line": bad_at[case], "problem": BAD_RECORDS[case][1],
         "raw": quarantined_raw(BAD_RECORDS[case][0])}
        for case in sorted(BAD_RECORDS)
    ]
    expected.append({"source": str(array), "line": 52, "problem": "'is_sarcastic' must be 0 or 1, got 3",
                     "raw": '{"headline": "three", "is_sarcastic": 3}'})
    assert read_quarantine_file(examples) == expected
    assert os.listdir(path.parent) == [path.name]  # no unreadable files, and the per-file counts removed

    splits = read_splits(examples)
    assert Counter(pair for pairs in splits.values() for pair in pairs) == expected_pairs(good)


def test_bytes_that_are_not_utf8_quarantine_only_their_array_element(real_lines, tmp_path):
    """A JSON array read on past a record with a stray byte (the JSON Lines case is in BAD_RECORDS)."""
    source = write_array(tmp_path / "in" / "headlines.json", real_lines[:40])
    lines = source.read_bytes().split(b"\n")
    # The 11th record, on line 12 (after "[").
    lines[11] = lines[11].replace(b'"headline": "', b'"headline": "\xff', 1)
    source.write_bytes(b"\n".join(lines))

    examples = run_example_gen(source.parent, tmp_path / "run", skip_invalid=True)

    column = lines[11].index(b"\xff") + 1
    raw = quarantined_raw(lines[11].rstrip(b","))
    assert read_quarantine_file(examples) == [
        {"source": str(source), "line": 12, "problem": f"not valid UTF-8 (byte 0xff at column {column})", "raw": raw}
    ]
    assert (quarantined(examples), written(examples)) == (1, 39)
    kept = real_lines[:10] + real_lines[11:40]
    assert Counter(pair for pairs in read_splits(examples).values() for pair in pairs) == expected_pairs(kept)


def test_a_byte_order_mark_is_ignored_in_both_layouts(real_lines, tmp_path):
    """The first record is kept and line numbers are unchanged (an invalid record is quarantined on its own line)."""
    bad = b'{"headline": "labelled two", "is_sarcastic": 2}'
    jsonl = write_lines(tmp_path / "in" / "part-1.jsonl", real_lines[:20] + [bad] + real_lines[20:40])
    array = write_array(tmp_path / "in" / "part-2.json", real_lines[40:60] + [bad] + real_lines[60:80])
    for path in (jsonl, array):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    examples = run_example_gen(tmp_path / "in", tmp_path / "run", skip_invalid=True)

    problem = "'is_sarcastic' must be 0 or 1, got 2"
    assert [(r["source"], r["line"], r["problem"]) for r in read_quarantine_file(examples)] == [
        (str(jsonl), 21, problem), (str(array), 22, problem)]
    assert (quarantined(examples), written(examples)) == (2, 80)
    everything = Counter(pair for pairs in read_splits(examples).values() for pair in pairs)
    assert everything == expected_pairs(real_lines[:80])


# ---------------------------------------------------------------- no records at all


def test_files_without_records_fail_naming_the_folder_and_each_file(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "empty.jsonl").write_bytes(b"")
    (source / "empty_array.json").write_text("[ ]\n")
    (source / "blank_lines.jsonl").write_bytes(b"\r\n\n  \n")
    with pytest.raises(Exception) as failure:
        run_example_gen(source, tmp_path / "run")
    assert str(raised(failure, json_example_gen.NoRecordsError)) == (
        f"no valid headline records in {source} "
        "(blank_lines.jsonl: 0 records; empty.jsonl: 0 records; empty_array.json: 0 records)"
    )


def test_every_record_quarantined_fails_saying_how_many_were(tmp_path):
    source = tmp_path / "in"
    write_lines(source / "bad.jsonl", [BAD_RECORDS["bad_label"][0], BAD_RECORDS["no_label"][0]])
    (source / "empty.json").write_text("[]")
    with pytest.raises(Exception) as failure:
        run_example_gen(source, tmp_path / "run", skip_invalid=True)
    assert str(raised(failure, json_example_gen.NoRecordsError)) == (
        f"no valid headline records in {source} (bad.jsonl: 0 records, 2 quarantined as invalid; "
        f"empty.json: 0 records); the first invalid one: {source / 'bad.jsonl'}, line 1: "
        "'is_sarcastic' must be 0 or 1, got 2"
    )


# ---------------------------------------------------------------- configuration, without running


def test_component_defaults_and_overrides(tmp_path):
    """Proto exec properties are stored as JSON text, which is also what the executor receives."""

    def prop(component, key, proto):
        return proto_utils.json_to_proto(component.exec_properties[key], proto)

    component = JsonExampleGen(input_base=str(tmp_path), skip_invalid=True)
    assert component.id == "JsonExampleGen"
    output_config = prop(component, standard_component_specs.OUTPUT_CONFIG_KEY, tfx.proto.Output())
    assert output_config.split_config.partition_feature_name == "headline"
    assert [(s.name, s.hash_buckets) for s in output_config.split_config.splits] == [("train", 8), ("eval", 1), ("test", 1)]
    input_config = prop(component, standard_component_specs.INPUT_CONFIG_KEY, tfx.proto.Input())
    assert [s.pattern for s in input_config.splits] == ["*.json*"]

    assert json_example_gen.skip_invalid_from(component.exec_properties) is True
    assert json_example_gen.skip_invalid_from(JsonExampleGen(input_base=str(tmp_path)).exec_properties) is False
    assert json_example_gen.skip_invalid_from({}) is False

    two_splits = tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
        tfx.proto.SplitConfig.Split(name="train", hash_buckets=3),
        tfx.proto.SplitConfig.Split(name="eval", hash_buckets=1),
    ]))
    overridden = JsonExampleGen(input_base=str(tmp_path), output_config=two_splits)
    assert prop(overridden, standard_component_specs.OUTPUT_CONFIG_KEY, tfx.proto.Output()) == two_splits


def test_input_files_are_the_json_and_jsonl_files(tmp_path):
    for name in ["b.jsonl", "a.json", "c.json.bak", "d.txt"]:
        (tmp_path / name).write_text("")
    assert json_example_gen.list_input_files(str(tmp_path), "*.json*") == [str(tmp_path / "a.json"), str(tmp_path / "b.jsonl")]
    no_match = f"no .json or .jsonl files match '\\*.txt' in {tmp_path}$"
    with pytest.raises(json_example_gen.NoRecordsError, match=no_match):
        json_example_gen.list_input_files(str(tmp_path), "*.txt")
