"""RE candidate pairs, and examples cut into one entity pair each (the paper's RE labeling unit)."""

import pytest

from llmaaa.data.pairs import PAIR_OF, candidate_pairs, pair_examples
from llmaaa.data.schema import Example, Relation, Span

TEXT = "李明 works for Renault in São Paulo 🙂."


def sentence() -> Example:
    spans = tuple(Span(TEXT.index(m), TEXT.index(m) + len(m), t)
                  for m, t in (("李明", "PER"), ("Renault", "ORG"), ("São Paulo", "LOC")))
    return Example("s1", TEXT, spans, (Relation(0, 1, "Work_For"), Relation(1, 2, "OrgBased_In")), {"source": "x"})


def test_candidate_pairs_are_every_ordered_pair_or_the_listed_ones_in_any_form():
    ex = sentence()
    assert candidate_pairs(ex) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    listed = ex.with_labels(pairs=[[2, 0], {"head": 0, "tail": 1}, ["1", "2"]])
    assert candidate_pairs(listed) == [(2, 0), (0, 1), (1, 2)]
    for bad in ([[0, 3]], [[1, 1]], [["0", 0]]):
        with pytest.raises(ValueError, match="'s1': pair .* must join two of its 3 entities"):
            candidate_pairs(ex.with_labels(pairs=bad))


def test_pair_examples_hold_one_pair_with_its_relations_and_their_sentence():
    pairs = pair_examples([sentence(), Example("lonely", "Only Paris.", (Span(5, 10, "LOC"),))])
    assert [p.id for p in pairs] == ["s1#0>1", "s1#0>2", "s1#1>0", "s1#1>2", "s1#2>0", "s1#2>1"]  # none from "lonely"
    by_id = {p.id: p for p in pairs}
    assert by_id["s1#0>1"].relations == (Relation(0, 1, "Work_For"),)
    assert by_id["s1#1>2"].relations == (Relation(1, 2, "OrgBased_In"),)
    assert by_id["s1#1>0"].relations == ()  # the reverse direction is no relation
    for p in pairs:  # same text and entities (the markers index into them), one listed pair, the source kept
        assert p.text == TEXT and p.entities == sentence().entities
        assert candidate_pairs(p) == [tuple(p.extra["pairs"][0])] and p.extra[PAIR_OF] == "s1"
        assert p.extra["source"] == "x"
        assert p.validate() is p
    # every gold relation lands in exactly one pair example
    assert sorted((r.head, r.tail, r.label) for p in pairs for r in p.relations) == [(0, 1, "Work_For"), (1, 2, "OrgBased_In")]
