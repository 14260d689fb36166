"""Diversity sampling on the student's embeddings: KMeans (the paper's) and KCenterGreedy (core-set).

Both read ``outputs.embeddings`` (L2-normalised, one row per example). Outputs may cover the pool
followed by the labeled set (``len(pool) + len(labeled)`` rows, pool first): KCenterGreedy then
starts from the labeled set's embeddings, as Sener & Savarese (2018) do; with pool rows only it
starts from the pool point nearest the pool's mean.
"""

from __future__ import annotations

from typing import Sequence

import faiss
import numpy as np

from llmaaa.active.base import SamplerError, register
from llmaaa.data.schema import Example
from llmaaa.models.base import ModelOutputs


def _embeddings(outputs: ModelOutputs | None, n_pool: int, who: str) -> np.ndarray:
    if outputs is None:
        raise SamplerError(f"{who} needs the student's embeddings of the pool; train a student first")
    emb = np.ascontiguousarray(outputs.embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] < n_pool:
        raise SamplerError(f"{who}: embeddings of shape {emb.shape} do not cover a pool of {n_pool}")
    return emb


def nearest_unique(points: np.ndarray, centroids: np.ndarray) -> list[int]:
    """For each centroid, in order, the nearest point not already taken by an earlier centroid.

    Two centroids sharing a nearest point (duplicates, empty clusters) would otherwise yield fewer
    than k picks, the reference code's bug; the later centroid takes its next-nearest free point.
    Returns ``min(len(centroids), len(points))`` distinct indices.
    """
    n, k = len(points), min(len(centroids), len(points))
    index = faiss.IndexFlatL2(points.shape[1])
    index.add(points)
    taken: set[int] = set()
    picks: list[int | None] = [None] * k
    width = min(n, 8)
    todo = list(range(k))
    while todo:
        _, nn = index.search(np.ascontiguousarray(centroids[todo], dtype=np.float32), width)
        rest = []
        for row, c in enumerate(todo):
            free = next((int(j) for j in nn[row] if j >= 0 and int(j) not in taken), None)
            if free is None:
                rest.append(c)
            else:
                picks[c] = free
                taken.add(free)
        if rest and width == n:  # cannot happen (k <= n), kept as a guard against an endless loop
            raise SamplerError("nearest_unique ran out of points")
        todo, width = rest, min(n, width * 4)
    return [int(p) for p in picks]  # type: ignore[arg-type]


def kmeans_centroids(
    points: np.ndarray, k: int, *, seed: int, weights: np.ndarray | None = None, niter: int = 20
) -> np.ndarray:
    """faiss k-means (optionally weighted) centroids, ordered by cluster weight, largest first."""
    km = faiss.Kmeans(points.shape[1], k, niter=niter, seed=seed, verbose=False, min_points_per_centroid=1)
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
    km.train(points, weights=w)
    _, assign = km.index.search(points, 1)
    mass = np.bincount(assign[:, 0], weights=w, minlength=k)
    order = np.argsort(-mass, kind="stable")
    return km.centroids[order]


def cluster_picks(points: np.ndarray, k: int, *, seed: int, weights: np.ndarray | None = None) -> list[int]:
    k = min(int(k), len(points))
    if k <= 0:
        return []
    if k == len(points):
        return list(range(k))
    return nearest_unique(points, kmeans_centroids(points, k, seed=seed, weights=weights))


def kcenter_greedy(points: np.ndarray, k: int, centers: np.ndarray | None = None) -> list[int]:
    """Greedy 2-approximate k-center (core-set): repeatedly take the point farthest from all centers.

    Squared distances via ``|x|^2 - 2 x.c + |c|^2`` (one mat-vec per pick, no (n, d) temporaries);
    the initial distances to the labeled centers come from a faiss flat index. Ties go to the lower
    index; exact duplicates of a picked point are taken only once every other point is covered.
    """
    n = len(points)
    k = min(int(k), n)
    if k <= 0:
        return []
    sq = np.einsum("ij,ij->i", points, points)
    if centers is not None and len(centers):
        index = faiss.IndexFlatL2(points.shape[1])
        index.add(np.ascontiguousarray(centers, dtype=np.float32))
        dist, _ = index.search(points, 1)
        mind = dist[:, 0].astype(np.float64)
        first = None
    else:
        mean = points.mean(axis=0)
        first = int(np.argmin(((points - mean) ** 2).sum(axis=1)))
        mind = np.full(n, np.inf)
    picks: list[int] = []
    taken = np.zeros(n, dtype=bool)
    while len(picks) < k:
        if first is not None:
            j, first = first, None
        else:
            j = int(np.argmax(np.where(taken, -1.0, mind)))
        picks.append(j)
        taken[j] = True
        d = sq - 2.0 * (points @ points[j]) + sq[j]
        np.minimum(mind, np.maximum(d, 0.0), out=mind)
    return picks


@register("kmeans")
class KMeans:
    """k-means on the pool's embeddings, then the nearest unique pool point to each centroid (LLMaAA §4)."""

    name = "kmeans"
    needs_outputs = True

    def __init__(self, *, seed: int = 0, **_: object) -> None:
        self.seed = seed

    def select(
        self,
        pool: Sequence[Example],
        outputs: ModelOutputs | None,
        k: int,
        labeled: Sequence[Example] = (),
        *,
        rng: np.random.Generator | None = None,
    ) -> list[int]:
        emb = _embeddings(outputs, len(pool), self.name)[: len(pool)]
        seed = int(rng.integers(2**31 - 1)) if rng is not None else self.seed
        return cluster_picks(emb, k, seed=seed)


@register("kcenter")
class KCenterGreedy:
    """Core-set selection (Sener & Savarese, ICLR 2018): cover the embedding space, labeled set included."""

    name = "kcenter"
    needs_outputs = True
    needs_labeled_outputs = True

    def __init__(self, **_: object) -> None:
        pass

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
        centers = emb[len(pool) :] if emb.shape[0] > len(pool) else None
        return kcenter_greedy(np.ascontiguousarray(emb[: len(pool)]), k, centers)
