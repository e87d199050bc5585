"""Reads headline records from JSON Lines or JSON-array files and checks each one.

Both layouts of the News Headlines Dataset for Sarcasm Detection occur in the wild: the authors' JSON Lines
file (one object per line) and the single JSON array that the book and TensorFlow courses download. Either may
start with a UTF-8 byte-order mark, which is ignored. A record holding bytes that are not UTF-8 is an
InvalidRecord (its raw text shows them as \\xNN escapes); the rest of its file is still read.
"""
import dataclasses
import json
import re
from typing import Iterator, Optional, Union

from textrnn.errors import TextrnnError

LABEL_KEY = "is_sarcastic"
TEXT_KEY = "headline"

_BYTE_ORDER_MARK = "\ufeff"
# errors="surrogateescape" decodes each byte that is not UTF-8 to one of these (valid UTF-8 never gives them).
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclasses.dataclass(frozen=True)
class Record:
    """A valid record: its location, the headline and the 0/1 label."""

    source: str
    line: int
    headline: str
    is_sarcastic: int


@dataclasses.dataclass(frozen=True)
class InvalidRecord:
    """A record that cannot be used, where it is, why, and its raw text."""

    source: str
    line: int
    problem: str
    raw: str

    def message(self) -> str:
        return f"{self.source}, line {self.line}: {self.problem}"


class InvalidRecordError(TextrnnError, ValueError):
    """Raised for the first invalid record when invalid records are not skipped."""

    def __init__(self, invalid: InvalidRecord):
        super().__init__(
            f"invalid record in {invalid.message()} "
            f"(fix the file, or run with skip_invalid to quarantine such records)"
        )
        self.invalid = invalid


def check_record(obj, source: str, line: int, raw: str) -> Union[Record, InvalidRecord]:
    """Returns a Record for a valid decoded object, else an InvalidRecord saying what is wrong."""

    def invalid(problem):
        return InvalidRecord(source, line, problem, raw)

    if not isinstance(obj, dict):
        return invalid(f"expected a JSON object, got {type(obj).__name__}")
    if TEXT_KEY not in obj:
        return invalid(f"missing '{TEXT_KEY}'")
    if LABEL_KEY not in obj:
        return invalid(f"missing '{LABEL_KEY}'")
    headline, label = obj[TEXT_KEY], obj[LABEL_KEY]
    if not isinstance(headline, str):
        return invalid(f"'{TEXT_KEY}' must be a string, got {type(headline).__name__}")
    if not headline.strip():
        return invalid(f"empty '{TEXT_KEY}'")
    if _UNPAIRED_SURROGATE.search(headline):  # a JSON escape such as \udcff: not text, and not encodable
        return invalid(f"'{TEXT_KEY}' holds an unpaired UTF-16 surrogate escape")
    if isinstance(label, bool) or label not in (0, 1):
        return invalid(f"'{LABEL_KEY}' must be 0 or 1, got {json.dumps(label)}")
    return Record(source, line, headline, int(label))


def parse_text(text: str, source: str, undecodable: bool = False) -> Iterator[Union[Record, InvalidRecord]]:
    """Yields a Record or InvalidRecord for every record in `text`, in file order.

    `undecodable`: `text` was decoded with errors="surrogateescape" from bytes that are not all UTF-8; the records
    holding such bytes are then InvalidRecords.
    """
    # Editors on Windows often start UTF-8 files with a byte-order mark; it belongs to no record.
    if text.startswith(_BYTE_ORDER_MARK):
        text = text[1:]
    if text.lstrip(" \t\r\n").startswith("["):
        yield from _parse_array(text, source, undecodable)
    else:
        yield from _parse_lines(text, source, undecodable)


def parse_file(path: str) -> Iterator[Union[Record, InvalidRecord]]:
    """Yields a Record or InvalidRecord for every record in the file at `path`."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        text, undecodable = data.decode("utf-8"), False
    except UnicodeDecodeError:
        # A stray byte spoils only its own record; the slower checks run only for such files.
        text, undecodable = data.decode("utf-8", "surrogateescape"), True
    yield from parse_text(text, path, undecodable)


def _undecodable_problem(text: str, start: int, end: int, line: int) -> Optional[str]:
    """Says where the first byte that is not UTF-8 is in text[start:end], a record starting on `line`; None if none."""
    found = _UNDECODABLE.search(text, start, end)
    if not found:
        return None
    at = found.start()
    column = at - text.rfind("\n", 0, at)
    byte_line = line + text.count("\n", start, at)
    where = f"column {column}" if byte_line == line else f"line {byte_line}, column {column}"
    return f"not valid UTF-8 (byte 0x{ord(found.group()) - 0xDC00:02x} at {where})"


def _undecodable_record(source: str, line: int, problem: str, raw: str) -> InvalidRecord:
    # The raw text goes to UTF-8 files (the quarantine): the stray bytes are written as \xNN escapes.
    printable = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return InvalidRecord(source, line, problem, printable)


def _parse_lines(text: str, source: str, undecodable: bool):
    # Only "\n" ends a JSON Lines record: str.splitlines() would also split at U+2028, U+2029 and U+0085,
    # which JSON allows unescaped inside strings, breaking valid records and shifting line numbers.
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        problem = undecodable and _undecodable_problem(raw, 0, len(raw), number)
        if problem:
            yield _undecodable_record(source, number, problem, raw)
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            yield InvalidRecord(source, number, f"malformed JSON ({e.msg} at column {e.colno})", raw)
            continue
        yield check_record(obj, source, number, raw)


def _parse_array(text: str, source: str, undecodable: bool):
    decoder = json.JSONDecoder()
    pos = _skip_space(text, text.index("[") + 1)
    if pos < len(text) and text[pos] == "]":
        return
    # Line numbers are counted on from the previous element (counting from the start each time is quadratic).
    line, counted = 1, 0
    while True:
        line, counted = line + text.count("\n", counted, pos), pos
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            # Inside one array a broken element leaves no safe place to resume: stop here.
            problem = undecodable and _undecodable_problem(text, pos, e.pos + 1, line)
            if problem:
                raise InvalidRecordError(InvalidRecord(source, line, problem, "")) from None
            raise InvalidRecordError(InvalidRecord(source, e.lineno, f"malformed JSON array ({e.msg})", "")) from None
        problem = undecodable and _undecodable_problem(text, pos, end, line)
        if problem:
            yield _undecodable_record(source, line, problem, text[pos:end])
        else:
            yield check_record(obj, source, line, text[pos:end])
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return
        else:
            line += text.count("\n", counted, pos)
            problem = undecodable and _undecodable_problem(text, pos, pos + 1, line)
            raise InvalidRecordError(
                InvalidRecord(source, line, problem or "malformed JSON array (expected ',' or ']')", ""))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
