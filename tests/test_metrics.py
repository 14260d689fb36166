"""Entity / relation P R F1 on hand-made cases, and agreement with seqeval."""

import random

import pytest

from llmaaa.data.schema import NO_RELATION, Example, Relation, Span
from llmaaa.data.tags import join_tokens, tags_to_token_spans, token_spans_to_tags
from llmaaa.metrics import EvaluationError, confidence_calibration, entity_prf, relation_prf, seqeval_prf

TEXT = "Zoë Smith works for Acme Corp in Zürich"
PER, ORG, LOC = Span(0, 9, "PER"), Span(20, 29, "ORG"), Span(33, 39, "LOC")


def ex(i, *spans, rels=(), **extra):
    return Example(str(i), TEXT, spans, rels, extra)


def test_exact_match_partial_overlap_and_wrong_label():
    gold = [ex(1, PER, ORG, LOC)]
    pred = [ex(1, PER, Span(20, 24, "ORG"), Span(33, 39, "ORG"))]  # "Acme" only; Zürich as ORG
    m = entity_prf(gold, pred)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 2)
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(1 / 3)
    assert m["per_label"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 2, "fn": 1, "support": 1}
    assert m["per_label"]["PER"]["f1"] == 1.0
    assert m["per_label"]["LOC"]["fn"] == 1


def test_missing_and_failed_predictions_count_as_empty_and_are_reported():
    gold = [ex(1, PER), ex(2, ORG), ex(3, LOC)]
    failed = ex(2, ORG, annotation={"source": "llm", "error": "timeout"})  # labels of a failed call are ignored
    m = entity_prf(gold, [ex(1, PER), failed])
    assert (m["tp"], m["fp"], m["fn"]) == (1, 0, 2)
    assert (m["examples"], m["missing"], m["failed"]) == (3, 1, 1)
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(1 / 3)


def test_unknown_or_duplicate_prediction_ids_are_refused():
    with pytest.raises(EvaluationError, match="no gold example"):
        entity_prf([ex(1)], [ex(9)])
    with pytest.raises(EvaluationError, match="two predictions"):
        entity_prf([ex(1)], [ex(1), ex(1)])


def test_a_prediction_on_a_different_text_is_refused():
    with pytest.raises(EvaluationError, match="different text"):
        entity_prf([ex(1, PER)], [Example("1", TEXT.lower(), (PER,))])


def test_empty_inputs_score_zero_not_nan():
    m = entity_prf([ex(1)], [ex(1)])
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)


def test_relation_wrong_label_is_both_fp_and_fn_and_no_relation_is_ignored():
    gold = [ex(1, PER, ORG, LOC, rels=(Relation(0, 1, "Work_For"), Relation(1, 2, "OrgBased_In")))]
    pred = [ex(1, PER, ORG, LOC, rels=(Relation(0, 1, "Live_In"), Relation(1, 2, "OrgBased_In"), Relation(0, 2, NO_RELATION)))]
    m = relation_prf(gold, pred)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1)
    assert m["per_label"]["Live_In"]["fp"] == 1 and m["per_label"]["Work_For"]["fn"] == 1
    assert NO_RELATION not in m["per_label"]


def test_relations_match_by_span_not_by_entity_index_or_type():
    gold = [ex(1, PER, ORG, rels=(Relation(0, 1, "Work_For"),))]
    # Student found an extra entity first and typed Acme Corp as LOC: indices differ, spans agree.
    pred = [ex(1, LOC, Span(20, 29, "LOC"), PER, rels=(Relation(2, 1, "Work_For"),))]
    assert relation_prf(gold, pred)["f1"] == 1.0
    # A head span that is off by a token is a miss.
    pred = [ex(1, Span(0, 3, "PER"), ORG, rels=(Relation(0, 1, "Work_For"),))]
    assert relation_prf(gold, pred)["tp"] == 0


