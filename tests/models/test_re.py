"""The RE student: markers at the right places (any script), training, save -> load."""

import logging
import re

import numpy as np
import pytest

from llmaaa.data.schema import Example, LabelSet, Relation, Span
from llmaaa.training.export import load_task_model, save_model_version
from llmaaa.training.trainer import TrainConfig, build_model, train_task_model

LABELS = LabelSet(("PER", "LOC", "ORG"), ("Live_In", "Work_For"))


def rex(id_, text, ents, rels):
    spans = []
    for mention, label in ents:
        s = text.index(mention)
        spans.append(Span(s, s + len(mention), label))
    return Example(id_, text, tuple(spans), tuple(Relation(h, t, l) for h, t, l in rels))


TRAIN = [
    rex("r0", "Anna lives in Paris.", [("Anna", "PER"), ("Paris", "LOC")], [(0, 1, "Live_In")]),
    rex("r1", "Bob works for Siemens.", [("Bob", "PER"), ("Siemens", "ORG")], [(0, 1, "Work_For")]),
    rex("r2", "Carla lives in Rome.", [("Carla", "PER"), ("Rome", "LOC")], [(0, 1, "Live_In")]),
    rex("r3", "David works for Google.", [("David", "PER"), ("Google", "ORG")], [(0, 1, "Work_For")]),
    rex("r4", "李明住在北京。", [("李明", "PER"), ("北京", "LOC")], [(0, 1, "Live_In")]),
]


@pytest.fixture(scope="module")
def model():
    return build_model("re", LABELS, TrainConfig(device="cpu"))


def test_markers_wrap_head_and_tail(model):
    marked = model._marked(TRAIN[4], 1, 0)
    assert marked.replace(" ", "") == "[E2]李明[/E2]住在[E1]北京[/E1]。"
    f = model._pair_feature(TRAIN[4], 1, 0)
    toks = model.tokenizer.convert_ids_to_tokens(f["input_ids"])
    assert toks[f["e1"]] == "[E1]" and toks[f["e1"] + 1] == "北" and toks[f["e2"]] == "[E2]"


def test_every_ordered_pair_is_a_candidate(model):
    feats = model.features(TRAIN[:1])
    assert [f["pair"] for f in feats] == [(0, 1), (1, 0)]
    assert [model.classes[f["label"]] for f in feats] == ["Live_In", "no_relation"]
    only = TRAIN[0].with_labels(pairs=[[1, 0]])
    assert [f["pair"] for f in model.features([only])] == [(1, 0)]


def test_pairs_the_llm_was_not_asked_are_not_trained_as_no_relation(model):
    """A pair split across a long text's pieces is unknown: left out of training, still predicted."""
    ex = TRAIN[0].with_labels(annotation={"source": "llm", "unlabeled_pairs": [[1, 0]]})
    assert [f["pair"] for f in model.features([ex])] == [(0, 1)]
    assert [f["pair"] for f in model.features([ex], with_labels=False)] == [(0, 1), (1, 0)]


def test_long_text_keeps_both_markers(model):
    """A near pair deep inside one long run-on sentence: cropped around the pair, markers on their own tokens."""
    text = "and so on " * 100 + "Anna lives in Paris " + "and so on " * 100
    e = rex("long", text, [("Anna", "PER"), ("Paris", "LOC")], [(0, 1, "Live_In")])
    model.max_length, model.max_chars = 64, 0
    try:
        f = model._pair_feature(e, 0, 1)
        far = rex("far", "Anna " + "and so on " * 200 + "lives in Paris.", [("Anna", "PER"), ("Paris", "LOC")], [])
        assert model._pair_feature(far, 0, 1) is None  # 600 sub-tokens apart: no window holds both markers
    finally:
        model.max_length, model.max_chars = 256, 1000
    toks = model.tokenizer.convert_ids_to_tokens(f["input_ids"])
    assert len(toks) == 64 and toks[0] == "[CLS]" and toks[-1] == "[SEP]"
    assert toks[f["e1"]] == "[E1]" and toks[f["e1"] + 1] == "anna" and toks[f["e2"]] == "[E2]"


def test_a_long_document_pairs_only_within_its_sentence_pieces(model):
    """Pairs are read as the teacher asks them: within one piece, which is all the encoder sees."""
    sents = [f"Person{i} lives in Town{i} and likes it there ." for i in range(40)]
    text = " ".join(sents)  # ~1,900 chars, one pair per sentence
    ents, rels = [], []
    for i in range(40):
        ents += [(f"Person{i} ", "PER"), (f"Town{i} ", "LOC")]
        rels.append((2 * i, 2 * i + 1, "Live_In"))
    ex = rex("doc", text, [(m.strip(), lab) for m, lab in ents], rels)
    assert model.max_chars == 1000 and len(text) > 1000
    pieces = model.pieces(ex)
    assert len(pieces) == 2 and all(e - s <= 1000 for s, e in pieces)
    feats = model.features([ex])
    inside = lambda i: next(k for k, (s, e) in enumerate(pieces) if s <= ex.entities[i].start < e)  # noqa: E731
    assert {f["pair"] for f in feats} == {(h, t) for h in range(80) for t in range(80) if h != t and inside(h) == inside(t)}
    assert len(feats) < 80 * 79 / 2 + 1  # about half the ordered pairs
    assert sum(model.classes[f["label"]] == "Live_In" for f in feats) == 40  # no gold relation lost
    assert max(len(f["input_ids"]) for f in feats) <= 256
    model.max_chars = 0
    try:
        whole = model.features([ex], with_labels=False)  # 0: the whole text; pairs whose markers fit one window
        assert len(feats) < len(whole) < 80 * 79
    finally:
        model.max_chars = 1000


