"""Examples as Label Studio predictions: span regions with ids, relation results linking those ids, a score.

The way out of the backend (/predict elements, the round's pushed predictions, gold demos imported by
``make run``); ``results`` reads Label Studio's results back into examples. Labels are mapped through
the config, and a region Label Studio's own validation would refuse is dropped alone, not the task's
whole prediction.
"""

from __future__ import annotations

import logging
from typing import Any

from llmaaa.data.schema import Example

from ml_backend.labeling import LabelingSchema

log = logging.getLogger(__name__)


def example_to_results(ex: Example, schema: LabelingSchema) -> list[dict[str, Any]]:
    """Label Studio results for ``ex``: labels mapped through the config, unknown ones dropped."""
    results: list[dict[str, Any]] = []
    region_of: dict[int, str] = {}
    for i, s in enumerate(ex.entities):
        label = schema.map_entity(s.label)
        if label is None or not (0 <= s.start < s.end <= len(ex.text)):
            log.debug("dropping span %r of task %s: label not in the config or outside the text", s, ex.id)
            continue
        rid = f"{ex.id}-e{i}"
        region_of[i] = rid
        r: dict[str, Any] = {
            "id": rid, "from_name": schema.from_name, "to_name": schema.to_name, "type": "labels",
            "value": {"start": s.start, "end": s.end, "text": ex.text[s.start : s.end],
                      "labels": [schema.result_label(label)]},
        }
        if s.score is not None:
            r["score"] = float(s.score)
        results.append(r)
    if schema.relation_labels:
        for rel in ex.relations:
            label = schema.map_relation(rel.label)
            if label is None or rel.head not in region_of or rel.tail not in region_of:
                continue
            results.append({
                "from_id": region_of[rel.head], "to_id": region_of[rel.tail], "type": "relation",
                "direction": "right", "labels": [label],
            })
    return results


def prediction_score(ex: Example) -> float | None:
    """A task-level confidence: the least confident span (1.0 when the model found nothing)."""
    scores = [s.score for s in ex.entities if s.score is not None] + [r.score for r in ex.relations if r.score is not None]
    return float(min(scores)) if scores else None


def validate_results(results: list[dict[str, Any]], interface: Any, schema: LabelingSchema) -> list[str]:
    """Problems Label Studio would not catch (it accepts predictions with unknown labels)."""
    errors = [str(e) for e in (interface.validate_prediction({"result": results}, return_errors=True) or [])]
    for r in results:
        if r.get("type") == "relation" and any(l not in schema.relation_labels for l in r.get("labels", [])):
            errors.append(f"relation label {r.get('labels')} is not in the config")
    return errors


def prediction_for(ex: Example, schema: LabelingSchema, interface: Any, *, version: str,
                   score: float | None = None) -> dict[str, Any]:
    """One /predict element (or SDK prediction body); invalid regions are dropped one by one."""
    results = example_to_results(ex, schema)
    if results and validate_results(results, interface, schema):
        kept = [r for r in results if r.get("type") == "labels" and not validate_results([r], interface, schema)]
        spans = list(kept)
        ids = {r["id"] for r in kept}
        kept += [r for r in results if r.get("type") == "relation" and r["from_id"] in ids and r["to_id"] in ids
                 and not validate_results([*spans, r], interface, schema)]
        log.warning("task %s: dropped %d invalid result(s)", ex.id, len(results) - len(kept))
        results = kept
    if score is None:
        score = prediction_score(ex)
    return {"result": results, "score": 1.0 if score is None else float(score), "model_version": version}
