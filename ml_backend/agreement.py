"""How good the LLM is on this project: its labels against the human labels later given to the same tasks.

Annotators who accept or correct an LLM pre-annotation produce exactly the gold needed to score the
teacher, at no extra cost. The report plots it per round, and the stopping rule compares it with the
student's gold F1 (LLMaAA's question: when has the student caught up, so the LLM bill can stop?).
Entities are scored with ``llmaaa.metrics.entity_prf``, like the student's gold F1; ``teacher_f1(relations=True)``
scores the LLM's relations (on its own spans) with ``relation_prf``, for the stopping rule of a project with relations.
"""

from __future__ import annotations

from typing import Any

from llmaaa.data.schema import Example
from llmaaa.metrics import confidence_calibration, entity_prf, relation_prf

from ml_backend.results import human_example, unusable_gold


def metric_f1(metrics: Any) -> float | None:
    """The F1 in a metrics record (``{"f1"}``, or nested under ``micro``/``overall``), else None."""
    if not isinstance(metrics, dict):
        return None
    for m in (metrics, metrics.get("micro"), metrics.get("overall")):
        if isinstance(m, dict) and isinstance(m.get("f1"), (int, float)):
            return float(m["f1"])
    return None


def llm_vs_human(state: Any, schema: Any) -> dict[int, tuple[list[Example], list[Example]]]:
    """Per LLM round: (human labels, the LLM's labels) of the tasks a human has labeled since."""
    human = {a["task_id"]: a for a in state.annotations()}
    rounds = state.llm_label_rounds()
    by_round: dict[int, tuple[list[Example], list[Example]]] = {}
    for d in state.llm_labels():
        tid = int(d["id"])
        if tid not in human or tid not in rounds:
            continue
        a = human[tid]
        gold = human_example(tid, a["text"], a["result"], schema)
        pred = Example.from_dict(d)
        if pred.failed or pred.text != gold.text or unusable_gold(gold, a["result"], schema):
            continue  # a failed call has no labels; an edited text no alignment; regions of removed labels no gold
        g, p = by_round.setdefault(int(rounds[tid]), ([], []))
        g.append(gold)
        p.append(Example(gold.id, gold.text, pred.entities, pred.relations))
    return by_round


def teacher_f1_by_round(state: Any, schema: Any) -> dict[int, float]:
    return {n: float(entity_prf(g, p)["f1"]) for n, (g, p) in llm_vs_human(state, schema).items()}


def _all_rounds(state: Any, schema: Any) -> tuple[list[Example], list[Example]]:
    gold: list[Example] = []
    pred: list[Example] = []
    for g, p in llm_vs_human(state, schema).values():
        gold += g
        pred += p
    return gold, pred


def teacher_f1(state: Any, schema: Any, *, relations: bool = False) -> tuple[float | None, int]:
    """The LLM's entity F1 (``relations``: relation F1) over every task both it and a human labeled, and
    how many tasks that is."""
    gold, pred = _all_rounds(state, schema)
    score = relation_prf if relations else entity_prf
    return (float(score(gold, pred)["f1"]) if gold else None), len(gold)


def llm_confidence(state: Any, schema: Any) -> dict[str, Any]:
    """How often the annotators kept the LLM's spans, per LLM confidence bin (``confidence_calibration``).

    Label Studio shows each LLM region's confidence; this says, on the project's own labels, whether
    the doubtful regions are the ones worth checking first (kept shares that rise with confidence).
    """
    return confidence_calibration(*_all_rounds(state, schema), "ner")
