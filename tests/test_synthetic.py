"""The scale benchmark's synthetic data: deterministic, real-looking, the real records first."""
import collections
import doctest
import json

from benchmarks import synthetic
from benchmarks.synthetic import read_headlines, write_shards


def test_docstring_example_runs():
    result = doctest.testmod(synthetic)
    assert result.attempted > 0 and result.failed == 0, result


def _rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_shards_are_deterministic_and_recombine_real_words_within_each_label(dataset_file, tmp_path):
    first = write_shards(str(dataset_file), str(tmp_path / "a"), times=3, seed=7)
    again = write_shards(str(dataset_file), str(tmp_path / "b"), times=3, seed=7)
    other_seed = write_shards(str(dataset_file), str(tmp_path / "c"), times=2, seed=8)
    assert [open(p, "rb").read() for p in first] == [open(p, "rb").read() for p in again]
    assert open(first[1], "rb").read() != open(other_seed[1], "rb").read()

    real = read_headlines(str(dataset_file))
    assert [(r["headline"], r["is_sarcastic"]) for r in _rows(first[0])] == real
    words_by_label = {label: {w for h, y in real if y == label for w in h.split()} for label in (0, 1)}
    for path in first[1:]:
        rows = _rows(path)
        assert [r["is_sarcastic"] for r in rows] == [y for _, y in real]  # one new headline per real one, in order
        assert all(r["headline"] and set(r["headline"].split()) <= words_by_label[r["is_sarcastic"]] for r in rows)
        assert len({r["headline"] for r in rows} & {h for h, _ in real}) < 0.1 * len(rows)  # mostly new headlines
        mean_words = sum(len(r["headline"].split()) for r in rows) / len(rows)
        assert abs(mean_words - sum(len(h.split()) for h, _ in real) / len(real)) < 0.5


def test_a_larger_size_keeps_the_shards_already_written(dataset_file, tmp_path):
    two = write_shards(str(dataset_file), str(tmp_path), times=2)
    before = {p: open(p, "rb").read() for p in two}
    three = write_shards(str(dataset_file), str(tmp_path), times=3)
    assert three[:2] == two and {p: open(p, "rb").read() for p in two} == before
    assert collections.Counter(p.rsplit("-", 1)[-1] for p in three) == collections.Counter(
        ["00000.jsonl", "00001.jsonl", "00002.jsonl"])
