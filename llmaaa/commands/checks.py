"""Checks the commands run on a user's files before spending time on them.

Why here and not in ``read_jsonl``: an empty JSONL file is a valid (empty) state for the loop's own
files, but as a command's ``--input``/``--train``/``--gold`` it is always a mistake (a wrong path, an
export that failed), and without a check it surfaced as a 0-example output or an all-zero score.
"""

from __future__ import annotations

import logging
from typing import Sequence

from llmaaa.data.jsonl import JsonlError
from llmaaa.data.schema import Example, LabelSet

log = logging.getLogger(__name__)


def require_examples(examples: Sequence[Example], path: str, option: str) -> Sequence[Example]:
    """``examples`` unchanged; ``JsonlError`` naming the option and file when there are none."""
    if not examples:
        raise JsonlError(f"{option} {path}: no examples (the file is empty or holds only blank lines)")
    return examples


def _labels(examples: Sequence[Example], task: str) -> set[str]:
    found = LabelSet.from_examples(examples)
    return set(found.entity_labels if task == "ner" else found.relation_labels)


def check_label_overlap(task: str, ours: Sequence[Example], gold: Sequence[Example], what: str, gold_path: str,
                        *, disjoint_is_error: bool) -> None:
    """Log labels found on one side only; with ``disjoint_is_error``, raise when no label is shared.

    Why: a gold file labeled ``PER`` scored against ``person_name`` predictions (another export,
    another naming) gave F1 0 with no hint; a label missing on one side is normal for rare labels,
    but two label sets with nothing in common are a mismatch.
    """
    mine, theirs = _labels(ours, task), _labels(gold, task)
    if mine and theirs and not mine & theirs:
        msg = (f"the labels of {what} ({', '.join(sorted(mine))}) and of {gold_path} ({', '.join(sorted(theirs))}) "
               "have nothing in common; use the same label names in both files")
        if disjoint_is_error:
            raise JsonlError(msg)
        log.warning(msg)
        return
    if mine - theirs:
        log.warning("labels in %s but never in %s: %s", what, gold_path, ", ".join(sorted(mine - theirs)))
    if theirs - mine:
        log.warning("labels in %s but never in %s: %s", gold_path, what, ", ".join(sorted(theirs - mine)))
