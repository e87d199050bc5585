"""Synthetic growth: N times the headlines dataset, made deterministically from the real one.

    python -m benchmarks.synthetic DATASET_FILE OUTPUT_DIR --times 100 [--seed 0]

Writes N JSON Lines shards of the dataset's size into OUTPUT_DIR: `shard-00000.jsonl` is the real dataset's
records, and every further shard holds as many new headlines, one per real headline in its order: the front of
that headline joined to the back of another real headline with the same label, cut at the same relative
position (so lengths, words and labels keep the real distributions, and the ExampleGen's parsing, the splits,
the vocabulary and training see data like the real). Shard k depends only on the dataset, the seed and k:
shards already written are kept, so a larger N only adds shards.

    >>> import json, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(f"{folder}/real.json", "w") as f:
    ...     f.write('{"headline": "a b c d", "is_sarcastic": 1}\\n{"headline": "e f g h", "is_sarcastic": 1}\\n')
    86
    >>> paths = write_shards(f"{folder}/real.json", f"{folder}/out", times=2)
    >>> [json.loads(line)["is_sarcastic"] for line in open(paths[1])]
    [1, 1]
"""
import argparse
import json
import os
import sys
from typing import List

import numpy as np

from textrnn.preprocessing import records

SHARD_NAME = "shard-{:05d}.jsonl"


def read_headlines(dataset_file: str):
    """The dataset's valid (headline, label) pairs in file order; fails on an invalid record."""
    pairs = []
    for item in records.parse_file(dataset_file):
        if isinstance(item, records.InvalidRecord):
            raise records.InvalidRecordError(item)
        pairs.append((item.headline, item.is_sarcastic))
    return pairs


def recombined(pairs, shard: int, seed: int) -> List[dict]:
    """Shard `shard` (1 or more): one new headline per real one, recombined within its label."""
    rng = np.random.default_rng([seed, shard])
    words = [headline.split() for headline, _ in pairs]
    labels = np.array([label for _, label in pairs])
    rows = []
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        partners = rng.choice(members, size=len(members))
        cuts = rng.random(len(members))
        for index, partner, cut in zip(members, partners, cuts):
            front, back = words[index], words[partner]
            headline = front[:max(1, round(cut * len(front)))] + back[round(cut * len(back)):]
            rows.append((index, {"headline": " ".join(headline), "is_sarcastic": int(label)}))
    return [row for _, row in sorted(rows, key=lambda item: item[0])]


def write_shards(dataset_file: str, output_dir: str, times: int, seed: int = 0) -> List[str]:
    """Writes (or keeps) shards 0 to `times` - 1 in `output_dir`; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    pairs, paths = None, []
    for shard in range(times):
        path = os.path.join(output_dir, SHARD_NAME.format(shard))
        paths.append(path)
        if os.path.exists(path):
            continue
        pairs = pairs or read_headlines(dataset_file)
        rows = ([{"headline": h, "is_sarcastic": y} for h, y in pairs] if shard == 0
                else recombined(pairs, shard, seed))
        partial = os.path.join(output_dir, f".{shard}.partial")  # outside the ExampleGen's *.json* until renamed
        with open(partial, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)
        os.replace(partial, path)
        print(f"wrote {path} ({shard + 1}/{times})", file=sys.stderr, flush=True)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset_file")
    parser.add_argument("output_dir")
    parser.add_argument("--times", type=int, required=True, help="how many dataset-sized shards to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_shards(args.dataset_file, args.output_dir, args.times, args.seed)


if __name__ == "__main__":
    main()