def test_outputs_have_a_row_per_pair(model):
    alone = Example("solo", "Nobody here.")
    out = model.outputs([TRAIN[0], alone])
    assert out.probs[0].shape == (2, 3) and out.probs[1].shape == (0, 3)
    assert np.allclose(np.linalg.norm(out.embeddings, axis=1), 1, atol=1e-5)


def test_one_pass_gold_evaluation_equals_loss_then_predict():
    import torch

    from llmaaa.training.trainer import evaluate

    m = build_model("re", LABELS, TrainConfig(device="cpu", seed=3))
    torch.manual_seed(3)  # the tilt below must not depend on what earlier tests drew
    with torch.no_grad():  # an untrained head predicts no_relation everywhere; tilt it so relations come out
        m.net.head.weight.normal_(0, 0.05)
        m.net.head.bias.copy_(torch.tensor([0.0, 0.02, 0.0]))
    gold = [*TRAIN, rex("r5", "Eve, Frank and Acme.", [("Eve", "PER"), ("Frank", "PER"), ("Acme", "ORG")], [(1, 2, "Work_For")])]
    feats = m.features(gold)
    losses, pred = m.losses_and_predict(gold, feats, batch_size=3)
    m.net.eval()
    with torch.no_grad():
        expected = m.example_losses(m.collate(feats)).numpy()
    assert losses.shape == (len(feats),) and np.allclose(losses, expected, atol=1e-5)
    two_pass = m.predict([e.with_labels(relations=()) for e in gold])
    assert [[(r.head, r.tail, r.label) for r in e.relations] for e in pred] == \
        [[(r.head, r.tail, r.label) for r in e.relations] for e in two_pass]
    assert any(e.relations for e in pred) and [e.entities for e in pred] == [e.entities for e in gold]
    loss, metrics = evaluate(m, "re", gold, feats, batch_size=4)  # the trainer's per-epoch call takes this path
    assert loss == pytest.approx(float(expected.mean()), abs=1e-5)
    from llmaaa.metrics import relation_prf

    assert metrics == relation_prf(gold, two_pass)


@pytest.mark.slow
def test_train_predict_save_load(tmp_path):
    cfg = TrainConfig(epochs=8, lr=3e-4, head_lr=3e-3, batch_size=2, device="cpu", patience=0)
    r = train_task_model("re", TRAIN, TRAIN[:4], LABELS, cfg, progress=False)
    assert r.gold_metrics["f1"] >= 0.75
    pred = r.model.predict([e.with_labels(relations=()) for e in TRAIN])
    assert pred[0].relations[0].label == "Live_In" and 0 < pred[0].relations[0].score <= 1
    path = save_model_version(r, tmp_path / "re-v1")
    loaded = load_task_model(path, device="cpu")
    assert [e.relations for e in loaded.predict(TRAIN)] == [e.relations for e in r.model.predict(TRAIN)]
    from transformers import AutoModel, AutoTokenizer

    assert AutoModel.from_pretrained(str(path)).config.vocab_size == len(AutoTokenizer.from_pretrained(str(path)))


def test_typed_markers_name_the_entity_types():
    typed = build_model("re", LABELS, TrainConfig(device="cpu", typed_markers=True))
    f = typed._pair_feature(TRAIN[1], 0, 1)
    toks = typed.tokenizer.convert_ids_to_tokens(f["input_ids"])
    assert toks[f["e1"]] == "[E1:PER]" and toks[f["e2"]] == "[E2:ORG]"
    assert "[/E2:ORG]" in toks


def test_listed_pairs_are_read_in_every_form_the_teacher_accepts(model):
    """``{"head", "tail"}`` objects (the teacher reads them) used to unpack to their key names."""
    listed = TRAIN[0].with_labels(pairs=[{"head": 1, "tail": 0}, [0, 1]])
    assert [f["pair"] for f in model.features([listed])] == [(1, 0), (0, 1)]
    assert [f["pair"] for f in model.features([TRAIN[0].with_labels(pairs=None)])] == [(0, 1), (1, 0)]
    with pytest.raises(ValueError, match=re.escape("example 'r0': pair [0, 5] must join two of its 2 entities")):
        model.predict([TRAIN[0].with_labels(pairs=[[0, 5]])])


def test_typed_markers_name_an_unknown_entity_type_in_the_warning(caplog):
    """Not "too far apart": the pair is skipped because no typed marker exists for its type."""
    typed = build_model("re", LABELS, TrainConfig(device="cpu", typed_markers=True))
    odd = rex("x", "Anna works at Acme.", [("Anna", "PER"), ("Acme", "COMPANY")], [(0, 1, "Work_For")])
    with caplog.at_level(logging.WARNING):
        assert typed.features([odd]) == []
    assert "outside the label set ['PER', 'LOC', 'ORG'] (typed markers have none): {'COMPANY': 2}" in caplog.text
    assert "too far apart" not in caplog.text
