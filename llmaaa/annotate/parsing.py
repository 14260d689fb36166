"""Turn an LLM's free-form answer into labels: tolerant JSON extraction and exact char alignment.

The teacher asks for the paper's formats: NER, a JSON list ``[{"span": "...", "type": "LABEL"}]``;
RE, the relation label alone. Small and large models alike wrap JSON in code fences or prose, change
the case of labels, invent labels, and quote mentions with different spacing or case. Everything
we can repair cheaply is repaired; what cannot be is raised as ``AnswerError`` (the teacher re-asks
with that message) or dropped and *counted* in ``ParseStats`` so a user sees what was lost.

Alignment rule for a mention string that occurs several times in the text (decided here, tested in
tests/annotate/test_parsing.py):
- all listings of the string carry one type -> *every* occurrence gets that type. LLMs list a
  repeated entity once ("Germany" twice in a sentence comes back once), and gold annotation labels
  every occurrence, so labeling only the first would cost recall on exactly the easy cases;
- listings with different types (``Washington`` PER, then ``Washington`` LOC) -> the i-th listing
  labels the i-th occurrence, in order; the answer order is the only signal which one was meant.
Matching first tries the exact string, then whitespace- and case-insensitive, then insensitive to
Unicode normalization, full width and typographic quotes/dashes (NFD text vs an NFC answer,
"Ｔｏｋｙｏ" vs "Tokyo"); the span is always mapped back to the user's exact characters. In scripts written
with spaces a match must sit on word boundaries ("US" never matches inside "USA"), while in CJK
(and Thai) text, which has no spaces, any position is allowed. Overlapping spans: the longer wins;
the same span with two types keeps the first listed (a counted conflict).
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from llmaaa.data.schema import NO_RELATION, Span


class AnswerError(ValueError):
    """An answer that cannot be used at all; the message is sent back to the LLM on re-ask."""


@dataclass
class ParseStats:
    """What parsing dropped or repaired for one answer (summed over a run by the teacher)."""

    unknown_labels: Counter = field(default_factory=Counter)  # label -> times dropped
    not_in_text: int = 0  # mentions that occur nowhere in the text
    overlaps: int = 0  # spans dropped because a longer one overlapped them
    conflicts: int = 0  # the same span returned with two types
    fuzzy_matches: int = 0  # mentions found only case/whitespace-insensitively
    malformed: int = 0  # list items without a string span and type

    def add(self, other: "ParseStats") -> None:
        self.unknown_labels.update(other.unknown_labels)
        self.not_in_text += other.not_in_text
        self.overlaps += other.overlaps
        self.conflicts += other.conflicts
        self.fuzzy_matches += other.fuzzy_matches
        self.malformed += other.malformed

    def to_dict(self) -> dict[str, Any]:
        return {"unknown_labels": dict(self.unknown_labels), "not_in_text": self.not_in_text,
                "overlaps": self.overlaps, "conflicts": self.conflicts, "fuzzy_matches": self.fuzzy_matches,
                "malformed": self.malformed}


_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    fixed = _TRAILING_COMMA.sub(r"\1", text)
    try:
        return json.loads(fixed)
    except json.JSONDecodeError:
        pass
    try:  # single quotes, True/False/None: Python literal syntax
        return ast.literal_eval(fixed)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise AnswerError("the answer is not valid JSON") from None


def extract_json(answer: str) -> Any:
    """The first JSON value in ``answer``: inside a code fence, or the outermost ``[...]``/``{...}``."""
    candidates = [m.group(1) for m in _FENCE.finditer(answer)] + [answer]
    for text in candidates:
        text = text.strip()
        if not text:
            continue
        starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
        if not starts:
            continue
        start = min(starts)
        close = "]" if text[start] == "[" else "}"
        end = text.rfind(close)
        while end > start:
            try:
                return _loads(text[start : end + 1])
            except AnswerError:
                end = text.rfind(close, start, end)  # prose after the JSON may contain the bracket
    raise AnswerError(
        'the answer holds no JSON; reply with only a JSON list like [{"span": "...", "type": "..."}]'
    )


def _label_lookup(labels: Iterable[str]) -> dict[str, str]:
    return {l.casefold(): l for l in labels}


def _as_items(data: Any) -> list[Any]:
    """Unwrap ``{"entities": [...]}`` (JSON mode forces an object) and ``{"PER": ["x"], ...}`` shapes."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if ("span" in data or "text" in data) and ("type" in data or "label" in data):
            return [data]
        if len(lists) == 1 and len(data) == 1 and not all(isinstance(m, str) for m in lists[0]):
            return lists[0]  # {"entities": [...]}
        if data and all(isinstance(v, (list, str)) for v in data.values()):  # {"LABEL": [mentions]}
            return [{"span": m, "type": k} for k, v in data.items() for m in ([v] if isinstance(v, str) else v)]
        if not data:
            return []
    raise AnswerError('expected a JSON list of objects like [{"span": "...", "type": "..."}]')


