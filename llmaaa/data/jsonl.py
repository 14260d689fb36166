"""Examples as JSON Lines: the one file format every llmaaa command reads and writes.

One ``Example.to_dict()`` per line, UTF-8 with non-ASCII kept as is (Chinese and emoji stay
readable). Writes are atomic (temp file + rename) so a crash never leaves half a file behind.
Lines exported by doccano, Prodigy/spaCy or Hugging Face token files are read as examples too
(``formats.as_schema``), so a user's labels are not dropped on the way in; so is a TACRED-family file, which
ships as one JSON array (``formats.array_format``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from llmaaa.data.formats import array_format, as_schema
from llmaaa.data.schema import Example, SchemaError
from llmaaa.data.textfile import iter_lines

log = logging.getLogger(__name__)


_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonlError(ValueError):
    """A line of a JSONL file that is not a valid example; the message names ``file:line``."""


def read_jsonl(path: str | Path, *, strict: bool = True, errors: list[str] | None = None) -> list[Example]:
    """Read examples, one JSON object per line (blank lines ignored), or the records of a TACRED-family file's
    one JSON array (named ``file: record n`` in messages).

    A line without ``id`` gets ``f"{stem}-{n}"`` (n = its example index). With ``strict=True``
    (default) the first bad line or duplicate id raises ``JsonlError``; with ``strict=False`` bad
    lines are skipped, logged, and their messages appended to ``errors`` when a list is given.
    Foreign lines (doccano, Prodigy/spaCy, Hugging Face tokens) are converted and counted in one
    info line; Prodigy answers ``reject``/``ignore`` are no gold labels and skipped with a warning.
    """
    path = Path(path)
    examples: list[Example] = []
    seen: dict[str, str] = {}  # id -> the line (or array record) it was first on
    formats: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    unit = "lines"
    for where, place, parse in _entries(path):
        unit = place.split()[0] + "s"  # "lines", or "records" of a JSON array
        try:
            default_id = f"{path.stem}-{len(examples)}"
            record = as_schema(parse(), default_id=default_id)
            if record.skip:
                skipped[record.skip] += 1
                continue
            ex = Example.from_dict(record.data, default_id=default_id)
            if _SURROGATE.search(ex.text):
                raise SchemaError(f"example {ex.id!r}: its text holds a lone UTF-16 surrogate (half of an emoji, from "
                                  "a file cut or converted badly); it cannot be written as UTF-8: fix the character")
            if ex.id in seen:
                raise SchemaError(_duplicate(ex.id, seen[ex.id], path))
        except json.JSONDecodeError as e:
            msg = f"{where}: not valid JSON ({e.msg} at column {e.colno})"
        except (SchemaError, KeyError, TypeError, ValueError) as e:
            msg = f"{where}: {e}"
        else:
            seen[ex.id] = place
            examples.append(ex)
            if record.format:
                formats[record.format] += 1
            continue
        if strict:
            raise JsonlError(msg + f"; fix the {unit[:-1]} (from Python, read_jsonl(..., strict=False) skips bad "
                                   f"{unit})")
        log.warning("skipping %s", msg)
        if errors is not None:
            errors.append(msg)
    if formats:
        log.info("read %s", ", ".join(f"{n} {unit} of {path} as {name}" if i == 0 else f"{n} {unit} as {name}"
                                      for i, (name, n) in enumerate(formats.most_common())))
    if skipped:
        log.warning("skipped %d %s of %s that are no gold labels: %s", sum(skipped.values()), unit, path,
                    ", ".join(f"{n} with {why}" for why, n in skipped.most_common()))
    return examples


Entry = tuple[str, str, Callable[[], Any]]  # (file:line for messages, "line n" for a duplicate's, parse)


def _entries(path: Path) -> Iterator[Entry]:
    """Each non-blank line of a JSON Lines file, or each record of a file that is one JSON array of a format
    shipped that way (TACRED's, ``formats.array_format``); any other array gets the advice to convert it."""
    lines = iter_lines(path, JsonlError)  # a BOM from Windows tools is dropped
    first = True
    for lineno, line in lines:
        if not line.strip():
            continue
        if first and line.lstrip().startswith("["):
            yield from _array_entries(path, lineno, line + "".join(rest for _, rest in lines))
            return
        first = False
        yield f"{path}:{lineno}", f"line {lineno}", partial(json.loads, line)


def _array_entries(path: Path, lineno: int, body: str) -> Iterator[Entry]:
    try:
        records = json.loads(body)
    except json.JSONDecodeError as e:
        raise JsonlError(f"{path}:{lineno + e.lineno - 1}: the file starts a JSON array but is not valid JSON "
                         f"({e.msg} at column {e.colno})") from None
    if array_format(records) is None:
        raise JsonlError(f"{path}:{lineno}: the file is one JSON array, not JSON Lines (one object per line): "
                         "convert a Label Studio 'JSON' export with `python -m ml_backend convert --config "
                         "CONFIG.xml --input FILE --output gold.jsonl`, a CoNLL04/SpERT file with "
                         "`llmaaa convert --from conll04 --input FILE --output FILE.jsonl`")
    for n, record in enumerate(records, 1):
        yield f"{path}: record {n}", f"record {n}", (lambda r=record: r)


def _duplicate(ex_id: str, first: str, path: Path) -> str:
    """Why name the first line: an id can clash with one given to a line without ``id``
    (``<stem>-<n>``), which the user never wrote and could not find by searching the file."""
    return (f"duplicate id {ex_id!r} (also on {first}; a line without 'id' gets "
            f"'{path.stem}-<example index>'); ids must be unique within a file")


def write_jsonl(examples: Iterable[Example], path: str | Path) -> int:
    """Write examples atomically (temp file in the same folder, then rename); return how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for ex in examples:
                f.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
                n += 1
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a data file should be readable like any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
