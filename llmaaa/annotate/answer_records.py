"""The record shapes of an NER answer: YAML-like key lines, XML records and markdown tables, read as
``[mention, label]`` items by the keys and column names of the JSON shapes (``answer_shapes``).

A record is read only when some record names a mention and one of the user's labels; anything else is
left to the line readings of ``answer_lines``.
"""

from __future__ import annotations

import html
import re

from llmaaa.annotate.answer_shapes import _RECORD_KEYS, _SPAN_KEYS, _TYPE_KEYS, _item_pair
from llmaaa.annotate.labels import LabelResolver

_MARKUP = "\"'`*_ "  # quotes and markdown emphasis around a mention or a label
_MAX_LINE = 500  # characters of one "mention: label" line; a longer line is prose

_KEY_LINE = re.compile(r"^\s*(?P<bullet>(?:[-*•]|\d+[.)])\s+)?[*_]*(?P<key>[A-Za-z][A-Za-z _]{0,30}?)[*_]*\s*[:=][*_]*\s*(?P<value>.*?)\s*$")
# a separator before another entity key on the same line: "Entity: Paris, Type: LOC", "text=Paris | label=LOC"
_NEXT_KEY = re.compile(r"\s*[,;|]\s*(?=[*_]*(?:" + "|".join(re.escape(k).replace("_", "[ _]") for k in
                                                            sorted(_RECORD_KEYS, key=len, reverse=True))
                       + r")[*_]*\s*[:=])", re.I)


_TABLE_RULE = re.compile(r"^:?-{2,}:?$")


def _table_cells(line: str) -> list[str] | None:
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")) or line.count("|") < 3:
        return None
    return [cell.strip().strip(_MARKUP) for cell in line[1:-1].split("|")]


def _table_items(answer: str, resolve: "LabelResolver") -> list[list[str]] | None:
    """Items of a markdown table of three or more columns, or None when the answer has none::

        | # | Entity | Type | Why        |
        |---|--------|------|------------|
        | 1 | Paris  | LOC  | a capital  |

    The header names the mention and type columns (the keys of the JSON shapes: "Entity", "Entity
    type", "Label"); with no header, a row's one cell that is a user label is the type and the first
    other cell that is no row number the mention. Two-column tables read as ``mention | label`` lines.
    """
    rows = [cells for line in answer.splitlines() if (cells := _table_cells(line)) is not None
            and not all(_TABLE_RULE.match(c.replace(" ", "")) for c in cells)]
    if not rows or max(len(r) for r in rows) < 3:
        return None
    names = [re.sub(r"\s+", "_", c.casefold()) for c in rows[0]]
    type_col = next((i for i, n in enumerate(names) if n in _TYPE_KEYS), None)
    span_col = next((i for i, n in enumerate(names) if n in _SPAN_KEYS and i != type_col), None)
    items: list[list[str]] = []
    if type_col is not None and span_col is not None and not any(resolve(c) is not None for c in rows[0]):
        return [[r[span_col], r[type_col]] for r in rows[1:] if len(r) > max(span_col, type_col) and r[span_col]]
    for r in rows:
        hits = [i for i, c in enumerate(r) if c and resolve(c) is not None]
        mentions = [c for i, c in enumerate(r) if c and i not in hits and not re.fullmatch(r"#?\d+[.)]?", c)]
        if len(hits) == 1 and mentions:
            items.append([mentions[0], r[hits[0]]])
    return items or None


def _record_items(answer: str, resolve: "LabelResolver") -> list[list[str]] | None:
    """Items of an answer written as YAML-like records, one key per line, or None when it is not one::

        - span: Paris
          type: LOC

    Read line by line as ``mention: label``, the record's lines would make "span" and "type" the
    mentions. A record starts at a bullet, a blank line or a key it already has; only the entity keys
    count (a user label as the key, ``LOC: Paris``, is the plain-list shape), and the answer is read
    this way only when some record has both a mention and a type.
    """
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    lines = [part for line in answer.splitlines()
             for part in (_NEXT_KEY.split(line) if len(line) <= _MAX_LINE else [line])]  # one record per line
    for line in lines:
        m = _KEY_LINE.match(line) if len(line) <= _MAX_LINE else None
        key = m and m.group("key").strip().casefold().replace(" ", "_")
        if not m or key not in _RECORD_KEYS or resolve(m.group("key")) is not None:
            if current:
                records.append(current)
            current = {}
            continue
        if m.group("bullet") or key in current:
            if current:
                records.append(current)
            current = {}
        current[key] = m.group("value").strip(_MARKUP)
    if current:
        records.append(current)
    return _record_pairs(records, resolve)


def _record_pairs(records: list[dict[str, str]], resolve: "LabelResolver") -> list[list[str]] | None:
    """The records' ``[mention, label]`` items, or None when none of them names one of the user's labels."""
    pairs = [_item_pair(r, resolve) for r in records]
    items = [[mention, label] for mention, label in pairs if mention and label]
    return items if any(resolve(label) is not None for _, label in items) else None


_XML_FIELD = re.compile(r"<([A-Za-z][\w-]*)>([^<>]*)</\1>")


def xml_record_items(answer: str, resolve: "LabelResolver") -> list[list[str]]:
    """Items of an answer written as XML records, or ``[]`` when it is not one::

        <entities><entity><text>Paris</text><type>LOC</type></entity></entities>

    Only the entity keys count as fields (``<PER>Anna</PER>`` is the inline-tag shape), a record ends
    where a field it already has comes again, and the answer is taken only when some record has a
    mention and one of the user's labels. ``&amp;`` and the like are unescaped, as the text has them plain.
    """
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for m in _XML_FIELD.finditer(answer):
        key = m.group(1).casefold()
        if key not in _RECORD_KEYS:
            continue
        if key in current:
            records.append(current)
            current = {}
        current[key] = html.unescape(m.group(2)).strip()
    if current:
        records.append(current)
    return _record_pairs(records, resolve) or []
