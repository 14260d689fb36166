"""Uncertainty scores as pure functions over probability arrays.

An *example score* is built in two steps (LLMaAA §3.3; reference code ``src/active_learning/``):

1. a per-row uncertainty over one probability row ``p`` (a token's tag distribution for NER, a
   candidate pair's relation distribution for RE):

   - ``entropy``: ``-sum_c p_c log p_c`` (MaxEntropy);
   - ``least_confidence``: ``1 - max_c p_c`` (LeastConfidence);
   - ``margin``: ``1 - (p_top1 - p_top2)`` (Margin; a small gap is a high score).

2. a reduction of the example's rows to one number:

   - NER default ``sum``: the paper sums token scores on CoNLL03 (and means on OntoNotes), which
     favours long sentences, i.e. more entities per LLM call; ``mean`` and ``max`` are options.
   - RE default ``max``: an example is as uncertain as its most uncertain candidate pair.

An example with no rows (an empty text, an RE example with 0 candidate pairs) scores 0: nothing in
it can be learned. Higher score = more uncertain = picked first.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MEASURES = ("entropy", "least_confidence", "margin")
REDUCTIONS = ("sum", "mean", "max")
DEFAULT_REDUCTION = {"ner": "sum", "re": "max"}


def row_uncertainty(probs: np.ndarray, measure: str) -> np.ndarray:
    """Uncertainty of each row of ``probs`` (shape (n, C)) under ``measure``; shape (n,)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"expected a (rows, classes) probability array, got shape {p.shape}")
    if p.shape[0] == 0:
        return np.zeros(0)
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
        return -(p * logs).sum(axis=1)
    if measure == "least_confidence":
        return 1.0 - p.max(axis=1)
    if measure == "margin":
        if p.shape[1] < 2:
            return np.zeros(p.shape[0])
        top2 = -np.partition(-p, 1, axis=1)[:, :2]
        return 1.0 - (top2[:, 0] - top2[:, 1])
    raise ValueError(f"unknown uncertainty measure {measure!r}; choose one of {', '.join(MEASURES)}")


def reduce_rows(values: np.ndarray, lengths: np.ndarray, reduction: str) -> np.ndarray:
    """Reduce consecutive segments of ``values`` (segment i has ``lengths[i]`` rows) to one score each.

    Empty segments score 0. Vectorised with ``ufunc.reduceat`` so a 100k-example pool is one pass.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {', '.join(REDUCTIONS)}")
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.zeros(len(lengths))
    nonempty = lengths > 0
    if not nonempty.any():
        return out
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[nonempty]
    ufunc = np.maximum if reduction == "max" else np.add
    reduced = ufunc.reduceat(values, starts)
    if reduction == "mean":
        reduced = reduced / lengths[nonempty]
    out[nonempty] = reduced
    return out


def example_scores(
    probs: Sequence[np.ndarray], *, measure: str, reduction: str = "sum"
) -> np.ndarray:
    """One uncertainty score per example from its probability rows (see the module docstring)."""
    n = len(probs)
    if n == 0:
        return np.zeros(0)
    arrays = [np.asarray(p) for p in probs]
    lengths = np.array([a.shape[0] if a.ndim == 2 else 0 for a in arrays], dtype=np.int64)
    widths = {a.shape[1] for a, m in zip(arrays, lengths) if m > 0}
    if len(widths) > 1:  # mixed label spaces: score each example on its own
        return np.array(
            [float(reduce_rows(row_uncertainty(a, measure), [len(a)], reduction)[0]) if m else 0.0
             for a, m in zip(arrays, lengths)]
        )
    rows = [a for a, m in zip(arrays, lengths) if m > 0]
    if not rows:
        return np.zeros(n)
    values = row_uncertainty(np.concatenate(rows, axis=0), measure)
    return reduce_rows(values, lengths, reduction)


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` highest scores, best first; ties broken by the lower index (stable).

    NaN scores rank last, so a broken model output never crowds out real candidates.
    """
    s = np.asarray(scores, dtype=np.float64)
    k = min(int(k), len(s))
    if k <= 0:
        return []
    key = np.where(np.isnan(s), -np.inf, s)
    return [int(i) for i in np.argsort(-key, kind="stable")[:k]]
