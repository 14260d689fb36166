"""A draft the model revised in its NER answer: which JSON list is its last word.

"Draft: [...] Wait, Monday is no entity. Final answer: [...]" holds two lists; ``parsing._json_items``
finds the cue (``_revision``), reads whether the revision adds to the first list or replaces it
(``_adds``), and merges them (``_corrected``). Kept apart from ``parsing`` (reading an answer's items
and mentions) because telling a revision from prose is a concept of its own.
"""

from __future__ import annotations

import re
from typing import Any

from llmaaa.annotate.answer_lines import item_pair
from llmaaa.annotate.jsonrepair import strip_reasoning
from llmaaa.annotate.labels import LabelResolver


def _corrected(before: list[Any], revised: list[Any], resolve: LabelResolver, keep_rest: bool = False) -> list[Any]:
    """The answer after a revision: the revised list, or, when it only re-types some mentions of the first
    list ("Actually, Paris should be LOC: [Paris LOC]"), the first list with those mentions re-typed.

    A revised list that keeps any mention's type ("Wait, Monday is no entity. Final: [Anna PER, Paris LOC]")
    is the model's whole last word, removals included. With ``keep_rest`` (the revision says it adds) the
    first list stays, its mentions the revision names re-typed, and the new mentions follow it.
    """
    def key(item: Any) -> tuple[Any, Any]:
        mention, label = item_pair(item, resolve)
        return (mention.strip().casefold() if isinstance(mention, str) else mention,
                resolve(label) if isinstance(label, str) else None)

    old = {key(i)[0]: key(i)[1] for i in before}
    new = {key(i)[0]: key(i)[1] for i in revised}
    if keep_rest:
        by_mention = {key(i)[0]: i for i in revised}
        return [by_mention.get(key(i)[0], i) for i in before] + [i for i in revised if key(i)[0] not in old]
    if not (len(revised) < len(before) and new.keys() <= old.keys() and all(old[m] != t for m, t in new.items())):
        return revised  # a mention kept with its type: the revised list is the whole answer, removals included
    by_mention = {key(i)[0]: i for i in revised}
    return [by_mention.get(key(i)[0], i) for i in before]


# also an "Answer:" heading after a draft: "Candidates: [...]. Monday is a date.\n\nAnswer: [...]"
_REVISION = re.compile(r"\b(?:final\s+(?:answer|list|output|result)|correct(?:ed|ion)|revised|updated|wait|actually)\b"
                       r"|^[\W_]*answer\s*[:：]", re.I | re.M)


# a revision that adds to the first list: "I also missed", "Berlin should be included too", "Berlin is missing"
_ADDITION = re.compile(r"\b(?:also|too|as well|additionally|additional|plus|missed|missing|forgot|forgotten"
                       r"|omitted|left out|add|adding)\b", re.I)


def _adds(revised: str, before: list[Any], items: list[Any], resolve: LabelResolver) -> bool:
    """Whether the words between a revision cue and its list say the list adds to the first one.

    Read without the names the revision lists ("I also missed Only Fools", "... No Doubt", "... Go"), and
    not when those words name a mention of the first list that the new list leaves out ("Monday should go",
    "Monday is no entity"): that revision takes something away, and its list is the whole answer."""
    words = re.split(r"[\[{]", revised, maxsplit=1)[0]
    named = {m.strip().casefold() for m, _ in (item_pair(i, resolve) for i in items) if isinstance(m, str) and m.strip()}
    for name in sorted(named, key=len, reverse=True):
        words = re.sub(r"(?<!\w)" + re.escape(name) + r"(?!\w)", " ", words, flags=re.I)
    if not _ADDITION.search(words):
        return False
    dropped = {m.strip().casefold() for m, _ in (item_pair(i, resolve) for i in before)
               if isinstance(m, str) and m.strip()} - named
    return not any(re.search(r"(?<!\w)" + re.escape(m) + r"(?!\w)", words, re.I) for m in dropped)


def _revision(answer: str) -> tuple[str, str | None]:
    """The text before and after the last "Final answer" / "Correction" / "Wait" that follows some JSON and
    is followed by some, else ``(answer, None)``."""
    text = strip_reasoning(answer)
    first_json = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    last = None
    for m in _REVISION.finditer(text):
        head = text[: m.start()]
        # after a closed JSON value and outside its strings: "Correction Corp" inside a span is no revision
        if first_json >= 0 and m.start() > first_json and not _in_string(head, first_json) and head.rstrip()[-1:] not in "\"'":
            if any(ch in head[first_json:] for ch in "]}"):
                last = m
    if last is None or not any(ch in text[last.end():] for ch in "[{"):
        return answer, None
    return text[: last.start()], text[last.end():]


def _in_string(head: str, start: int) -> bool:
    """Whether the end of ``head`` lies inside a quoted string of the JSON (or Python literal) from ``start``.

    Single quotes count too: a Python-style answer ``[{'span': 'The Revised Standard Version'}]`` holds
    "Revised" inside a string, no revision. A single quote opens a string only inside brackets and after a
    non-word character, and closes one only before one, so "O'Neill" inside a string and "don't" or "the
    '90s" in the prose between lists are apostrophes.
    """
    quote = None
    depth = 0  # brackets open: a single quote opens a string only inside a literal, not in prose ("the '90s")
    i, n = start, len(head)
    while i < n:
        ch = head[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote and (quote == '"' or i + 1 >= n or not head[i + 1].isalnum()):
                quote = None
        elif ch == '"' or (ch == "'" and depth > 0 and (i == 0 or not head[i - 1].isalnum())):
            quote = ch
        elif ch in "[{":  # not "(": prose has parentheses ("(the '90s style)"), a literal's tuples sit in a list
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return quote is not None
