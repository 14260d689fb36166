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

from llmaaa.active.aggregate import DEFAULT_REDUCTION, example_scores, top_k
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
        if beta < 1:
            raise SamplerError(f"hybrid beta must be >= 1 (candidates per pick), got {beta}")
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
        k = min(int(k), n)
        if k <= 0:
            return []
        scores = example_scores(outputs.probs[:n], measure=self.measure, reduction=self.reduction)  # type: ignore[union-attr]
        cand = np.array(top_k(scores, max(k, int(np.ceil(self.beta * k)))), dtype=np.int64)
        points = np.ascontiguousarray(emb[cand])
        if self.diversity == "kcenter":
            centers = emb[n:] if emb.shape[0] > n else None
            local = kcenter_greedy(points, k, centers)
        else:
            # weights > 0 everywhere so a candidate with score 0 still counts a little
            w = scores[cand] + 1e-6
            seed = int(rng.integers(2**31 - 1)) if rng is not None else self.seed
            local = cluster_picks(points, k, seed=seed, weights=w)
        return [int(cand[i]) for i in local]
