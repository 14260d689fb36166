"""A CoNLL writer: char-offset ``Example``s back to ``TOKEN TAG`` lines that ``readers.read_conll`` reads.

Its own module because writing has its own problems, none of which reading shares: a text with no
tokens kept needs a tokenizer (CJK, Thai, emoji, marks), a span off token boundaries is snapped or
dropped, and an entity ending inside a Korean word forces char-level lines.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from llmaaa.data.schema import Example
from llmaaa.data.scripts import NO_SPACE_SCRIPTS, _one_character
from llmaaa.data.tags import check_scheme, token_spans_to_tags

log = logging.getLogger(__name__)

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
# Characters that continue a word: combining marks, the Indic, Thai, Lao, Tibetan, Myanmar and Khmer
# blocks whole (their vowel signs are marks, not \w), joiners and variation selectors
_WORD_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
               "\u0900-\u0dff\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u1ab0-\u1aff\u1dc0-\u1dff"
               "\u200c\u200d\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f")
_INVISIBLE = "\u200b\u200e\u200f\u2060\ufeff"  # zero-width space, direction marks, word joiner, BOM: no token
# Thai and Lao are written without spaces, like CJK: one token per character with its marks
_THAI_LAO = "[\u0e01-\u0e30\u0e32\u0e33\u0e3f-\u0e46\u0e4f-\u0e5b\u0e81-\u0eb0\u0eb2\u0eb3\u0ebd-\u0ec6\u0ed0-\u0edf]"
_THAI_LAO_MARKS = "[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ecd]"
_TOKEN_RE = re.compile(
    rf"[{_CJK}]|{_THAI_LAO}{_THAI_LAO_MARKS}*|(?:(?![{_CJK}]|{_THAI_LAO})[\w{_WORD_MARKS}])+"
    r"|[\U0001f1e6-\U0001f1ff]{2}"  # a flag: two regional indicators
    rf"|[^\s{_INVISIBLE}](?:[\ufe0f\u20e3\U0001f3fb-\U0001f3ff]|\u200d[^\s{_INVISIBLE}])*")  # 👍🏽, 👩🏽‍💻


def tokenize(text: str) -> list[tuple[int, int]]:
    """Whitespace/punctuation tokens as char offsets; each CJK character is its own token, and so is each
    Thai and Lao character with its vowel and tone marks.

    A token never splits a letter from its marks (Thai, Devanagari, Arabic vowel signs, NFD accents)
    nor an emoji from its skin tone or ZWJ sequence; invisible format characters are no token."""
    return [m.span() for m in _TOKEN_RE.finditer(text)]


def _token_spans(ex: Example, offsets: Sequence[Sequence[int]], stats: dict[str, int]) -> list[tuple[int, int, str]]:
    starts = [s for s, _ in offsets]
    ends = [e for _, e in offsets]
    out: list[tuple[int, int, str]] = []
    taken: set[int] = set()
    for span in sorted(ex.entities, key=lambda s: (s.start, -s.end)):
        first = bisect.bisect_right(ends, span.start)  # first token ending after the span starts
        last = bisect.bisect_left(starts, span.end) - 1  # last token starting before the span ends
        if first > last:
            stats["dropped"] += 1
            log.warning("%s: span [%d, %d) %s covers no token; dropped", ex.id, span.start, span.end, span.label)
            continue
        if taken.intersection(range(first, last + 1)):
            stats["dropped"] += 1
            log.warning("%s: span [%d, %d) %s overlaps another entity; dropped", ex.id, span.start, span.end, span.label)
            continue
        if offsets[first][0] != span.start or offsets[last][1] != span.end:
            stats["snapped"] += 1
            log.warning("%s: span [%d, %d) %s is not on token boundaries; snapped outward to [%d, %d)",
                        ex.id, span.start, span.end, span.label, offsets[first][0], offsets[last][1])
        taken.update(range(first, last + 1))
        out.append((first, last + 1, span.label))
    return out


def write_conll(examples: Iterable[Example], path: str | Path, scheme: str = "iob2",
                sep: str | None = None) -> dict[str, int]:
    """Write ``TOKEN TAG`` lines, a blank line between examples; return counts incl. snapped/dropped spans.

    ``sep``: a space, or a tab when a label holds one (``B-Person Name``: ``read_conll`` splits a line with
    a tab on tabs only, so the tag reads back whole) or a token is a space; None picks. A written word
    never holds whitespace; a space token is always followed by a tab.

    Tokens come from ``extra["tokens"]`` when a reader kept them, else from ``tokenize``; an example
    whose entity ends inside a Korean word is written char by char (see ``_conll_tokens``). A span
    that does not fall on token boundaries is widened to the tokens it touches (counted in
    ``snapped``); one that overlaps an earlier entity cannot be tagged and is ``dropped``.
    """
    scheme = check_scheme(scheme)
    examples = list(examples)
    stats = {"examples": 0, "tokens": 0, "entities": 0, "snapped": 0, "dropped": 0, "empty": 0, "retokenized": 0,
             "merged": 0}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:  # atomic, as write_jsonl: a failure half-way leaves no partial file that reads as a shorter dataset
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            _write_conll_lines(f, examples, scheme, sep, stats)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if stats["snapped"] or stats["dropped"]:
        log.warning("%s: %d spans snapped to token boundaries, %d dropped", path, stats["snapped"], stats["dropped"])
    if stats["empty"]:
        log.warning("%s: %d examples with an empty text left out (CoNLL cannot hold an empty sentence)", path,
                    stats["empty"])
    if stats["merged"]:
        log.warning("%s: %d pairs of neighbouring entities of one label read back as one (the IO scheme has no B- tag; "
                    "use iob2)", path, stats["merged"])
    if stats["retokenized"]:
        log.warning("%s: %d examples had a 'tokens' field that is not sorted character offsets covering the text; "
                    "tokenized again", path, stats["retokenized"])
    return stats


def _usable_tokens(text: str, tokens: Any) -> list[tuple[int, int]] | None:
    """``tokens`` as sorted, non-overlapping ``(start, end)`` offsets into ``text`` covering every non-space
    character, or None: a field of words (``["Zoë", "lebt"]``), spaCy objects or offsets that skip text
    would reorder the words or lose text silently."""
    try:
        spans = [(int(s), int(e)) for s, e in tokens]
    except (TypeError, ValueError):
        return None
    covered = 0
    for s, e in spans:
        if not (covered <= s < e <= len(text)) or text[covered:s].strip():
            return None
        covered = e
    return spans if not text[covered:].strip() else None


def _conll_tokens(ex: Example, stats: dict[str, int]) -> list[tuple[int, int]]:
    """The tokens ``write_conll`` writes for ``ex``: its words, or its characters where an entity ends inside a
    word beside a Hangul (or CJK, Thai) character.

    Why characters: Korean puts spaces between phrases, so an entity ends inside one (김철수|는, 서울|에); as
    words it was widened to "김철수는". Split into "김철수" "는" instead, the entity would read back exact but
    the text would not ("김철수 는": CoNLL cannot say that two tokens touch). Characters, with each space a
    token of its own, are the layout of char-level Korean files (KLUE); ``read_conll`` joins such a sentence
    without separators, so text and entities read back exactly, except that a tab or line break in the text
    reads back as a space (no CoNLL token can hold one) and a U+FEFF is left out (it starts no line).
    """
    given = ex.extra.get("tokens")
    offsets = _usable_tokens(ex.text, given) if given else None
    if given and offsets is None:
        stats["retokenized"] += 1
    offsets = [(s, e) for s, e in offsets or tokenize(ex.text) if ex.text[s:e].strip()]
    starts = [s for s, _ in offsets]
    for b in {p for span in ex.entities for p in (span.start, span.end)}:
        k = bisect.bisect_right(starts, b) - 1
        if k >= 0 and offsets[k][0] < b < offsets[k][1] and NO_SPACE_SCRIPTS.search(ex.text[b - 1:b + 1]):
            return _characters(ex.text)
    return offsets


def _characters(text: str) -> list[tuple[int, int]]:
    """Offsets of each user-perceived character of ``text`` (a letter with its marks, an emoji sequence, a flag),
    spaces included: a space is a token of its own, and a mark is never glued to one."""
    out: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if ch == "\ufeff":
            continue
        if out and not ch.isspace() and not text[out[-1][0]].isspace() and _one_character(text[out[-1][0]:i + 1]):
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _written(token: str) -> str:
    """A token as a CoNLL line can hold it: a word without whitespace, a space token as a space (not a tab or a
    line break, which would end the column or the line)."""
    if token.strip():
        return "".join(token.split())
    return re.sub(r"[\t\n\r]", " ", token)


def _write_conll_lines(f: Any, examples: Iterable[Example], scheme: str, sep: str | None,
                       stats: dict[str, int]) -> None:
    planned = [(ex, _conll_tokens(ex, stats)) for ex in examples]
    if sep is None:  # a space token needs a tab after it: a line "  O" splits as the one column "O"
        spaced = any(not ex.text[s:e].strip() for ex, offsets in planned for s, e in offsets)
        labels = any(re.search(r"\s", sp.label) for ex, _ in planned for sp in ex.entities)
        sep = "\t" if spaced or labels else " "
    for ex, offsets in planned:
        if not offsets:  # an empty text: CoNLL has no empty sentence (a blank block reads back as nothing)
            stats["empty"] += 1
            continue
        spans = _token_spans(ex, offsets, stats)
        if scheme == "io":  # IO has no B-: two neighbours of one label read back as one entity
            ordered = sorted(spans)
            stats["merged"] += sum(a[1] == b[0] and a[2] == b[2] for a, b in zip(ordered, ordered[1:]))
        tags = token_spans_to_tags(spans, len(offsets), scheme)
        for (s, e), tag in zip(offsets, tags):
            token = _written(ex.text[s:e])
            f.write(token + (sep if token.strip() else "\t") + f"{tag}\n")
        f.write("\n")
        stats["examples"] += 1
        stats["tokens"] += len(offsets)
        stats["entities"] += len(spans)
