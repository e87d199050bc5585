"""`textrnn predict`: score headlines with the latest pushed model, as a TF Serving client would.

    textrnn predict "area man wins" "senate passes bill"      # headlines as arguments
    textrnn predict --file headlines.jsonl --json             # JSON Lines, CSV or one headline per line

The model is the newest version (the highest numbered folder) under the push destination of `textrnn run`
(`<output root>/serving_model/<pipeline name>/`), or the folder given with --model-dir; it is called
through its `headlines` signature, the one TF Serving's REST API reaches with
`{"signature_name": "headlines", "instances": [...]}`. An empty headline is refused, naming where it came
from, rather than scored (the model gives "" a probability like any other text).
"""
import csv
import io
import json
import os
import sys
from typing import Iterable, List, Tuple

from textrnn.errors import TextrnnError
from textrnn.output_layout import pushed_versions, serving_model_dir

BATCH_SIZE = 1024
THRESHOLD = 0.5


class PredictError(TextrnnError, RuntimeError):
    """Nothing to predict with, an input file that cannot be read, or an empty headline; the message says which."""


def check_headline(headline: str, where: str) -> str:
    """`headline`, or PredictError naming `where` if it is empty or only whitespace."""
    if not headline.strip():
        raise PredictError(f"{where}: the headline is empty; give text to score, or leave it out")
    return headline


def resolve_model_dir(output_root: str, pipeline_name: str, model_dir: str = None) -> Tuple[str, str]:
    """The SavedModel folder to load and its version (the folder name), or PredictError if there is none."""
    if model_dir and os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return model_dir, os.path.basename(os.path.normpath(model_dir))
    serving_dir = model_dir or serving_model_dir(os.path.abspath(output_root), pipeline_name)
    versions = pushed_versions(serving_dir)
    if not versions:
        raise PredictError(
            f"no model has been pushed to {serving_dir}: run `textrnn run` first (a model is pushed only when "
            "the Evaluator blesses it), or point --model-dir or --output-root at a push destination")
    return os.path.join(serving_dir, str(versions[-1])), str(versions[-1])


def _json_lines(text: str, source: str) -> List[str]:
    headlines = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise PredictError(f"{source}, line {number}: not JSON ({error.msg})") from None
        if isinstance(record, dict) and isinstance(record.get("headline"), str):
            record = record["headline"]
        if not isinstance(record, str):
            raise PredictError(f"{source}, line {number}: expected a string or an object with a 'headline' string")
        headlines.append(check_headline(record, f"{source}, line {number}"))
    return headlines


def _csv(text: str, source: str) -> List[str]:
    reader = csv.reader(io.StringIO(text))
    # reader.line_num is the line a row ends on (a quoted headline may span lines).
    rows = [(reader.line_num, row) for row in reader if row]
    if rows and "headline" in rows[0][1]:
        column = rows[0][1].index("headline")
        cells = [(number, row[column] if column < len(row) else "") for number, row in rows[1:]]
    else:
        cells = [(number, row[0]) for number, row in rows]
    return [check_headline(cell, f"{source}, line {number}") for number, cell in cells]


def read_headlines_to_score(path: str) -> List[str]:
    """The headlines in a file: JSON Lines (.jsonl, .json, .ndjson, or any file whose first line is a JSON
    object), CSV (.csv) or else one headline per line (blank lines skipped). PredictError names the file and
    line of an empty headline (a JSON string or a CSV cell)."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise PredictError(f"cannot read {path}: {error}") from None
    extension = os.path.splitext(path)[1].lower()
    if extension == ".csv":
        return _csv(text, path)
    first = next((line.lstrip() for line in text.splitlines() if line.strip()), "")
    if extension in (".jsonl", ".json", ".ndjson") or first.startswith("{"):
        return _json_lines(text, path)
    return [line for line in text.splitlines() if line.strip()]


def predict(model_dir: str, headlines: Iterable[str]) -> List[float]:
    """The sarcasm probability of each headline from the SavedModel's `headlines` signature."""
    import tensorflow as tf

    from textrnn.models.export import HEADLINES_SIGNATURE, call_signature

    signatures = tf.saved_model.load(model_dir).signatures
    headlines, probabilities = list(headlines), []
    for start in range(0, len(headlines), BATCH_SIZE):
        batch = tf.constant(headlines[start:start + BATCH_SIZE], dtype=tf.string)
        probabilities += [float(p) for p in call_signature(signatures, HEADLINES_SIGNATURE, batch)]
    return probabilities