def parse_ner_answer(answer: str, labels: Sequence[str], stats: ParseStats | None = None) -> list[tuple[str, str]]:
    """``(mention, label)`` pairs in answer order; unknown labels dropped and counted in ``stats``.

    Raises ``AnswerError`` when the answer is not JSON or not list-of-objects shaped.
    """
    stats = stats if stats is not None else ParseStats()
    lookup = _label_lookup(labels)
    out: list[tuple[str, str]] = []
    items = _as_items(extract_json(answer))
    malformed = []
    for item in items:
        mention = label = None
        if isinstance(item, dict):
            mention = item.get("span", item.get("text", item.get("entity")))
            label = item.get("type", item.get("label"))
        elif isinstance(item, (list, tuple)) and len(item) == 2:  # [["Anna", "PER"], ...]: the pair is clear
            mention, label = item
        if not isinstance(mention, str) or not isinstance(label, str):
            malformed.append(item)  # one bad item costs that item, not the whole answer
            continue
        canonical = lookup.get(label.strip().casefold())
        if canonical is None:
            stats.unknown_labels[label] += 1
            continue
        mention = mention.strip().strip("\"'")
        if mention:
            out.append((mention, canonical))
    if malformed and len(malformed) == len(items):
        raise AnswerError(f'each list item must be an object with string "span" and "type", got {malformed[0]!r}')
    stats.malformed += len(malformed)
    return out


def parse_re_answer(answer: str, labels: Sequence[str]) -> str:
    """The relation label named in ``answer`` (case-insensitive; a JSON wrapper or prose tolerated)."""
    classes = [NO_RELATION, *[l for l in labels if l != NO_RELATION]]
    lookup = _label_lookup(classes)
    text = answer.strip()
    try:  # {"relation": "Work_For"} or "Work_For" in JSON mode
        data = extract_json(text) if text[:1] in "[{" or "```" in text else None
    except AnswerError:
        data = None
    if isinstance(data, dict):
        text = str(next(iter(data.values()), "")) if data else ""
    elif isinstance(data, list) and data:
        text = str(data[0])
    token = text.strip().strip("`\"'.:").strip()
    if token.casefold() in lookup:
        return lookup[token.casefold()]
    # prose: the longest label named as a whole word wins (Located_In before In-ish substrings)
    found = [c for c in sorted(classes, key=len, reverse=True)
             if re.search(rf"(?<![\w]){re.escape(c)}(?![\w])", text, re.I)]
    if found:
        return found[0]
    if re.search(r"\b(none|no relation|no_relation|unrelated)\b", text, re.I):
        return NO_RELATION
    raise AnswerError(f"answer with exactly one of these labels and nothing else: {', '.join(classes)}")


# --- alignment -----------------------------------------------------------------------------------

_NO_SPACE_SCRIPTS = re.compile(
    "[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]"
)


def _wordy(ch: str) -> bool:
    """A character that continues a word in a script written with spaces."""
    return (ch.isalnum() or ch == "_") and not _NO_SPACE_SCRIPTS.match(ch)


def _on_boundaries(text: str, start: int, end: int) -> bool:
    if start > 0 and _wordy(text[start]) and _wordy(text[start - 1]):
        return False
    if end < len(text) and _wordy(text[end - 1]) and _wordy(text[end]):
        return False
    return True


