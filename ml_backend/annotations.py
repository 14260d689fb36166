"""Recording Label Studio's annotation webhooks into the project's state, before the webhook is answered.

A created or updated annotation is one of three things (``_annotation_row``): *gold*, a human label
that feeds the demo pool, the reweighting meta set and the stopping rule; *unreviewed*, an annotation
Label Studio copied from our LLM prediction without anyone opening it ("Create annotations from
predictions", see ``sync.made_from_prediction_unopened``), counted but never gold, so the teacher's
own labels cannot poison the gold pool; or *cancelled* (skipped), which is forgotten. A malformed
one is a :class:`~ml_backend.request.RequestError` (HTTP 400). ``ids_of`` reads the ids of a delete
event. ``LLMaAABackend.fit`` dispatches the events and decides when a round is due; this module only
records.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping

from ml_backend import sync
from ml_backend.labeling import UnsupportedConfig
from ml_backend.request import RequestError, is_id
from ml_backend.results import human_example, unicode_problem, unusable_gold

if TYPE_CHECKING:
    from ml_backend.model import ProjectContext

log = logging.getLogger(__name__)


def ids_of(items: Any) -> list[int]:
    """The ids of a delete event's ``[{"id": ...}]`` list (Label Studio's ``OnlyIDWebhookSerializer``); a
    script's ``[12, "13"]`` or ``{"id": 12}`` is read too, so a deleted annotation never stays gold unseen."""
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        return []
    out = []
    for d in items:
        value = d.get("id") if isinstance(d, Mapping) else d
        if isinstance(value, str) and value.strip().isdecimal():
            value = int(value)
        if is_id(value):
            out.append(value)
    return out


# what a created or updated annotation is to the backend
GOLD, CANCELLED, UNREVIEWED = "gold", "cancelled", "unreviewed"


def _annotation_row(ctx: ProjectContext, event: str, ann: Any, task: Any) -> tuple[str, tuple]:
    """``(GOLD, (annotation id, task id, result, text, data))``; ``(CANCELLED, (id,))`` for a skipped one;
    ``(UNREVIEWED, (id, task id))`` for one made from a prediction nobody opened. A malformed one is a
    ``RequestError``."""
    if not isinstance(ann, Mapping) or not is_id(ann.get("id")):
        raise RequestError(f"{event} without an 'annotation' object with an integer 'id'")
    task = task if isinstance(task, Mapping) else {"id": ann.get("task")}
    if not is_id(task.get("id")):
        raise RequestError(f"{event} without the annotated task's id")
    if ann.get("was_cancelled"):
        return CANCELLED, (ann["id"],)
    if ann.get("result") is not None and not isinstance(ann["result"], list):
        raise RequestError(f"{event}: annotation {ann['id']} has a 'result' that is not a list of regions")
    if sync.made_from_prediction_unopened(ann):
        return UNREVIEWED, (ann["id"], task["id"])
    text = _text_of(task, ctx)
    problem = unicode_problem(text) if text is not None else None
    if problem:
        raise RequestError(f"{event}: annotation {ann['id']}: {problem}")
    return GOLD, (ann["id"], task["id"], ann.get("result") or [], text, task.get("data") if text is not None else None)


def _store(ctx: ProjectContext, rows: Mapping[str, list[tuple]]) -> None:
    """Record classified annotations in one commit: gold, unreviewed, and cancelled ("skipped") ones forgotten."""
    with ctx.state.transaction():
        ctx.state.record_annotations(rows.get(GOLD, []))
        if rows.get(UNREVIEWED):
            ctx.state.record_unreviewed(rows[UNREVIEWED])
        if rows.get(CANCELLED):
            ctx.state.delete_annotations([i for (i,) in rows[CANCELLED]])


def record(ctx: ProjectContext, event: str, ann: Any, task: Any) -> dict[str, Any]:
    """Record one created or updated annotation (see ``_annotation_row``); the answer warns when it cannot be
    gold as it stands (no text to read, or no region with a label of the config)."""
    kind, row = _annotation_row(ctx, event, ann, task)
    _store(ctx, {kind: [row]})
    if kind == UNREVIEWED:
        return {"unreviewed": 1}
    return {"warning": warning} if kind == GOLD and (warning := _gold_warning(ctx, row)) else {}


def _gold_warning(ctx: ProjectContext, row: tuple) -> str | None:
    ann_id, _, result, text, _ = row
    try:
        schema = ctx.schema
    except (RequestError, UnsupportedConfig):
        return None
    if text is None:
        return (f"annotation {ann_id}: the task has no text in data[{schema.value_key!r}]; recorded, used as gold "
                "once the task's text is known")
    ex = human_example(row[1], text, result, schema)
    if why := unusable_gold(ex, result, schema):
        return f"annotation {ann_id}: {why}; recorded, not used as gold"
    if ex.unlabeled_pairs:
        return (f"annotation {ann_id}: {len(ex.unlabeled_pairs)} relation(s) without a relation label of the config "
                f"({', '.join(schema.relation_labels)}); those entity pairs are not used as gold until labeled")
    return None


def record_bulk(ctx: ProjectContext, event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """ANNOTATIONS_CREATED ("Create annotations from predictions" in the Data Manager, or an import): lists of
    annotations and of their tasks, up to 5,000 at once with Label Studio waiting 1 s: one batched commit, and
    one malformed item does not cost the others (they are named in the answer; all malformed is a 400).
    Annotations copied from predictions nobody opened are counted as ``unreviewed``, not gold."""
    anns, tasks = payload.get("annotation"), payload.get("task")
    if not isinstance(anns, list):
        raise RequestError(f"{event} without an 'annotation' list")
    by_id = {t["id"]: t for t in tasks if isinstance(t, Mapping) and is_id(t.get("id"))} \
        if isinstance(tasks, list) else {}
    rows: dict[str, list[tuple]] = {GOLD: [], CANCELLED: [], UNREVIEWED: []}
    errors = []
    for ann in anns:
        task_id = ann.get("task") if isinstance(ann, Mapping) else None
        try:
            kind, row = _annotation_row(ctx, event, ann, by_id.get(task_id) if is_id(task_id) else None)
        except RequestError as e:
            errors.append(str(e))
            continue
        rows[kind].append(row)
    _store(ctx, rows)
    extra: dict[str, Any] = {"unreviewed": len(rows[UNREVIEWED])} if rows[UNREVIEWED] else {}
    if rows[UNREVIEWED]:
        log.info("project %s: %d annotations made from predictions nobody opened: counted, not used as gold",
                 ctx.state.project_id, len(rows[UNREVIEWED]))
    if not errors:
        return extra
    log.warning("project %s: %d of %d annotations in %s not recorded: %s", ctx.state.project_id,
                len(errors), len(anns), event, errors[0])
    if len(errors) == len(anns):
        raise RequestError(errors[0])
    return {**extra, "errors": errors[:10]}


def _text_of(task: Mapping[str, Any], ctx: ProjectContext) -> str | None:
    data = task.get("data")
    if not isinstance(data, Mapping):
        return None
    try:
        value = ctx.schema.text_in(data)
    except (RequestError, UnsupportedConfig):
        value = next((v for v in data.values() if isinstance(v, str)), None)
    return value if isinstance(value, str) else None
