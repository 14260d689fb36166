"""Cut a long text into pieces at sentence ends, and crop examples to a piece.

The LLM teacher asks about a long text piece by piece, and the RE student reads a long text's
entity pairs within the same kind of pieces (so it scores the pairs the teacher labels).

LLMaAA prompts one sentence at a time; Label Studio users bring paragraphs and whole documents.
One prompt per document overflows a small model's context (the request fails) and, where it fits,
costs recall: models list the first entities of a long text and stop. So an NER text longer than
``max_chars`` is asked about piece by piece. Pieces are packed from whole sentences (ends: ``.!?``
followed by a space, the CJK full stops ``。！？``, line breaks), so an entity never straddles two
pieces unless a single sentence is itself longer than ``max_chars``. The dot of "J. R. R. Tolkien" or
"Mr. Smith" (see ``_abbreviation``) ends no sentence; that of "pears etc. Jean" or "U.S. Steel" only a
weak one: a sentence too long for a piece is cut at its last such dot before the limit, else at its last space
(or CJK comma, semicolon, colon), else at the limit, never inside a character's combining marks or
an emoji sequence. Offsets are always those of the original text.
RE asks about a pair of entities in the piece that holds both (pairs in different pieces of a long
document are not asked: sentence-level RE has nothing to say about them).
"""

from __future__ import annotations

import bisect
import dataclasses
import re

from llmaaa.data.schema import Example
from llmaaa.data.scripts import joins_previous

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")


def _sentences(text: str) -> list[tuple[int, int, list[int]]]:
    """``(start, end, weak)`` sentences covering ``text``; ``weak``: the ends inside one at an abbreviation's dot
    followed by a capital ("U.S. Steel", "etc. Jean"), which may end a sentence or not. An abbreviation before
    anything else ("Jan. 2020", "Dr. 李") ends none."""
    out: list[tuple[int, int, list[int]]] = []
    start, weak = 0, []
    for m in _SENTENCE_END.finditer(text):
        if m.end() <= start:
            continue
        kind = _abbreviation(text, m.start() - 1) if text[m.start() - 1:m.start()] == "." and "\n" not in m.group() else None
        if kind is not None:
            if kind == "weak" and text[m.end():m.end() + 1].isupper():
                weak.append(m.end())
            continue
        out.append((start, m.end(), weak))
        start, weak = m.end(), []
    if start < len(text):
        out.append((start, len(text), weak))
    return out


# words written with a dot that ends no sentence, matched with their case ("no." ends a sentence, "No." is a
# number): titles and the like, always followed by the rest of a name or a number (never a break), and words
# that often end a sentence too (a weak break before a capital: "pears etc. Jean", "Acme Co. The")
_TITLES = frozenset("Mr Mrs Ms Dr Prof St Mt Gen Col Sen Rep Gov Lt Capt Rev No Nr Mme Mlle Sra Srta Dra".split())
_ENDINGS = frozenset("Jr Sr Inc Ltd Co Corp vs etc Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec bzw usw".split())


def _abbreviation(text: str, dot: int) -> str | None:
    """Whether the dot at ``text[dot]`` ends an abbreviation, not (surely) a sentence: "title" for an initial
    beside another ("J. R. R. Tolkien") or a title ("Mr. Smith", "Dr. No"), never a break; "weak" for a lone
    initial ("John F. Kennedy", but also "World War I."), a dotted acronym ("U.S. Steel", "e.g. Paris") or a
    word of ``_ENDINGS`` ("pears etc. Jean"), which may end a sentence and is cut only in a sentence too long
    for one piece, before a capital; None for a sentence's end.
    """
    m = _LAST_WORD.search(text, max(0, dot - 12), dot)
    word = m.group() if m.start() > dot - 12 or m.start() == 0 else ""  # 12 word characters: no abbreviation
    if word in _TITLES or (len(word) == 1 and word.isupper() and (
            _INITIAL_BEFORE.search(text, 0, m.start()) or _INITIAL_AFTER.match(text, dot + 1))):
        return "title"  # "J. R. R. Tolkien": an initial beside another
    if len(word) == 1 and word.isupper():
        return "weak"  # "John F. Kennedy" or "World War I. Barack", "vitamin C. Maria"
    return "weak" if _DOTTED.fullmatch(word) or word in _ENDINGS else None


_LAST_WORD = re.compile(r"[\w.]*$")
_INITIAL_BEFORE = re.compile(r"(?:^|\s)[A-Z]\.\s+$")
_INITIAL_AFTER = re.compile(r"\s+[A-Z]\.")
_DOTTED = re.compile(r"(?:[^\W\d_]{1,3}\.)+[^\W\d_]{1,3}")  # "U.S", "e.g", "Ph.D" before the last dot; no "example.com"


