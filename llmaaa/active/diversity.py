"""Diversity sampling on the student's embeddings: KMeans (the paper's) and KCenterGreedy (core-set).

Both read ``outputs.embeddings`` (L2-normalised, one row per example). Outputs may cover the pool
followed by the labeled set (``len(pool) + len(labeled)`` rows, pool first): KCenterGreedy then
starts from the labeled set's embeddings, as Sener & Savarese (2018) do; with pool rows only it
starts from the pool point nearest the pool's mean.
"""

from __future__ import annotations

from typing import Callable, Sequence

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
    """For each centroid a distinct point near it: its nearest point that no other centroid has taken.

    Two centroids sharing a nearest point (duplicates, empty clusters) would otherwise yield fewer
    than k picks, the reference code's bug; the later centroid takes its next-nearest free point. The
    centroids are served in rounds over their 8, 32, ... nearest points (earlier centroids first within a
    round), so a centroid whose 8 nearest are all taken may lose a farther point to a later centroid.
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


def finite_rows(points: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``points`` without NaN/inf (an fp16 forward pass that overflowed).

    faiss refuses (k-means) or aborts the process (weighted k-means) on them, and in k-center a NaN
    distance wins ``argmax``; the diversity samplers therefore cluster only these rows.
    """
    # a row sum is NaN/inf when any value is (or when it overflows: unusable too); no (n, d) mask. A row so
    # long that a squared distance to it can overflow float32 is unusable as well: faiss aborts the process
    # on it (no Python exception), and k-center's distances turn to inf
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.einsum("ij,ij->i", points, points).astype(np.float32)  # inf where it overflows
    return np.flatnonzero(np.isfinite(points.sum(axis=1)) & (norms < np.finfo(np.float32).max / 4))


def _broken_last(points: np.ndarray, k: int, pick: Callable[[np.ndarray], list[int]]) -> list[int]:
    """``pick(rows)`` (pool indices, best first) on the finite non-zero rows, then the rest by index up to ``k``.

    Broken rows are still pool examples: when ``k`` exceeds the finite rows they fill the batch, so a
    sampler returns exactly ``min(k, n)`` picks like every other. A zero row is an example with nothing to
    learn (an empty text, an RE sentence with no entity pair): far from every unit-length embedding, it
    was k-center's first pick every round until one was labeled, a label spent on nothing.
    """
    good = finite_rows(points)
    good = good[np.abs(points[good]).sum(axis=1) > 0]
    if len(good) == len(points):
        return pick(np.arange(len(points)))
    head = pick(good) if len(good) else []
    bad = np.setdiff1d(np.arange(len(points)), good)
    return head + [int(i) for i in bad[: k - len(head)]]


def clean_weights(weights: np.ndarray) -> np.ndarray:
    """k-means weights faiss can use: NaN, inf and negatives count 0, and every point gets 1e-6.

    A NaN or negative weight makes faiss abort the whole process (not an exception), and an all-zero
    batch (RE examples with no candidate pairs) must still cluster.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0) + 1e-6
    return np.ascontiguousarray(w, dtype=np.float32)


def cluster_picks(points: np.ndarray, k: int, *, seed: int, weights: np.ndarray | None = None) -> list[int]:
    """``min(k, n)`` distinct rows: the nearest unique point to each k-means centroid, heaviest cluster first."""
    k = min(int(k), len(points))
    if k <= 0:
        return []
    w = None if weights is None else clean_weights(weights)

    def pick(rows: np.ndarray) -> list[int]:
        m = min(k, len(rows))
        if m == len(rows):
            return [int(i) for i in rows]
        sub = np.ascontiguousarray(points if len(rows) == len(points) else points[rows], dtype=np.float32)
        centroids = kmeans_centroids(sub, m, seed=seed, weights=None if w is None else w[rows])
        return [int(rows[i]) for i in nearest_unique(sub, centroids)]

    return _broken_last(points, k, pick)


def kcenter_greedy(points: np.ndarray, k: int, centers: np.ndarray | None = None) -> list[int]:
    """Greedy 2-approximate k-center (core-set): repeatedly take the point farthest from all centers.

    Squared distances via ``|x|^2 - 2 x.c + |c|^2`` (one mat-vec per pick, no (n, d) temporaries);
    the initial distances to the labeled centers come from a faiss flat index. Ties go to the lower
    index; exact duplicates of a picked point are taken only once every other point is covered.
    Rows (and centers) with NaN/inf are left out and such pool rows come last.
    """
    k = min(int(k), len(points))
    if k <= 0:
        return []
    if centers is not None:
        centers = np.asarray(centers)
        centers = centers[finite_rows(centers)]

    def pick(rows: np.ndarray) -> list[int]:
        sub = points if len(rows) == len(points) else np.ascontiguousarray(points[rows])
        return [int(rows[i]) for i in _greedy(sub, min(k, len(rows)), centers)]

    return _broken_last(points, k, pick)


def _greedy(points: np.ndarray, k: int, centers: np.ndarray | None) -> list[int]:
    """The k-center loop of ``kcenter_greedy`` on finite ``points`` (1 <= k <= len(points))."""
    n = len(points)
    sq = np.einsum("ij,ij->i", points, points)
    if centers is not None and len(centers):
        index = faiss.IndexFlatL2(points.shape[1])
        index.add(np.ascontiguousarray(centers, dtype=np.float32))
        dist, _ = index.search(np.ascontiguousarray(points, dtype=np.float32), 1)
        mind = dist[:, 0].astype(np.float64)
        first = None
    else:
        # nearest point to the mean, by the same expansion: |x - m|^2 = |x|^2 - 2 x.m + const
        mean = points.mean(axis=0)
        first = int(np.argmin(sq - 2.0 * (points @ mean)))
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
