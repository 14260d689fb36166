"""What a task asks beyond its text (its given entities and pairs), as keys that tell an edit of them.

``given_fingerprint``: the raw ``data.entities`` / ``data.pairs`` (no label config), stored with each task, so
an edit drops its stored prediction; ``given_key``: an example's given spans and pairs as the config reads
them, so an LLM label made for entities or pairs since edited stops counting. Kept apart from ``state``,
which stores them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Mapping, Sequence

from ml_backend.labeling import LabelingSchema
from ml_backend.results import TaskError, pool_example

# meta "tasks_given": the format of tasks.given; a state without it (an older version's, or one whose column held
# a key read through the label config) has every task's fingerprint written afresh from its data when opened
GIVEN_FORMAT = "raw-1"

GivenKeys = Callable[[Sequence[tuple[str, Any]]], list["str | None"]]


def given_fingerprint(data: Any) -> str:
    """A task's ``entities`` and ``pairs`` as its data holds them (a hash of their canonical JSON); ``""`` for
    data with neither.

    Stored with the task (``tasks.given``) and compared with what Label Studio sends: an edit of either
    drops the task's stored prediction, as a text edit does, while other data fields may change freely.
    It reads no label config, so a config edit never makes it stale; whether an LLM label still fits
    the task under the config of the day is ``given_key``'s question (``llm_labels(current=True)``).
    """
    if not isinstance(data, Mapping) or ("entities" not in data and "pairs" not in data):
        return ""
    raw = json.dumps([data.get("entities"), data.get("pairs")], sort_keys=True, ensure_ascii=False,
                     separators=(",", ":"))
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def given_key(example: Mapping[str, Any]) -> str:
    """What an example (``Example.to_dict()``) asks beyond its text: its given spans and pairs, as canonical JSON;
    ``""`` for a text alone (NER, or relations between spans the LLM finds).

    An LLM label is current while its key is its task's pool example's, read now with the current label
    config (``ProjectState(given_keys=...)``): a label made for entities or pairs since edited no longer
    counts, as one made for an older text does not.
    """
    if not example.get("given_entities"):
        return ""
    spans = [[e.get("start"), e.get("end"), e.get("label")] for e in example.get("entities") or ()]
    return json.dumps({"entities": spans, "pairs": example.get("pairs")}, ensure_ascii=False, separators=(",", ":"))


def given_keys_of(tasks: Sequence[tuple[str, Any]], schema: LabelingSchema) -> list[str | None]:
    """``task_given_key`` of each ``(text, data)``; all None under a config without relations, which reads no
    given entities (its LLM labels stay current whatever the tasks' entities; a task that gives none under a
    config with relations has the key ``""``, so a label made for entities since removed is stale)."""
    if not schema.relation_labels:
        return [None] * len(tasks)
    return [task_given_key(text, data, schema) for text, data in tasks]


def task_given_key(text: str, data: Any, schema: LabelingSchema) -> str:
    """``state.given_key`` of the task's pool example: ``""`` for a task that gives no entities (or a config
    without relations, which reads none), its spans and pairs as the config reads them otherwise. Unusable
    entities have a key no LLM label has: one made before they were broken is stale."""
    try:
        return given_key(pool_example(0, text, data, schema).to_dict())
    except TaskError as e:
        return f"unusable: {e}"
