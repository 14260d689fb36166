"""Token tag sequences <-> token spans, and tokens <-> text with exact char offsets.

Schemes (prefix of each tag, ``O`` outside any entity):

- ``iob1``: ``I`` inside; ``B`` only on the first token of an entity that directly follows
  another entity of the same type (the original CoNLL-2003 encoding).
- ``iob2`` (alias ``bio``): ``B`` on every first token, ``I`` after it.
- ``bilou``: ``B``/``I``/``L`` (last)/``U`` (unit, one token).
- ``bioes``: the same with ``E`` for last and ``S`` for single.
- ``bmes``: ``B``/``M`` (middle)/``E``/``S``, the scheme of the LLMaAA reference code and of
  the ``*.bmes`` files (char-level for Chinese).

Decoding is lenient and scheme-agnostic: ``M`` is read as ``I``, ``L`` as ``E`` and ``U`` as
``S``, then chunks follow the conlleval rules that seqeval uses by default (its non-strict
mode): an ``I-``/``E-`` after ``O``, after a finished chunk or after another type *starts* an
entity instead of being dropped, so a model's invalid sequence still scores the way seqeval
scores it. A tag is ``PREFIX-LABEL`` (split at the first ``-``); a bare ``B`` has label ``""``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from llmaaa.data.scripts import between

SCHEMES = ("iob1", "iob2", "bio", "bilou", "bioes", "bmes", "io")

_NORMAL = {"B": "B", "I": "I", "M": "I", "E": "E", "L": "E", "S": "S", "U": "S", "O": "O"}
# Encoding prefixes per scheme: (begin, inside, end, single).
_PREFIXES = {
    "iob2": ("B", "I", "I", "B"),
    "bilou": ("B", "I", "L", "U"),
    "bioes": ("B", "I", "E", "S"),
    "bmes": ("B", "M", "E", "S"),
}

TokenSpan = tuple[int, int, str]


class TagError(ValueError):
    """A tag that no scheme knows (e.g. ``X-PER``) or an unknown scheme name."""


def check_scheme(scheme: str) -> str:
    """The canonical scheme name (``bio`` -> ``iob2``); raise ``TagError`` for an unknown one."""
    s = scheme.lower()
    if s not in SCHEMES:
        raise TagError(f"unknown tag scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    return "iob2" if s == "bio" else s


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")`` with the prefix normalized to B/I/E/S/O."""
    if tag in ("O", "o", ""):  # lowercase tags (b-per, o) are read like uppercase ones
        return "O", ""
    prefix, _, label = tag.partition("-")
    norm = _NORMAL.get(prefix.upper())
    if norm is None or norm == "O":
        raise TagError(f"tag {tag!r} has no B/I/M/E/L/S/U prefix; expected e.g. 'B-PER' or 'O'")
    if not label.strip():  # untyped B/I/O (keyphrase data): the entities would get the label ""
        raise TagError(f"tag {tag!r} names no entity type; write typed tags such as 'B-KEY' / 'I-KEY'")
    return norm, label


def _ends(prev: str, prev_label: str, cur: str, label: str) -> bool:
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and cur in ("B", "S", "O"):
        return True
    return prev != "O" and prev_label != label


def _starts(prev: str, prev_label: str, cur: str, label: str) -> bool:
    if cur in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and cur in ("E", "I"):
        return True
    return cur != "O" and prev_label != label


def tags_to_token_spans(tags: Sequence[str], scheme: str = "iob2") -> list[TokenSpan]:
    """Entities ``(token_start, token_end_exclusive, label)`` in a tag sequence (lenient, see module doc)."""
    if check_scheme(scheme) == "io":
        return _io_spans(tags)
    spans: list[TokenSpan] = []
    prev, prev_label, begin = "O", "", -1
    for i, tag in enumerate([*tags, "O"]):
        cur, label = split_tag(tag)
        if begin >= 0 and _ends(prev, prev_label, cur, label):
            spans.append((begin, i, prev_label))
            begin = -1
        if cur != "O" and (begin < 0 or _starts(prev, prev_label, cur, label)):
            begin = i
        prev, prev_label = cur, label
    return spans


def _io_spans(tags: Sequence[str]) -> list[TokenSpan]:
    """IO tags (``PER PER O LOC``, Few-NERD's ``person-actor``): a run of one label is one entity; the tag is the
    label as it is (two entities of one label side by side cannot be told apart in IO, and are not)."""
    spans: list[TokenSpan] = []
    for i, tag in enumerate([*tags, "O"]):
        label = "" if tag in ("O", "o", "") else tag
        if spans and spans[-1][1] == i and spans[-1][2] == label:
            spans[-1] = (spans[-1][0], i + 1, label)
        elif label:
            spans.append((i, i + 1, label))
    return spans


def token_spans_to_tags(spans: Iterable[TokenSpan], n: int, scheme: str = "iob2") -> list[str]:
    """Encode non-overlapping token spans as ``n`` tags; overlapping spans raise ``TagError``."""
    scheme = check_scheme(scheme)
    tags = ["O"] * n
    last_end, last_label = -1, None
    for start, end, label in sorted(spans):
        if not (0 <= start < end <= n):
            raise TagError(f"token span ({start}, {end}) {label!r} is outside a sentence of {n} tokens")
        if any(t != "O" for t in tags[start:end]):
            raise TagError(f"token span ({start}, {end}) {label!r} overlaps another entity; tags cannot nest")
        if scheme == "io":
            tags[start:end] = [label] * (end - start)
        elif scheme == "iob1":
            first = "B" if (start == last_end and label == last_label) else "I"
            tags[start:end] = [f"{first}-{label}"] + [f"I-{label}"] * (end - start - 1)
        else:
            b, i, e, s = _PREFIXES[scheme]
            if end - start == 1:
                tags[start] = f"{s}-{label}"
            else:
                tags[start:end] = [f"{b}-{label}"] + [f"{i}-{label}"] * (end - start - 2) + [f"{e}-{label}"]
        last_end, last_label = end, label
    return tags


def convert_tags(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Re-encode a tag sequence from one scheme to another (e.g. BILOU -> IOB2 for seqeval)."""
    return token_spans_to_tags(tags_to_token_spans(tags, source), len(tags), target)


def join_tokens(tokens: Sequence[str], sep: str | None = " ") -> tuple[str, list[tuple[int, int]]]:
    """Join tokens with ``sep`` and return the text with each token's exact ``(start, end)`` char offsets.

    Offsets are code-point indices, so ``text[start:end] == token`` for accents and emoji alike;
    ``sep=""`` is for char-level data (Chinese BMES files) where tokens are characters; ``sep=None``
    (``scripts.AUTO``) is for word-level tokens of Chinese or Japanese text, joined without spaces
    except between two words of a spaced script ("我爱New York").
    """
    offsets: list[tuple[int, int]] = []
    parts: list[str] = []
    pos = 0
    for k, tok in enumerate(tokens):
        if k:
            gap = sep if sep is not None else between(tokens[k - 1], tok)
            parts.append(gap)
            pos += len(gap)
        offsets.append((pos, pos + len(tok)))
        parts.append(tok)
        pos += len(tok)
    return "".join(parts), offsets
