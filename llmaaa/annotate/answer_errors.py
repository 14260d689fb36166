"""How reading an LLM answer fails: wholly (``AnswerError``) or in part (``ParseStats``).

An answer that cannot be used at all raises ``AnswerError`` and the teacher re-asks with its message;
what a usable answer lost or needed repaired (unknown labels, mentions not in the text, overlaps,
synonyms) is counted in ``ParseStats`` and summed over a run, so a user sees what was lost instead of
labels silently going missing. Shared by every reader of an answer and by the teacher.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class AnswerError(ValueError):
    """An answer that cannot be used at all; the message is sent back to the LLM on re-ask."""


class TruncatedAnswer(AnswerError):
    """An answer the server cut off (``finish_reason`` "length", "content_filter", ...) before it ended.

    What parses of it is a prefix: the entities after the cut were never written, so taking it would
    pass part of a text's entities off as all of them. ``futile``: asking again at the same cap ends
    the same way (the cut fell inside the model's reasoning), so the answer is not re-asked.
    """

    def __init__(self, message: str, *, futile: bool = False, hint: str = "") -> None:
        super().__init__(message)
        self.futile = futile
        self.hint = hint  # for the user, in the recorded error; not for the model, in the re-ask


class FallbackAnswer(AnswerError):
    """A usable answer that is probably not what the model meant: worth a re-ask, and when the re-asks run
    out it stands as what it is (``fallback``), not as a failure: a text the model keeps misreading is no
    worse labeled than it was before the re-ask.
    """

    def __init__(self, message: str, fallback: Any) -> None:
        super().__init__(message)
        self.fallback = fallback  # what the parse made of the answer, used if the re-asks run out


class UnalignedAnswer(FallbackAnswer):
    """An answer none of whose mentions occurs in the text: often the entities of a demonstration
    sentence, or names the model rewrote. Its fallback: no spans, the mentions counted as not in the text.
    """


class UnknownLabelsAnswer(FallbackAnswer):
    """An answer every item of which has a type outside the label set (the labels translated, renamed,
    or with words of their own): taken as "no entities" it would teach the student that the text has
    none. Its fallback is just that, for a model that insists (it found only types the user has not got).
    """


@dataclass
class ParseStats:
    """What parsing dropped or repaired for one answer (summed over a run by the teacher)."""

    unknown_labels: Counter = field(default_factory=Counter)  # label -> times dropped
    not_in_text: int = 0  # mentions that occur nowhere in the text
    overlaps: int = 0  # spans dropped because a longer one overlapped them
    conflicts: int = 0  # the same span returned with two types
    fuzzy_matches: int = 0  # mentions found only case/whitespace-insensitively
    malformed: int = 0  # list items without a string span and type
    synonym_labels: int = 0  # labels taken by synonym or BIO prefix ("PERSON" -> PER, "B-LOC" -> LOC)

    def add(self, other: "ParseStats") -> None:
        self.unknown_labels.update(other.unknown_labels)
        self.not_in_text += other.not_in_text
        self.overlaps += other.overlaps
        self.conflicts += other.conflicts
        self.fuzzy_matches += other.fuzzy_matches
        self.malformed += other.malformed
        self.synonym_labels += other.synonym_labels

    def to_dict(self) -> dict[str, Any]:
        return {"unknown_labels": dict(self.unknown_labels), "not_in_text": self.not_in_text,
                "overlaps": self.overlaps, "conflicts": self.conflicts, "fuzzy_matches": self.fuzzy_matches,
                "malformed": self.malformed, "synonym_labels": self.synonym_labels}
