"""Which pool tasks a round's LLM labels, and the order the rest of the queue follows.

The sampler ranks the pool with the student (a seeded random order at cold start); the LLM batch
takes the first ``LLM_BATCH`` distinct texts of that order, and copies of a text it labels get the
same labels at no cost. Apart from the round (``ml_backend.jobs``), which only orchestrates.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import numpy as np

from llmaaa.data.schema import Example

from ml_backend.engine import Students

if TYPE_CHECKING:
    from ml_backend.model import ProjectContext

log = logging.getLogger(__name__)


def rank_pool(ctx: "ProjectContext", pool: list[Example], students: Students | None, labeled: list[Example],
          round_: int) -> tuple[list[int], str]:
    """Pool indices, most useful first, and how they were ranked.

    The sampler picks the LLM batch (``select(k=LLM_BATCH)``: for kcenter / kmeans / hybrid that is
    the diverse batch, not just the top scores); the rest of the queue follows by the sampler's
    score when it has one (hybrid: its uncertainty), else in a seeded random order. A full
    ``select(k=pool size)`` would make diversity meaningless and cost O(pool^2).
    """
    if not pool:
        return [], "empty pool"
    rng = np.random.default_rng([ctx.config.seed, round_])
    if students is None:
        return [int(i) for i in rng.permutation(len(pool))], "random (cold start: no student yet)"
    name = ctx.config.sampler
    try:
        sampler = ctx.engine.sampler()
        n = len(pool)
        extra = list(labeled) if getattr(sampler, "needs_labeled_outputs", False) else []
        outputs = students.ner_outputs([*pool, *extra]) if getattr(sampler, "needs_outputs", True) else None
        if outputs is not None and hasattr(sampler, "scores"):
            from llmaaa.models.base import ModelOutputs

            scores = np.asarray(sampler.scores(ModelOutputs(list(outputs.probs[:n]), outputs.embeddings[:n])), dtype=float)
            rest = [int(i) for i in np.argsort(-scores, kind="stable")]
        else:
            rest = [int(i) for i in rng.permutation(n)]
        picks = [int(i) for i in sampler.select(pool, outputs, min(ctx.config.llm_batch, n), labeled, rng=rng)]
        if any(not 0 <= i < n for i in picks):
            raise ValueError(f"select returned an index outside the pool of {n}")
        first = list(dict.fromkeys(picks))
        taken = set(first)
        return first + [i for i in rest if i not in taken], name
    except Exception as e:  # a sampler that cannot rank this pool must not cost the round
        log.error("project %s: sampler %s failed (%s); ranking at random", ctx.state.project_id, name, e)
        return [int(i) for i in rng.permutation(len(pool))], f"random ({name} failed: {e})"[:300]


def distinct_batch(pool: list[Example], order: list[int], k: int, known: set[str]) -> list[Example]:
    """The first ``k`` tasks of ``order`` for the LLM, a text already labeled or picked left for later.

    A project with the same sentence many times (CoNLL03 has "Scorers :" 16 times) scores the copies
    alike, so an uncertainty sampler takes them as a block: one LLM batch of 20 could hold 5 copies. The
    copies still get the LLM's pre-annotation (``copy_labels``); they only leave the batch's places to other
    texts. Tasks that bring their own entities differ by those, and by the pairs they ask.
    """
    seen = set(known)
    picks: list[Example] = []
    for i in order:
        ex = pool[i]
        key = ((ex.text, tuple(s.key() for s in ex.entities), tuple(map(tuple, ex.extra.get("pairs") or ())))
               if ex.extra.get("given_entities") else ex.text)
        if key in seen:
            continue
        seen.add(key)
        picks.append(ex)
        if len(picks) == k:
            break
    return picks


def copy_labels(pool: list[Example], labeled: list[Example], asked: set[str]) -> list[Example]:
    """The LLM's labels of a text given to the pool's other copies of it (``distinct_batch`` left them out of
    the batch): the same pre-annotation at no cost, marked ``copied_from``. Not for tasks that bring their
    own entities (their copies differ by those)."""
    by_text = {ex.text: ex for ex in labeled
               if not ex.failed and not ex.extra.get("given_entities") and not (ex.annotation or {}).get("copied_from")}
    return [dataclasses.replace(src, id=ex.id).with_labels(annotation={**(src.annotation or {}), "copied_from": src.id})
            for ex in pool if ex.id not in asked and not ex.extra.get("given_entities")
            and (src := by_text.get(ex.text)) is not None and src.id != ex.id]