def test_seqeval_agrees_with_entity_prf_on_the_same_sentences():
    rng = random.Random(1)
    labels = ["PER", "LOC", "ORG"]
    gold_tags, pred_tags, gold, pred = [], [], [], []
    for i in range(40):
        n = rng.randint(3, 12)
        tokens = [rng.choice(["Zoë", "王", "🎉", "São", "a"]) for _ in range(n)]
        text, offsets = join_tokens(tokens)
        pair = []
        for _ in range(2):
            cut = sorted(rng.sample(range(n + 1), k=min(4, n + 1)))
            spans = [(cut[k], cut[k + 1], rng.choice(labels)) for k in range(0, len(cut) - 1, 2)]
            pair.append(token_spans_to_tags(spans, n, "bmes"))
        for tags, out_tags, out in ((pair[0], gold_tags, gold), (pair[1], pred_tags, pred)):
            out_tags.append(tags)
            ents = [Span(offsets[s][0], offsets[e - 1][1], lab) for s, e, lab in tags_to_token_spans(tags, "bmes")]
            out.append(Example(str(i), text, ents))
    ours = entity_prf(gold, pred)
    theirs = seqeval_prf(gold_tags, pred_tags, scheme="bmes")
    assert ours["tp"] > 0 and ours["fp"] > 0 and ours["fn"] > 0
    for key in ("precision", "recall", "f1"):
        assert theirs[key] == pytest.approx(ours[key])
    for label in labels:
        assert theirs["per_label"][label]["f1"] == pytest.approx(ours["per_label"][label]["f1"])
        assert theirs["per_label"][label]["support"] == ours["per_label"][label]["support"]


def test_seqeval_refuses_sequences_of_unequal_length():
    with pytest.raises(EvaluationError, match="sequence 0"):
        seqeval_prf([["O", "B-PER"]], [["O"]])


def test_confidence_calibration_bins_precision_and_auroc():
    gold = [Example("a", "Anna met Bob in Paris", (Span(0, 4, "PER"), Span(9, 12, "PER"), Span(16, 21, "LOC")))]
    pred = [Example("a", gold[0].text, (Span(0, 4, "PER", 0.9), Span(9, 12, "LOC", 0.9),  # a tie across right/wrong
                                        Span(16, 21, "LOC", 1.0), Span(13, 15, "LOC", 0.1), Span(4, 8, "PER")))]
    c = confidence_calibration(gold, pred)
    assert (c["labels"], c["unscored"]) == (5, 1) and c["precision"] == pytest.approx(2 / 5)
    # right {0.9, 1.0} vs wrong {0.9, 0.1}: pairs won 1 + 1 + 0.5 (tie) + 1 of 4
    assert c["auroc"] == pytest.approx(3.5 / 4)
    assert [(b["bin"], b["n"], b["precision"]) for b in c["bins"]] == [
        ("0-0.2", 1, 0.0), ("0.2-0.4", 0, None), ("0.4-0.6", 0, None), ("0.6-0.8", 0, None), ("0.8-1", 3, pytest.approx(2 / 3))]
    rel_gold = [Example("r", "Anna works for IBM", (Span(0, 4, "Peop"), Span(15, 18, "Org")), (Relation(0, 1, "Work_For"),))]
    rel_pred = [rel_gold[0].with_labels(relations=(Relation(0, 1, "Work_For", 0.8), Relation(1, 0, "Work_For", 0.2)))]
    r = confidence_calibration(rel_gold, rel_pred, "re")
    assert (r["labels"], r["precision"], r["auroc"]) == (2, 0.5, 1.0)
    assert confidence_calibration(gold, [gold[0].with_labels(entities=())])["auroc"] is None  # nothing to rank


def test_a_predicted_relation_on_a_pair_the_gold_leaves_unknown_is_not_scored():
    """A human linked the pair without a label: any relation there is neither right nor wrong."""
    ents = (Span(0, 4, "Peop"), Span(15, 18, "Org"), Span(22, 27, "Loc"))
    gold = Example("1", "Anna works for IBM in Paris.", ents, (Relation(1, 2, "OrgBased_In"),),
                   extra={"annotation": {"unlabeled_pairs": [[0, 1]]}})
    pred = Example("1", gold.text, ents, (Relation(0, 1, "Work_For"), Relation(1, 2, "OrgBased_In"),
                                          Relation(0, 2, "Live_In")))
    m = relation_prf([gold], [pred])
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 0)  # Live_In is a false positive; Work_For on (0, 1) is not counted


def test_calibration_leaves_out_relations_on_pairs_the_gold_leaves_unknown():
    ents = (Span(0, 4, "Peop"), Span(15, 18, "Org"))
    gold = Example("1", "Anna works for IBM.", ents, extra={"annotation": {"unlabeled_pairs": [[0, 1]]}})
    pred = Example("1", gold.text, ents, (Relation(0, 1, "Work_For", 0.9),))
    assert confidence_calibration([gold], [pred], task="re")["labels"] == 0