# where an over-long sentence may be cut: after whitespace, or after a CJK comma, enumeration comma,
# semicolon or colon (Chinese runs clauses together with these; a cut at the bare limit splits names)
_SOFT_BREAK = re.compile(r"\s+|[，、；：]")


def _cut_long(text: str, start: int, end: int, max_chars: int, weak: list[int]) -> list[tuple[int, int]]:
    """A sentence longer than ``max_chars``: cut at its last weak end before the limit, else after the last soft
    break, else at the limit."""
    out = []
    while end - start > max_chars:
        limit = start + max_chars
        i = bisect.bisect_right(weak, limit)
        if i and weak[i - 1] > start:
            cut = weak[i - 1]
        else:
            breaks = [m.end() for m in _SOFT_BREAK.finditer(text, start + 1, limit)]
            cut = breaks[-1] if breaks else _grapheme_start(text, start, limit)
        out.append((start, cut))
        start = cut
    out.append((start, end))
    return out


def _grapheme_start(text: str, start: int, cut: int) -> int:
    """``cut`` moved back so it does not split a character from its combining marks or an emoji sequence.

    NFD text ("e" + U+0301) and emoji joined by U+200D or followed by a variation selector or skin
    tone would otherwise start the next piece with a dangling mark, and a mention there cannot match.
    """
    while cut - 1 > start and (joins_previous(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    return cut




def segments(text: str, max_chars: int) -> list[tuple[int, int]]:
    """``(start, end)`` pieces covering ``text`` in order, each at most ``max_chars`` long.

    ``max_chars <= 0`` or a short text: one piece. Whitespace-only pieces are left out (nothing to
    ask), so an empty text has none.
    """
    if not text.strip():
        return []
    if max_chars <= 0 or len(text) <= max_chars:
        return [(0, len(text))]
    pieces: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for s, e, weak in _sentences(text):
        for s2, e2 in _cut_long(text, s, e, max_chars, weak):
            if cur is not None and e2 - cur[0] <= max_chars:
                cur = (cur[0], e2)
            else:
                if cur is not None:
                    pieces.append(cur)
                cur = (s2, e2)
    if cur is not None:
        pieces.append(cur)
    return [(s, e) for s, e in pieces if text[s:e].strip()]


def crop(ex: Example, start: int, end: int, *, suffix: str = "") -> Example:
    """``ex`` restricted to ``text[start:end]``: entities inside it, shifted; relations dropped (NER use)."""
    spans = tuple(dataclasses.replace(s, start=s.start - start, end=s.end - start) for s in ex.entities
                  if start <= s.start and s.end <= end)
    return Example(ex.id + suffix, ex.text[start:end], spans, (), dict(ex.extra))


def crop_pair(ex: Example, head: int, tail: int, max_chars: int,
              pieces: list[tuple[int, int]] | None = None) -> tuple[Example, int, int] | None:
    """``ex`` cropped to the piece holding entities ``head`` and ``tail``, with their new indices.

    A text within ``max_chars`` comes back whole; None when the two entities are in different pieces.
    ``pieces``: ``segments(ex.text, max_chars)`` when the caller crops many pairs of one text.
    """
    if max_chars <= 0 or len(ex.text) <= max_chars:
        return ex, head, tail
    h, t = ex.entities[head], ex.entities[tail]
    piece = holding(pieces if pieces is not None else segments(ex.text, max_chars),
                    min(h.start, t.start), max(h.end, t.end))
    if piece is None:
        return None
    start, end = piece
    inside = [i for i, s in enumerate(ex.entities) if start <= s.start and s.end <= end]
    return crop(ex, start, end), inside.index(head), inside.index(tail)


def holding(pieces: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The piece that holds the characters ``start:end``, or None when they cross a piece boundary."""
    return next(((s, e) for s, e in pieces if s <= start and end <= e), None)


def concat(examples: list[Example], ex_id: str, sep: str = " ") -> Example:
    """The examples' texts joined by ``sep`` into one document, spans shifted and relations re-indexed.

    The inverse of cutting a document into sentences: benchmarks build long documents from
    sentence-level gold this way, so every gold label stays where it was.
    """
    text, spans, relations = "", [], []
    for ex in examples:
        if text:
            text += sep
        base = len(spans)
        spans += [dataclasses.replace(s, start=s.start + len(text), end=s.end + len(text)) for s in ex.entities]
        relations += [dataclasses.replace(r, head=r.head + base, tail=r.tail + base) for r in ex.relations]
        text += ex.text
    return Example(ex_id, text, tuple(spans), tuple(relations))
