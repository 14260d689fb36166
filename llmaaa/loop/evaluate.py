"""Scoring helpers of the loop: the demo-pool split, teacher and student F1, label cost, the gold ceiling."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Sequence

import numpy as np

from llmaaa.annotate.base import Teacher
from llmaaa.data.schema import Example, LabelSet
from llmaaa.metrics import entity_prf, relation_prf

log = logging.getLogger(__name__)


def strip_labels(ex: Example, task: str) -> Example:
    """What the teacher and student may see of an example: NER loses its entities; RE keeps the
    entities (the task gives them) and loses its relations. Other ``extra`` fields are kept."""
    if task == "ner":
        return ex.with_labels(entities=(), relations=())
    return ex.with_labels(relations=())


def score_predictions(task: str, gold: Sequence[Example], pred: Sequence[Example]) -> dict[str, Any]:
    """Entity micro P/R/F1 for NER, relation micro P/R/F1 for RE (``llmaaa.metrics``)."""
    return entity_prf(gold, pred) if task == "ner" else relation_prf(gold, pred)


def sample_demo_pool(dev: Sequence[Example], n: int, *, task: str, seed: int = 42) -> list[Example]:
    """The paper's demo pool: ``n`` gold examples drawn from ``dev`` with a fixed seed.

    NER keeps only sentences with at least one entity (reference ``prepro_ner.py::split_demo``); RE
    keeps examples with at least two entities, so each has a candidate pair.
    """
    if task == "ner":
        cands = [ex for ex in dev if ex.entities]
    else:
        cands = [ex for ex in dev if len(ex.entities) >= 2]
    if n > len(cands):
        raise ValueError(f"asked for a demo pool of {n} but the dev split has only {len(cands)} usable examples")
    order = np.random.default_rng(seed).permutation(len(cands))[:n]
    return [cands[i] for i in sorted(order)]


def measure_teacher(teacher: Teacher, demo: Sequence[Example], task: str) -> dict[str, Any]:
    """The teacher's F1 on the demo pool, the yardstick of the stopping rule.

    The LLM teacher's k-NN demos never include the query itself (leave-one-out: it excludes the
    query's id from its demo index), so this is an honest estimate of its quality; the simulated
    teacher corrupts the gold at its target F1, so this measures the F1 it actually reaches.
    """
    if not demo:
        return {"f1": None, "n": 0, "teacher": teacher.name}
    annotated = teacher.annotate([strip_labels(ex, task) for ex in demo])
    m = score_predictions(task, demo, annotated)
    return {
        "teacher": teacher.name,
        "n": len(demo),
        "f1": m["f1"],
        "precision": m["precision"],
        "recall": m["recall"],
        "failed": m.get("failed", 0),
        "method": "demo pool, leave-one-out demos",
    }


def usage_totals(examples: Sequence[Example]) -> tuple[int, int, float, float]:
    """Prompt tokens, completion tokens, cost of these labels, and the part actually paid (not cached)."""
    prompt = completion = 0
    cost = paid = 0.0
    for ex in examples:
        ann = ex.annotation or {}
        usage = ann.get("usage") or {}
        prompt += int(usage.get("prompt_tokens") or 0)
        completion += int(usage.get("completion_tokens") or 0)
        c = float(usage.get("cost") or 0.0)
        cost += c
        if not ann.get("cached"):
            paid += c
    return prompt, completion, round(cost, 6), round(paid, 6)


def train_ceiling(
    task: str,
    pool: Sequence[Example],
    demo: Sequence[Example],
    labels: LabelSet,
    budget: int,
    *,
    train_config: Any = None,
    seed: int = 0,
    test: Sequence[Example] | None = None,
) -> dict[str, Any]:
    """The gold ceiling: the same student trained on ``budget`` random pool examples with their gold labels.

    What the backbone makes of the budget with human labels picked at random: a student of a teacher
    below this line can pass the teacher, one above it rarely. Not a hard bound: active picks of the
    same budget can beat it (the CoNLL04 pair unit, whose random pairs are mostly unrelated ones)."""
    from llmaaa.training.trainer import TrainConfig, train_task_model

    cfg = dataclasses.replace(train_config if train_config is not None else TrainConfig(), seed=seed, reweight=False)
    picks = np.random.default_rng(seed).permutation(len(pool))[: min(budget, len(pool))]
    train = [pool[i] for i in sorted(picks)]
    result = train_task_model(task, train, demo, labels, cfg, progress=False)
    test_f1 = None
    if test:
        test_f1 = score_predictions(task, test, result.model.predict([strip_labels(ex, task) for ex in test]))["f1"]
    gold_f1 = result.gold_metrics.get("f1") if result.gold_metrics else None
    log.info("gold ceiling at budget %d (seed %d): demo F1 %s, test F1 %s", len(train), seed, gold_f1, test_f1)
    return {"budget": len(train), "seed": seed, "gold_f1": gold_f1, "test_f1": test_f1}
