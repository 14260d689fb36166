"""Entity and relation precision / recall / F1 (micro), pure functions on examples or tag sequences.

NER is scored by exact ``(start, end, label)`` char spans, as in the LLMaAA reference
(``evaluation.py::MetricForNer``) and CoNLL: a partial overlap or a wrong type is a miss.
RE is scored on positive (non-``no_relation``) relations matched by the *char spans* of their
head and tail plus the label, so a teacher and a student with different entity lists are scored
the same way.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

from llmaaa.data.schema import NO_RELATION, Example, Relation
from llmaaa.data.tags import check_scheme, convert_tags


class EvaluationError(ValueError):
    """Gold and predictions that cannot be compared (unknown or duplicate ids, unequal lengths)."""


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    """Precision, recall, F1 and the counts; 0.0 where a ratio is undefined."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn, "support": tp + fn}


def _pair(gold: Sequence[Example], pred: Sequence[Example]) -> tuple[list[tuple[Example, Example | None]], dict[str, int]]:
    by_id: dict[str, Example] = {}
    for ex in gold:
        if ex.id in by_id:
            raise EvaluationError(f"gold has two examples with id {ex.id!r}; ids must be unique")
        by_id[ex.id] = ex
    pred_by_id: dict[str, Example] = {}
    for ex in pred:
        if ex.id not in by_id:
            raise EvaluationError(f"prediction {ex.id!r} has no gold example with that id; were they made from the same file?")
        if ex.id in pred_by_id:
            raise EvaluationError(f"two predictions for id {ex.id!r}; keep one per example")
        if ex.text != by_id[ex.id].text:
            raise EvaluationError(
                f"prediction {ex.id!r} has a different text than its gold example, so char offsets cannot be "
                "compared; predict on the gold texts unchanged"
            )
        pred_by_id[ex.id] = ex
    pairs = [(g, pred_by_id.get(g.id)) for g in gold]
    counts = {
        "examples": len(gold),
        "missing": sum(p is None for _, p in pairs),
        "failed": sum(p is not None and p.failed for _, p in pairs),
    }
    return pairs, counts


def _score(
    gold: Sequence[Example], pred: Sequence[Example], items: Callable[[Example], Iterable[tuple[Hashable, str]]],
    *, unscored: Callable[[Example], set] | None = None,
) -> dict[str, Any]:
    pairs, counts = _pair(gold, pred)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in pairs:
        gold_set = set(items(g))
        # A missing or failed prediction is scored as empty: its gold items are all misses.
        pred_set = set() if p is None or p.failed else set(items(p))
        if unscored is not None and (skip := unscored(g)):  # keys the gold example says nothing about
            pred_set = {item for item in pred_set if item[0][:2] not in skip}
        for _, label in gold_set & pred_set:
            tp[label] += 1
        for _, label in pred_set - gold_set:
            fp[label] += 1
        for _, label in gold_set - pred_set:
            fn[label] += 1
    labels = sorted(set(tp) | set(fp) | set(fn))
    return {
        **prf(sum(tp.values()), sum(fp.values()), sum(fn.values())),
        **counts,
        "per_label": {label: prf(tp[label], fp[label], fn[label]) for label in labels},
    }


def _entity_items(ex: Example) -> Iterable[tuple[Hashable, str]]:
    return ((s.key(), s.label) for s in ex.entities)


def _keyed_relations(ex: Example) -> Iterable[tuple[Hashable, Relation]]:
    """Positive relations keyed by (head span, tail span, label), the way they are matched."""
    ents = ex.entities
    for r in ex.relations:
        if r.label != NO_RELATION:
            head, tail = ents[r.head], ents[r.tail]
            yield ((head.start, head.end), (tail.start, tail.end), r.label), r


def _unknown_span_pairs(ex: Example) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    """The (head span, tail span) of the pairs ``ex`` leaves unknown (``Example.unlabeled_pairs``)."""
    ents = ex.entities
    return {((ents[h].start, ents[h].end), (ents[t].start, ents[t].end))
            for h, t in ex.unlabeled_pairs if 0 <= h < len(ents) and 0 <= t < len(ents)}


def _relation_items(ex: Example) -> Iterable[tuple[Hashable, str]]:
    return ((key, r.label) for key, r in _keyed_relations(ex))


def entity_prf(gold: Sequence[Example], pred: Sequence[Example]) -> dict[str, Any]:
    """Micro P/R/F1 of exact ``(start, end, label)`` entity spans, overall and per label.

    Examples are matched by id: a prediction whose id is not in ``gold`` raises
    ``EvaluationError``, as does one whose text differs from its gold text; a gold example without a prediction (``missing``) or with a failed one
    (``Example.failed``, counted in ``failed``) is scored as predicting no entities. Duplicate
    spans within one example count once.
    """
    return _score(gold, pred, _entity_items)


