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
it can be learned. An example with a broken row (NaN/inf, negative, all zero) scores NaN and ranks
last. Higher score = more uncertain = picked first.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MEASURES = ("entropy", "least_confidence", "margin")
REDUCTIONS = ("sum", "mean", "max")
DEFAULT_REDUCTION = {"ner": "sum", "re": "max"}


def usable_rows(p: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Which rows of ``p`` (shape (n, C), row sums ``sums``) are probability rows: finite, non-negative, not all zero.

    Anything else is a broken model output (a float16 overflow gives NaN/inf, a window that never
    covered a token leaves a row of zeros, logits have negatives); scored as it is, such a row would
    look maximally uncertain (``1 - max`` of a zero row is 1; ``margin`` ignores a NaN) and win.
    A row sum is NaN/inf when any value is: two row reductions, no (n, C) boolean temporaries.
    """
    return np.isfinite(sums) & (sums > 0) & (p.min(axis=1) >= 0)


def row_uncertainty(probs: np.ndarray, measure: str) -> np.ndarray:
    """Uncertainty of each row of ``probs`` (shape (n, C)) under ``measure``; shape (n,).

    Rows are renormalised to sum to 1 (a float16 student's rows are off by ~1e-3, enough to reorder
    near-ties across examples); a row that is not a probability row (``usable_rows``) scores NaN,
    which ``top_k`` ranks last.
    """
    p = np.array(probs, dtype=np.float64)  # a copy: normalised in place below
    if p.ndim != 2:
        raise ValueError(f"expected a (rows, classes) probability array, got shape {p.shape}")
    if p.shape[0] == 0:
        return np.zeros(0)
    if measure not in MEASURES:
        raise ValueError(f"unknown uncertainty measure {measure!r}; choose one of {', '.join(MEASURES)}")
    sums = p.sum(axis=1)
    ok = usable_rows(p, sums)
    if not ok.all():
        p[~ok] = 1.0  # placeholder so the maths below stays finite; these rows become NaN at the end
        sums[~ok] = p.shape[1]
    p /= sums[:, None]
    values = _measure(p, measure)
    values[~ok] = np.nan
    return values


def _measure(p: np.ndarray, measure: str) -> np.ndarray:
    """``measure`` on rows that are probability distributions (see ``row_uncertainty``)."""
    if measure == "entropy":
        terms = np.where(p > 0, p, 1.0)  # log(1) = 0 stands in for 0 log 0 = 0; one (n, C) temporary
        np.log(terms, out=terms)
        terms *= p
        return -terms.sum(axis=1)
    if measure == "least_confidence":
        return 1.0 - p.max(axis=1)
    if p.shape[1] < 2:  # margin with a single class: nothing to be unsure between
        return np.zeros(p.shape[0])
    top2 = -np.partition(-p, 1, axis=1)[:, :2]
    return 1.0 - (top2[:, 0] - top2[:, 1])


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
    # a single row squeezed to (classes,) is one row, not none: it must not rank with the empty examples
    arrays = [a[None, :] if (a := np.asarray(p)).ndim == 1 and a.size else a for p in probs]
    for i, a in enumerate(arrays):
        # (1, T, C) with the batch axis left in would score 0, as an empty example; (T, 0) has no classes
        if (a.size and a.ndim != 2) or (a.ndim == 2 and a.shape[0] > 0 and a.shape[1] < 1):
            raise ValueError(f"example {i}: probabilities of shape {a.shape}; expected (rows, classes) with classes >= 1")
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
