"""The simulated teacher hits its target F1, is seeded, and always says it is simulated."""

import pytest

from llmaaa.annotate.base import Teacher
from llmaaa.annotate.simulated import SimulatedTeacher, SimulatedTeacherError, corrupt
from llmaaa.data.schema import NO_RELATION, Example, LabelSet, Relation, Span
from llmaaa.metrics import entity_prf, relation_prf

LABELS = LabelSet(("PER", "LOC", "ORG"), ("Live_In", "Work_For", "Kill"))
PEOPLE = ["Anna Schmidt", "Bob", "Carla Rossi", "李明", "José", "Émile Zola", "王芳", "Dmitri"]
PLACES = ["Paris", "New York", "北京", "Zürich", "Rome", "São Paulo"]
ORGS = ["Siemens AG", "Google", "联合国", "Renault"]


def gold_set(n=150):
    out = []
    for i in range(n):
        p, l, o = PEOPLE[i % len(PEOPLE)], PLACES[i % len(PLACES)], ORGS[i % len(ORGS)]
        text = f"{p} of {o} lives in {l} since {1990 + i} 🙂."
        spans = [Span(text.index(m), text.index(m) + len(m), t) for m, t in ((p, "PER"), (o, "ORG"), (l, "LOC"))]
        out.append(Example(f"s{i}", text, tuple(spans), (Relation(0, 2, "Live_In"), Relation(0, 1, "Work_For"))))
    return out


@pytest.mark.parametrize("task,score", [("ner", entity_prf), ("re", relation_prf)])
@pytest.mark.parametrize("target", [0.81, 0.6])
def test_hits_target_f1(task, score, target):
    gold = gold_set()
    noisy = corrupt(gold, LABELS, task=task, target_f1=target, seed=1)
    assert abs(score(gold, noisy)["f1"] - target) <= 0.02
    assert all(ex.annotation["source"] == "simulated" for ex in noisy)
    assert noisy[0].annotation["model"] == f"simulated:f1={target:g}"
    if task == "re":  # entities stay gold; relations are flipped or dropped
        assert [e.entities for e in noisy] == [e.entities for e in gold]
        assert all(r.label != NO_RELATION for e in noisy for r in e.relations)


def test_seeded_and_independent_of_batching():
    gold = gold_set()
    t1 = SimulatedTeacher(gold, LABELS, task="ner", target_f1=0.7, seed=3)
    t2 = SimulatedTeacher({ex.id: ex for ex in gold}, LABELS, task="ner", target_f1=0.7, seed=3)
    t3 = SimulatedTeacher(gold, LABELS, task="ner", target_f1=0.7, seed=4)
    unlabeled = [ex.with_labels(entities=(), relations=()) for ex in gold]
    a = t1.annotate(unlabeled)
    assert [e.entities for e in a] == [e.entities for e in t2.annotate(unlabeled)]
    assert [e.entities for e in a[5:9]] == [e.entities for e in t1.annotate(unlabeled[5:9])]
    assert [e.entities for e in a] != [e.entities for e in t3.annotate(unlabeled)]
    assert isinstance(t1, Teacher) and t1.name == "simulated:f1=0.7"


def test_noise_kinds_are_all_present():
    gold = gold_set()
    noisy = corrupt(gold, LABELS, task="ner", target_f1=0.5, seed=0)
    g = {(e.id, s.start, s.end): s.label for e in gold for s in e.entities}
    n = {(e.id, s.start, s.end): s.label for e in noisy for s in e.entities}
    assert any(k in g and g[k] != v for k, v in n.items())  # wrong type
    assert any(k not in n for k in g)  # missed or moved
    n_starts = {(i, s) for i, s, _ in n}
    assert any(k not in g and (k[0], k[1]) in {(i, s) for i, s, _ in g} for k in n)  # boundary (same start)
    for e in noisy:
        e.validate()
    assert n_starts


def test_unknown_example_is_an_error():
    t = SimulatedTeacher(gold_set(10), LABELS, task="ner", target_f1=0.8)
    with pytest.raises(SimulatedTeacherError, match="not in the gold set"):
        t.annotate([Example("nope", "Who is this?")])


def test_relations_asked_per_pair_are_the_sentences_noisy_labels_read_per_pair():
    """Cutting sentences into pair examples changes what a label costs, not what the teacher says."""
    from llmaaa.data.pairs import pair_examples

    gold = gold_set(60)
    t = SimulatedTeacher(gold, LABELS, task="re", target_f1=0.6, seed=2)
    whole = {ex.id: ex for ex in t.annotate([ex.with_labels(relations=()) for ex in gold])}
    pairs = pair_examples(gold)
    answered = t.annotate([ex.with_labels(relations=()) for ex in pairs])
    assert len(answered) == 60 * 6
    for p in answered:
        (h, t_), = p.extra["pairs"]
        want = [r for r in whole[p.extra["pair_of"]].relations if (r.head, r.tail) == (h, t_)]
        assert list(p.relations) == want and p.entities == whole[p.extra["pair_of"]].entities
    # the pairs' labels are the sentences' labels: some flipped, some spurious, the same F1
    assert relation_prf(pairs, answered)["f1"] == pytest.approx(relation_prf(gold, list(whole.values()))["f1"])
    assert 0.5 < relation_prf(pairs, answered)["f1"] < 0.7
    # a sentence narrowed to listed pairs gets relations on those pairs only
    narrowed = t.annotate([gold[0].with_labels(relations=(), pairs=[[0, 2]])])[0]
    assert all((r.head, r.tail) == (0, 2) for r in narrowed.relations)


def test_ner_labels_whose_entities_changed_drop_the_pairs_that_indexed_the_old_ones():
    """A TACRED record's pairs ([[0, 1]]) kept beside the noisy entities failed any later RE use of the file."""
    from llmaaa.data.pairs import candidate_pairs

    ents = (Span(0, 4, "PER"), Span(14, 17, "ORG"))
    gold = [Example(f"e{i}", "Anna works at IBM in Paris .", ents, extra={"pairs": [[0, 1]]}) for i in range(40)]
    noisy = corrupt(gold, LabelSet(("PER", "ORG", "LOC")), task="ner", target_f1=0.5, seed=0)
    changed = [ex for ex in noisy if ex.entities != ents]
    assert changed and all("pairs" not in ex.extra for ex in changed)
    assert all(ex.extra["pairs"] == [[0, 1]] for ex in noisy if ex.entities == ents)
    for ex in noisy:
        candidate_pairs(ex)  # every example still reads


def test_a_pair_with_no_gold_relation_stays_unknown_in_the_simulated_answer():
    """A TACRED record with relation null has no gold to answer from: it came back as a made-up no_relation,
    and the student trained on it."""
    ents = (Span(0, 4, "PER"), Span(14, 17, "ORG"))
    known = Example("k", "Anna works at IBM .", ents, (Relation(0, 1, "Work_For"),), extra={"pairs": [[0, 1]]})
    unknown = Example("u", "Bob works at SAP .", ents, extra={"pairs": [[0, 1]],
                                                             "annotation": {"unlabeled_pairs": [[0, 1]]}})
    teacher = SimulatedTeacher([known, unknown], LabelSet(("PER", "ORG"), ("Work_For",)), task="re", target_f1=1.0)
    got = {ex.id: ex for ex in teacher.annotate([known, unknown])}
    assert got["u"].relations == () and got["u"].unlabeled_pairs == {(0, 1)}
    assert got["k"].relations == (Relation(0, 1, "Work_For"),) and got["k"].unlabeled_pairs == frozenset()
