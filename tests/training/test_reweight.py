"""Learning-to-reweight: labels that contradict the gold set get weight 0, agreeing ones get weight."""

import pytest
import torch

from llmaaa.data.schema import Example, LabelSet, Span
from llmaaa.training.reweight import LearningToReweight, ReweightError, alignment_scope, normalize_weights
from llmaaa.training.trainer import TrainConfig, build_model, seed_everything

LABELS = LabelSet(("PER", "LOC"))


def whole(id_, text, label):
    """An example whose whole text is one entity, so every labeled token carries the label."""
    return Example(id_, text, (Span(0, len(text), label),))


GOLD = [whole("g0", "London", "LOC"), whole("g1", "Rome", "LOC"), whole("g2", "Madrid", "LOC"), whole("g3", "Vienna", "LOC")]
AGREE = whole("agree", "Paris", "LOC")
CONTRADICT = whole("contradict", "Berlin", "PER")


@pytest.fixture(scope="module")
def model():
    seed_everything(0)
    m = build_model("ner", LABELS, TrainConfig(device="cpu", reweight=True, reweight_method="exact"))
    m.net.eval()  # no dropout: deterministic gradients for the comparison
    return m


def reweighter(model, method):
    return LearningToReweight(model, model.features(GOLD), lr=5e-5, head_lr=1e-4, batch_size=4, method=method)


@pytest.mark.parametrize("method", ["fast", "exact"])
def test_contradicting_label_gets_zero_weight(model, method):
    batch = model.collate(model.features([AGREE, CONTRADICT]))
    w = reweighter(model, method).weights(batch)
    assert w[0] > 0 and w[1] == 0
    assert float(w.sum()) == pytest.approx(1.0)


def test_fast_and_exact_agree_in_sign(model):
    train = [AGREE, CONTRADICT, whole("a2", "Oslo", "LOC"), whole("c2", "Prague", "PER")]
    batch = model.collate(model.features(train))
    exact = reweighter(model, "exact").exact_grad(batch, reweighter(model, "exact").gold_batch())
    fast_rw = reweighter(model, "fast")
    fast = fast_rw.fast_grad(model.example_losses(batch), fast_rw.gold_batch())
    assert torch.equal(torch.sign(exact), torch.sign(fast))
    assert (exact[[0, 2]] < 0).all() and (exact[[1, 3]] > 0).all()


def test_all_zero_weights_when_nothing_helps():
    assert torch.equal(normalize_weights(torch.tensor([0.5, 0.1])), torch.zeros(2))
    assert normalize_weights(torch.tensor([-1.0, 1.0, -3.0])).tolist() == [0.25, 0.0, 0.75]
    # a non-finite meta-gradient gives its example no weight, not the batch (NaN) or the loss (inf) a NaN
    assert normalize_weights(torch.tensor([float("nan"), -1.0])).tolist() == [0.0, 1.0]
    assert normalize_weights(torch.tensor([float("-inf"), -1.0, 2.0])).tolist() == [0.0, 1.0, 0.0]


def test_scope_is_head_and_top_feed_forward(model):
    names = [n for n, _ in alignment_scope(model)]
    assert "classifier.weight" in names
    assert any(".layer.5.output.dense" in n for n in names)
    assert not any("attention" in n or ".layer.4." in n for n in names)


def test_reweighting_needs_gold(model):
    with pytest.raises(ReweightError, match="gold"):
        LearningToReweight(model, [], lr=1e-5, head_lr=1e-4)
    with pytest.raises(ReweightError, match="method"):
        LearningToReweight(model, model.features(GOLD), lr=1e-5, head_lr=1e-4, method="higher")


def test_the_meta_loss_is_the_mean_over_the_gold_batchs_labeled_tokens():
    """The paper's L_M: every labeled gold token once. The mean of per-sentence means gave a 2-token gold
    sentence the pull of a 40-token one."""
    from llmaaa.training.reweight import meta_loss

    labels = torch.tensor([[1, 2, -100, -100], [0, 1, 1, 2]])  # 2 and 4 labeled tokens
    per_row = torch.tensor([3.0, 0.0])  # each row's mean over its labeled tokens
    assert meta_loss(per_row, {"labels": labels}).item() == pytest.approx(3.0 * 2 / 6)
    assert meta_loss(per_row, {"labels": torch.tensor([1, 0])}).item() == pytest.approx(1.5)  # RE: one label a row
    assert meta_loss(per_row, {"labels": torch.full((2, 3), -100)}).item() == 0.0  # nothing labeled: no NaN