def relation_prf(gold: Sequence[Example], pred: Sequence[Example]) -> dict[str, Any]:
    """Micro P/R/F1 over positive relations, matched by (head span, tail span, label).

    Spans are compared by ``(start, end)`` only, so an entity-type error does not hide a correct
    relation. ``no_relation`` is never scored. A wrong positive label is both a false positive
    (for the predicted label) and a false negative (for the gold one), the standard TACRED
    scoring; note that the LLMaAA reference ``MetricForRe`` counts it only as a false positive,
    which inflates its recall compared with these numbers. Missing and failed predictions are
    handled as in ``entity_prf``. A predicted relation on a pair the gold example leaves unknown
    (``Example.unlabeled_pairs``) is not scored.
    """
    return _score(gold, pred, _relation_items, unscored=_unknown_span_pairs)


CONFIDENCE_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def confidence_calibration(gold: Sequence[Example], pred: Sequence[Example], task: str = "ner",
                           edges: Sequence[float] = CONFIDENCE_EDGES) -> dict[str, Any]:
    """Whether predicted labels' ``score`` tells the right ones from the wrong ones.

    Labels are matched as ``entity_prf`` (``task="ner"``) or ``relation_prf`` (``"re"``) match them.
    Returns how many labels there are and how many carry no score, their overall precision, the
    precision of the scored ones per ``edges`` bin (the last bin includes 1.0), and the AUROC of the
    score for right vs wrong labels (0.5: no signal; None without both kinds).
    """
    gold_items, pred_items = (_entity_items, _entity_scores) if task == "ner" else (_relation_items, _relation_scores)
    labeled: list[tuple[float | None, bool]] = []
    for g, p in _pair(gold, pred)[0]:
        if p is None or p.failed:
            continue
        keys = {k for k, _ in gold_items(g)}
        unknown = _unknown_span_pairs(g) if task != "ner" else set()  # as relation_prf: not scored
        labeled += [(score, key in keys) for key, score in pred_items(p) if key[:2] not in unknown]
    scored = [(s, ok) for s, ok in labeled if s is not None]
    bins = []
    for i, (lo, hi) in enumerate(zip(edges, edges[1:])):
        last = i == len(edges) - 2
        inside = [ok for s, ok in scored if lo <= s < hi or (last and s == hi)]
        bins.append({"bin": f"{lo:g}-{hi:g}", "n": len(inside), "precision": sum(inside) / len(inside) if inside else None})
    return {"labels": len(labeled), "unscored": len(labeled) - len(scored),
            "precision": sum(ok for _, ok in labeled) / len(labeled) if labeled else None,
            "auroc": _auroc(scored), "bins": bins}


def _entity_scores(ex: Example) -> Iterable[tuple[Hashable, float | None]]:
    return ((s.key(), s.score) for s in ex.entities)


def _relation_scores(ex: Example) -> Iterable[tuple[Hashable, float | None]]:
    return ((key, r.score) for key, r in _keyed_relations(ex))


def _auroc(scored: Sequence[tuple[float, bool]]) -> float | None:
    """Mann-Whitney: the chance that a right label outscores a wrong one, ties counted half (average ranks)."""
    n_right = sum(ok for _, ok in scored)
    n_wrong = len(scored) - n_right
    if not n_right or not n_wrong:
        return None
    order = sorted(scored, key=lambda x: x[0])
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j < len(order) and order[j][0] == order[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2  # ranks i+1 .. j share their mean
        rank_sum += mean_rank * sum(ok for _, ok in order[i:j])
        i = j
    return (rank_sum - n_right * (n_right + 1) / 2) / (n_right * n_wrong)


def seqeval_prf(
    gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]], *, scheme: str = "iob2"
) -> dict[str, Any]:
    """Micro P/R/F1 (and per label) of tag sequences with seqeval's default (lenient conlleval) mode.

    Tags in ``bilou``, ``bioes`` or ``bmes`` are first re-encoded to IOB2 (seqeval's default mode
    does not know ``L``/``U``/``M``); sequences of the same sentence must have equal length.
    """
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    if len(gold_tags) != len(pred_tags):
        raise EvaluationError(f"{len(gold_tags)} gold sequences but {len(pred_tags)} predicted ones")
    for k, (g, p) in enumerate(zip(gold_tags, pred_tags)):
        if len(g) != len(p):
            raise EvaluationError(f"sequence {k}: {len(g)} gold tags but {len(p)} predicted tags")
    if check_scheme(scheme) not in ("iob1", "iob2"):
        gold_tags = [convert_tags(s, scheme, "iob2") for s in gold_tags]
        pred_tags = [convert_tags(s, scheme, "iob2") for s in pred_tags]
    gold_l, pred_l = [list(s) for s in gold_tags], [list(s) for s in pred_tags]
    report: Mapping[str, Any] = classification_report(gold_l, pred_l, output_dict=True, zero_division=0)
    per_label = {
        label: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"], "support": int(v["support"])}
        for label, v in report.items()
        if not label.endswith(" avg")
    }
    return {
        "precision": float(precision_score(gold_l, pred_l, zero_division=0)),
        "recall": float(recall_score(gold_l, pred_l, zero_division=0)),
        "f1": float(f1_score(gold_l, pred_l, zero_division=0)),
        "per_label": per_label,
    }