def find_occurrences(text: str, mention: str, folded: "FoldedText | None" = None) -> tuple[list[tuple[int, int]], bool]:
    """Non-overlapping ``(start, end)`` of ``mention`` in ``text`` and whether the match was fuzzy.

    ``folded``: one ``FoldedText(text)`` shared by the caller's lookups in the same text (it folds once).
    """
    exact = [(m.start(), m.end()) for m in re.finditer(re.escape(mention), text)]
    hits = [o for o in exact if _on_boundaries(text, *o)]
    if hits:
        return hits, False
    words = mention.split()
    if not words:
        return [], False
    pattern = r"\s*".join(re.escape(w) for w in words)  # "New  York" / "NewYork" / "new york"
    fuzzy = [(m.start(), m.end()) for m in re.finditer(pattern, text, re.I)]
    fuzzy = [o for o in fuzzy if _on_boundaries(text, *o)]
    if fuzzy:
        return fuzzy, True
    return (folded or FoldedText(text)).find(mention), True


# typographic variants LLMs silently "correct" when they copy a mention
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " "})


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", s).casefold().translate(_TYPOGRAPHY)


class FoldedText:
    """``text`` folded for matching that ignores Unicode form, width and typography, with exact offsets back.

    A text from a PDF or macOS is often NFD ("e" + combining accent) while the LLM answers NFC;
    CJK text mixes full-width Latin and digits ("Ｔｏｋｙｏ", "２０２３") that models copy half-width;
    curly apostrophes come back straight. Each base character with its combining marks is folded
    (NFKC, casefold) as one cluster, and every folded character remembers the cluster's span in
    the original, so the span we return is always a slice of the user's text.
    """

    def __init__(self, text: str):
        self.text = text
        self._folded: str | None = None  # built on the first find(): most mentions match before this tier
        self._origin: list[tuple[int, int]] = []  # folded char -> its cluster's (start, end) in ``text``

    def _build(self) -> str:
        pieces: list[str] = []
        text, i = self.text, 0
        while i < len(text):
            j = i + 1
            while j < len(text) and unicodedata.combining(text[j]):
                j += 1
            piece = _fold(text[i:j])
            pieces.append(piece)
            self._origin += [(i, j)] * len(piece)
            i = j
        return "".join(pieces)

    def find(self, mention: str) -> list[tuple[int, int]]:
        words = _fold(mention).split()
        if not words:
            return []
        if self._folded is None:
            self._folded = self._build()
        hits = []
        for m in re.finditer(r"\s*".join(re.escape(w) for w in words), self._folded):
            if m.end() > m.start():
                span = (self._origin[m.start()][0], self._origin[m.end() - 1][1])
                if _on_boundaries(self.text, *span):
                    hits.append(span)
        return hits


def align_mentions(text: str, mentions: Sequence[tuple[str, str]], stats: ParseStats | None = None) -> list[Span]:
    """Exact char spans for ``(mention, label)`` pairs, by the rule in the module docstring."""
    stats = stats if stats is not None else ParseStats()
    by_string: dict[str, list[tuple[int, str]]] = {}
    for order, (mention, label) in enumerate(mentions):
        by_string.setdefault(mention, []).append((order, label))
    candidates: list[tuple[int, int, str, int]] = []  # start, end, label, listing order
    folded = FoldedText(text)  # lazy: folded once, only if some mention needs it
    for mention, listings in by_string.items():
        occurrences, fuzzy = find_occurrences(text, mention, folded)
        if not occurrences:
            stats.not_in_text += len(listings)
            continue
        stats.fuzzy_matches += int(fuzzy)
        if len({label for _, label in listings}) == 1:
            order, label = listings[0]
            # listed again with the same type: a duplicate, it adds no span
            candidates += [(s, e, label, order) for s, e in occurrences]
        else:
            for (order, label), (s, e) in zip(listings, occurrences):
                candidates.append((s, e, label, order))
            # more typed listings than occurrences: the first listed type keeps the span
            stats.conflicts += max(0, len(listings) - len(occurrences))
    return _resolve_overlaps(candidates, stats)


def _resolve_overlaps(candidates: list[tuple[int, int, str, int]], stats: ParseStats) -> list[Span]:
    kept: list[tuple[int, int, str, int]] = []
    for cand in sorted(candidates, key=lambda c: (-(c[1] - c[0]), c[3], c[0])):
        s, e = cand[0], cand[1]
        clash = next((k for k in kept if k[0] < e and s < k[1]), None)
        if clash is None:
            kept.append(cand)
        elif (clash[0], clash[1]) == (s, e):
            if clash[2] != cand[2]:
                stats.conflicts += 1
        else:
            stats.overlaps += 1
    return [Span(s, e, label) for s, e, label, _ in sorted(kept)]
