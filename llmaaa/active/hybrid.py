"""Hybrid: uncertainty-weighted diversity, the strategy LLMaAA declared and never built.

Implements Zhdanov (2019), "Diverse mini-batch Active Learning" (arXiv:1901.05954): keep the
``beta * k`` most uncertain pool examples, cluster them with k-means weighted by their
uncertainty, and take the nearest unique example to each centroid. Uncertainty decides *what* is
worth labeling; clustering stops one batch from spending its budget on near-duplicates (a round of
pure least-confidence on CoNLL03 is full of long sports-results lines). ``diversity="kcenter"``
swaps the clustering for core-set greedy over the same candidates.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from llmaaa.active.aggregate import DEFAULT_REDUCTION, MEASURES, REDUCTIONS, example_scores, top_k
from llmaaa.active.base import SamplerError, register
from llmaaa.active.diversity import _embeddings, cluster_picks, kcenter_greedy
from llmaaa.data.schema import Example
from llmaaa.models.base import ModelOutputs


@register("hybrid")
class Hybrid:
    """Top ``beta*k`` by ``measure``, then uncertainty-weighted k-means (or k-center) down to ``k``."""

    name = "hybrid"
    needs_outputs = True

    def __init__(
        self,
        *,
        task: str = "ner",
        measure: str = "least_confidence",
        reduction: str | None = None,
        beta: float = 10.0,
        diversity: str = "kmeans",
        seed: int = 0,
        **_: object,
    ) -> None:
        if diversity not in ("kmeans", "kcenter"):
            raise SamplerError(f"hybrid diversity must be 'kmeans' or 'kcenter', got {diversity!r}")
        if not (isinstance(beta, (int, float)) and 1 <= beta < float("inf")):  # NaN fails both comparisons
            raise SamplerError(f"hybrid beta must be a finite number >= 1 (candidates per pick), got {beta}")
        if task not in DEFAULT_REDUCTION:
            raise SamplerError(f"unknown task {task!r}; use 'ner' or 're'")
        if measure not in MEASURES:
            raise SamplerError(f"unknown uncertainty measure {measure!r}; choose one of {', '.join(MEASURES)}")
        if reduction is not None and reduction not in REDUCTIONS:
            raise SamplerError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
        self.measure = measure
        self.reduction = reduction or DEFAULT_REDUCTION.get(task, "sum")
        self.beta = beta
        self.diversity = diversity
        self.seed = seed
        # only core-set greedy starts from the labeled set's embeddings
        self.needs_labeled_outputs = diversity == "kcenter"

    def scores(self, outputs: ModelOutputs) -> np.ndarray:
        return example_scores(outputs.probs, measure=self.measure, reduction=self.reduction)

    def select(
        self,
        pool: Sequence[Example],
        outputs: ModelOutputs | None,
        k: int,
        labeled: Sequence[Example] = (),
        *,
        rng: np.random.Generator | None = None,
    ) -> list[int]:
        emb = _embeddings(outputs, len(pool), self.name)
        n = len(pool)
        covered = len(outputs.probs)  # type: ignore[union-attr]
        if covered < n:
            raise SamplerError(f"{self.name}: outputs cover {covered} examples, pool has {n}")
        k = min(int(k), n)
        if k <= 0:
            return []
        scores = example_scores(outputs.probs[:n], measure=self.measure, reduction=self.reduction)  # type: ignore[union-attr]
        ranked = top_k(scores, max(k, int(np.ceil(self.beta * k))))
        cand = np.array([i for i in ranked if not np.isnan(scores[i])], dtype=np.int64)
        picks = self._diverse(emb, n, cand, scores, k, rng) if len(cand) else []
        return picks + _broken_scores(scores)[: k - len(picks)]

    def _diverse(
        self, emb: np.ndarray, n: int, cand: np.ndarray, scores: np.ndarray, k: int, rng: np.random.Generator | None
    ) -> list[int]:
        """Up to ``k`` of the candidate pool indices ``cand``, spread out by k-center or weighted k-means."""
        points = np.ascontiguousarray(emb[cand])
        if self.diversity == "kcenter":
            centers = emb[n:] if emb.shape[0] > n else None
            local = kcenter_greedy(points, k, centers)
        else:
            seed = int(rng.integers(2**31 - 1)) if rng is not None else self.seed
            local = cluster_picks(points, k, seed=seed, weights=scores[cand])
        return [int(cand[i]) for i in local]


def _broken_scores(scores: np.ndarray) -> list[int]:
    """Pool indices whose score is NaN (a broken model output), by index: taken only when nothing else is left.

    They are kept out of the candidates, or k-center, which ignores scores, could pick them first.
    """
    return [int(i) for i in np.flatnonzero(np.isnan(scores))]
