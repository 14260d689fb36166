"""A simulated teacher: gold labels corrupted by a seeded noise model calibrated to a target F1.

For experiments only (what would the student do with a teacher of F1 0.81, the paper's gpt-3.5 on
CoNLL03, or 0.60?), and always marked as such: teacher name ``simulated:f1=0.81`` and
``annotation.source = "simulated"``.

Noise model, one rate r in [0, 1]:

* NER, each gold span with probability r gets one error: missed (40%), boundary error (30%: one
  word added or removed at one end), wrong type (30%); plus, with probability r / 2 per example,
  a spurious span (a random word with a random type).
* RE (entities stay gold), each gold relation with probability r flips to ``no_relation`` (50%) or
  to another label (50%); plus, with probability r / 2 per example, a spurious relation on a
  random unrelated pair.

Every example draws from its own generator seeded by (seed, id), so an example gets the same labels
whatever batch it comes in. ``calibrate`` bisects r until the F1 measured by ``llmaaa.metrics`` on
the given gold set is within ``tol`` of the target (F1 falls as r grows).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np

from llmaaa.data.pairs import PAIR_OF, candidate_pairs
from llmaaa.data.conll_writer import tokenize
from llmaaa.data.schema import NO_RELATION, Example, LabelSet, Relation, Span

log = logging.getLogger(__name__)

TASKS = ("ner", "re")


class SimulatedTeacherError(KeyError):
    """An example the simulated teacher has no gold labels for."""

    def __str__(self) -> str:
        return str(self.args[0])


def _rng(seed: int, ex_id: str) -> np.random.Generator:
    digest = hashlib.sha256(ex_id.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def _corrupt_ner(ex: Example, labels: LabelSet, r: float, rng: np.random.Generator) -> Example:
    words = tokenize(ex.text)
    types = list(labels.entity_labels)
    out: list[Span] = []
    for s in ex.entities:
        u, kind, pick = rng.random(), rng.random(), rng.random()
        if u >= r:
            out.append(Span(s.start, s.end, s.label))
        elif kind < 0.4:
            continue  # missed
        elif kind < 0.7:
            inside = [w for w in words if s.start <= w[0] and w[1] <= s.end]
            before = [w for w in words if w[1] <= s.start]
            after = [w for w in words if w[0] >= s.end]
            options = []
            if before:
                options.append((before[-1][0], s.end))
            if after:
                options.append((s.start, after[0][1]))
            if len(inside) > 1:
                options += [(inside[1][0], s.end), (s.start, inside[-2][1])]
            if options:
                a, b = options[int(pick * len(options))]
                out.append(Span(a, b, s.label))
        else:
            others = [t for t in types if t != s.label]
            if others:
                out.append(Span(s.start, s.end, others[int(pick * len(others))]))
    u, pick, kind = rng.random(), rng.random(), rng.random()
    free = [w for w in words if not any(w[0] < s.end and s.start < w[1] for s in out)]
    if u < r / 2 and free and types:
        a, b = free[int(pick * len(free))]
        out.append(Span(a, b, types[int(kind * len(types))]))
    return ex.with_labels(entities=sorted(out, key=lambda s: (s.start, s.end)), relations=())


def _corrupt_re(ex: Example, labels: LabelSet, r: float, rng: np.random.Generator) -> Example:
    rel_labels = list(labels.relation_labels)
    out: list[Relation] = []
    for rel in ex.relations:
        u, kind, pick = rng.random(), rng.random(), rng.random()
        if rel.label == NO_RELATION or u >= r:
            out.append(rel)
            continue
        others = [x for x in rel_labels if x != rel.label]
        if kind >= 0.5 and others:
            out.append(Relation(rel.head, rel.tail, others[int(pick * len(others))]))
    u, pick, kind = rng.random(), rng.random(), rng.random()
    taken = {(x.head, x.tail) for x in ex.relations}
    n = len(ex.entities)
    free = [(h, t) for h in range(n) for t in range(n) if h != t and (h, t) not in taken]
    if u < r / 2 and free and rel_labels:
        h, t = free[int(pick * len(free))]
        out.append(Relation(h, t, rel_labels[int(kind * len(rel_labels))]))
    return ex.with_labels(relations=out)


def corrupt_at(examples: Sequence[Example], labels: LabelSet, *, task: str, rate: float, seed: int) -> list[Example]:
    """The examples with labels corrupted at noise rate ``rate`` (see the module docstring)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    fn = _corrupt_ner if task == "ner" else _corrupt_re
    return [fn(ex, labels, rate, _rng(seed, ex.id)) for ex in examples]


def measure(gold: Sequence[Example], noisy: Sequence[Example], task: str) -> float:
    from llmaaa.metrics import entity_prf, relation_prf

    return float((entity_prf if task == "ner" else relation_prf)(gold, noisy)["f1"])


def calibrate(gold: Sequence[Example], labels: LabelSet, *, task: str, target_f1: float, seed: int,
              tol: float = 0.005, iters: int = 30) -> tuple[float, float]:
    """Bisect the noise rate so the corrupted gold scores ``target_f1``; returns (rate, measured F1)."""
    if not 0.0 <= target_f1 <= 1.0:
        raise ValueError(f"target F1 {target_f1} must be in [0, 1]")
    lo, hi = 0.0, 1.0
    best = (0.0, measure(gold, corrupt_at(gold, labels, task=task, rate=0.0, seed=seed), task))
    for _ in range(iters):
        mid = (lo + hi) / 2
        f1 = measure(gold, corrupt_at(gold, labels, task=task, rate=mid, seed=seed), task)
        if abs(f1 - target_f1) < abs(best[1] - target_f1):
            best = (mid, f1)
        if abs(f1 - target_f1) <= tol:
            break
        lo, hi = (mid, hi) if f1 > target_f1 else (lo, mid)
    if abs(best[1] - target_f1) > 0.02:
        log.warning("simulated teacher: F1 %.3f is the closest to the target %.3f on %d examples", best[1], target_f1,
                    len(gold))
    return best


def corrupt(examples: Sequence[Example], labels: LabelSet, *, task: str, target_f1: float, seed: int) -> list[Example]:
    """Corrupt ``examples`` (gold) so their labels score ``target_f1`` against themselves, marked simulated."""
    teacher = SimulatedTeacher(examples, labels, task=task, target_f1=target_f1, seed=seed)
    return teacher.annotate(examples)


class SimulatedTeacher:
    """``Teacher`` that answers from the gold labels through the calibrated noise model."""

    def __init__(self, gold: Sequence[Example] | Mapping[str, Example], labels: LabelSet, *, task: str = "ner",
                 target_f1: float = 0.81, seed: int = 0) -> None:
        self.gold = dict(gold) if isinstance(gold, Mapping) else {ex.id: ex for ex in gold}
        self.labels, self.task, self.target_f1, self.seed = labels, task, target_f1, seed
        self.name = f"simulated:f1={target_f1:g}"
        self.rate, self.calibrated_f1 = calibrate(list(self.gold.values()), labels, task=task, target_f1=target_f1,
                                                  seed=seed)
        log.info("%s: noise rate %.4f gives F1 %.4f on %d gold examples", self.name, self.rate, self.calibrated_f1,
                 len(self.gold))

    def annotate(self, examples: Sequence[Example]) -> list[Example]:
        out = []
        for ex in examples:
            # a pair example (llmaaa.data.pairs) is answered from its sentence's noisy labels, so asking
            # per pair or per sentence gives the same labels; a teacher asked about listed pairs answers those
            sentence = self.gold.get(ex.extra.get(PAIR_OF)) if self.task == "re" and PAIR_OF in ex.extra else None
            gold = sentence or self.gold.get(ex.id)
            if gold is None:
                raise SimulatedTeacherError(
                    f"example {ex.id!r} is not in the gold set the simulated teacher was given; "
                    "a simulated teacher can only label examples whose gold labels it knows")
            noisy = corrupt_at([gold], self.labels, task=self.task, rate=self.rate, seed=self.seed)[0]
            if self.task == "re" and ex.extra.get("pairs") is not None:
                asked = set(candidate_pairs(ex))
                noisy = noisy.with_labels(relations=[r for r in noisy.relations if (r.head, r.tail) in asked])
            record = {"source": "simulated", "model": self.name, "demo_ids": [], "error": None, "cached": False,
                      "usage": {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0},
                      "noise_rate": round(self.rate, 6)}
            if self.task == "re" and (unknown := gold.unlabeled_pairs & set(candidate_pairs(ex))):
                # no gold to answer from (a TACRED record with relation null): unknown, never a made-up no_relation
                noisy = noisy.with_labels(relations=[r for r in noisy.relations if (r.head, r.tail) not in unknown])
                record["unlabeled_pairs"] = sorted(map(list, unknown))
            entities = noisy.entities if self.task == "ner" else gold.entities
            if entities != gold.entities and "pairs" in ex.extra:  # listed pairs index the gold entities
                ex = replace(ex, extra={k: v for k, v in ex.extra.items() if k != "pairs"})
            out.append(ex.with_labels(entities=entities, relations=noisy.relations if self.task == "re" else (),
                                      annotation=record))
        return out
