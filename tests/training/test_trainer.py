"""The NER student learns tiny data, skips failed labels, and round-trips through a model folder."""

import json
import logging
import re

import numpy as np
import pytest

from llmaaa.training.export import load_task_model, save_model_version
from llmaaa.data.schema import Example, LabelSet, Span
from llmaaa.training.batching import epoch_batches
from llmaaa.training.trainer import TrainConfig, TrainingError, build_model, epochs_for, train_task_model

from train_cases import GOLD, LABELS, TRAIN

FAST = dict(epochs=4, lr=1e-3, head_lr=3e-3, batch_size=4, device="cpu", patience=0)


@pytest.fixture(scope="module")
def result():
    return train_task_model("ner", TRAIN, GOLD, LABELS, TrainConfig(**FAST), progress=False)


@pytest.mark.slow
def test_student_fits_tiny_data(result):
    assert result.gold_metrics["f1"] == 1.0
    assert len(result.history) == 4 and {"train_loss", "gold_loss", "gold_f1", "seconds", "train_seconds"} <= set(result.history[0])
    pred = result.model.predict([TRAIN[6].with_labels(entities=())])[0]  # Chinese, no spaces
    assert [(s.start, s.end, s.label) for s in pred.entities] == [(0, 2, "PER"), (4, 6, "LOC")]
    assert all(0 < s.score <= 1 for s in pred.entities)


@pytest.mark.slow
def test_outputs_shapes_for_samplers(result):
    out = result.model.outputs(TRAIN[:3])
    assert len(out.probs) == 3 and out.probs[0].shape[1] == 5  # O + B/I x 2 labels
    assert np.allclose(out.probs[0].sum(1), 1, atol=1e-4)
    assert out.embeddings.shape == (3, 384)
    assert np.allclose(np.linalg.norm(out.embeddings, axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_save_load_same_predictions(result, tmp_path):
    path = save_model_version(result, tmp_path / "v1")
    assert {"labels.json", "train_config.json", "metrics.json", "history.json", "README.md", "config.json"} <= {
        p.name for p in path.iterdir()}
    assert json.loads((path / "metrics.json").read_text())["gold"]["f1"] == 1.0
    assert "gold F1 | 1.0000" in (path / "README.md").read_text()
    loaded = load_task_model(path, device="cpu")
    before = result.model.predict(TRAIN)
    after = loaded.predict(TRAIN)
    assert [e.entities for e in before] == [e.entities for e in after]
    save_model_version(result, path)  # publishing over an existing version replaces it
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


@pytest.mark.slow
def test_plain_transformers_pipeline_loads_the_folder(result, tmp_path):
    from transformers import pipeline

    path = save_model_version(result, tmp_path / "v1")
    ner = pipeline("token-classification", model=str(path), aggregation_strategy="first", device="cpu")
    found = {(r["entity_group"], r["start"], r["end"]) for r in ner("Anna lives in Paris.")}
    assert found == {("PER", 0, 4), ("LOC", 14, 19)}


@pytest.mark.slow
def test_failed_examples_are_skipped_and_empty_gold_works(caplog):
    failed = TRAIN[0].with_labels(entities=(), annotation={"source": "llm", "error": "timeout"})
    cfg = TrainConfig(**{**FAST, "epochs": 1, "reweight": True})
    with caplog.at_level(logging.WARNING):
        r = train_task_model("ner", [failed, *TRAIN[1:3]], [], LABELS, cfg, progress=False)
    assert r.data["skipped_failed"] == 1 and r.data["train"] == 2
    assert r.data["reweight"] is False and "without reweighting" in caplog.text
    assert r.gold_metrics == {} and len(r.history) == 1


def test_nothing_to_train_on_is_an_error():
    failed = TRAIN[0].with_labels(entities=(), annotation={"source": "llm", "error": "timeout"})
    with pytest.raises(TrainingError, match="no usable training examples"):
        train_task_model("ner", [failed], GOLD, LABELS, TrainConfig(**FAST), progress=False)
    with pytest.raises(TrainingError, match="unknown task"):
        train_task_model("pos", TRAIN, GOLD, LABELS, TrainConfig(**FAST), progress=False)


@pytest.mark.slow
def test_warm_start_leaves_the_previous_student_untouched(result):
    before = [e.entities for e in result.model.predict(TRAIN)]
    cfg = TrainConfig(**{**FAST, "epochs": 1, "warm_start": True})
    warm = train_task_model("ner", TRAIN[:2], GOLD, LABELS, cfg, init_from=result.model, progress=False)
    assert warm.model is not result.model
    assert warm.history[0]["gold_f1"] >= 0.75  # starts from a trained student, not from scratch
    assert [e.entities for e in result.model.predict(TRAIN)] == before


@pytest.mark.slow
def test_reweighted_training_reports_a_weight_per_example_and_saves_it(tmp_path):
    failed = TRAIN[0].with_labels(entities=(), annotation={"source": "llm", "error": "timeout"})
    train = [failed, *TRAIN[1:5]]
    r = train_task_model("ner", train, GOLD, LABELS, TrainConfig(**{**FAST, "epochs": 2, "reweight": True}), progress=False)
    assert set(r.example_weights) == {ex.id for ex in TRAIN[1:5]}  # the failed example was never trained on
    assert all(0.0 <= w <= 4.0 for w in r.example_weights.values())  # x batch size: at most the whole batch
    path = save_model_version(r, tmp_path / "v1")
    assert json.loads((path / "example_weights.json").read_text()) == r.example_weights
    plain = train_task_model("ner", TRAIN[1:3], GOLD, LABELS, TrainConfig(**{**FAST, "epochs": 1}), progress=False)
    assert plain.example_weights == {}
    assert not (save_model_version(plain, tmp_path / "v2") / "example_weights.json").exists()


@pytest.mark.parametrize("grouped", [False, True])
def test_epoch_batches_cover_every_feature_once_in_the_same_number_of_batches(grouped):
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(3, 120, size=1003))
    batches = epoch_batches(lengths, 8, np.random.default_rng(1), group_by_length=grouped, group=10)
    assert len(batches) == 126  # ceil(1003 / 8): the lr schedule's step count holds either way
    assert sorted(int(i) for b in batches for i in b) == list(range(1003))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches) / sum(lengths)
    assert (padded < 1.25) if grouped else (padded > 1.5)
    again = epoch_batches(lengths, 8, np.random.default_rng(1), group_by_length=grouped, group=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))  # seeded
    if grouped:  # not simply sorted: the longest batch is not always first, epochs differ
        assert max(lengths[i] for i in batches[0]) < max(lengths)
        other = epoch_batches(lengths, 8, np.random.default_rng(2), group_by_length=True, group=10)
        assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


@pytest.mark.slow
def test_length_grouped_training_fits_tiny_data_too():
    r = train_task_model("ner", TRAIN, GOLD, LABELS, TrainConfig(**FAST, group_by_length=True), progress=False)
    assert r.gold_metrics["f1"] == 1.0


TINY = dict(epochs=1, batch_size=2, device="cpu", max_length=32)


def whole(id_, text, label):
    """An example whose whole text is one entity."""
    return Example(id_, text, (Span(0, len(text), label),))


@pytest.mark.parametrize("change, message", [
    ({"epochs": 0}, "epochs must be a whole number >= 1, got 0"),
    ({"batch_size": 0}, "batch_size must be a whole number >= 1, got 0"),
    ({"max_length": 2}, "max_length 2 is too small for ner: at least 3 sub-tokens"),
    ({"select_on": "acc"}, "unknown select_on 'acc'; use one of f1, loss"),
    ({"negative_ratio": -1.0}, "negative_ratio must be >= 0"),
    ({"min_steps": -5}, "min_steps must be a whole number >= 0, got -5"),
    ({"max_epochs": 0}, "max_epochs must be a whole number >= 1, got 0"),
])
def test_settings_that_cannot_train_are_named_before_any_model_is_built(change, message):
    with pytest.raises(TrainingError, match=re.escape(message)):
        train_task_model("ner", TRAIN[:2], GOLD[:1], LABELS, TrainConfig(**{**TINY, **change}), progress=False)


def test_a_label_set_without_labels_is_an_error():
    with pytest.raises(TrainingError, match="no entity labels: an NER student could only predict 'O'"):
        train_task_model("ner", TRAIN[:2], [], LabelSet(()), TrainConfig(**TINY), progress=False)
    with pytest.raises(TrainingError, match="no relation labels: an RE student could only predict 'no_relation'"):
        train_task_model("re", TRAIN[:2], [], LABELS, TrainConfig(**TINY), progress=False)


def test_training_texts_that_are_all_empty_are_an_error():
    with pytest.raises(TrainingError, match="the 2 training examples have no text to learn from"):
        train_task_model("ner", [Example("e", ""), Example("w", "  ")], GOLD[:1], LABELS, TrainConfig(**TINY),
                         progress=False)


@pytest.mark.parametrize("n_train, message", [
    (2, "the training loss is NaN/inf (lr inf"),  # step 1 makes the weights NaN, step 2's loss shows it
    (1, "training diverged in epoch 1 (bert.embeddings.word_embeddings.weight has NaN/inf values; lr inf"),
])
def test_diverging_training_is_an_error_not_a_nan_student(n_train, message):
    cfg = TrainConfig(**{**TINY, "batch_size": 1, "lr": float("inf")})
    with pytest.raises(TrainingError, match=re.escape(message)):
        train_task_model("ner", TRAIN[:n_train], [], LABELS, cfg, progress=False)


def test_reweighting_against_a_gold_set_with_nothing_labeled_trains_plainly(caplog):
    """An empty gold text has no labeled token: all weights would be 0 and every step skipped."""
    cfg = TrainConfig(**{**TINY, "reweight": True})
    with caplog.at_level(logging.WARNING):
        r = train_task_model("ner", TRAIN[:2], [Example("e", "")], LABELS, cfg, progress=False)
    assert r.data["reweight"] is False and "weights" not in r.history[0]
    assert "the 1 gold examples give none (every text is empty); training without reweighting" in caplog.text


def test_a_skipped_first_step_does_not_warn_about_the_schedule(recwarn):
    """The only training label contradicts the gold set: weight 0, the step is skipped, the schedule still steps."""
    gold = [whole("g0", "London", "LOC"), whole("g1", "Rome", "LOC")]
    cfg = TrainConfig(**{**TINY, "batch_size": 1, "reweight": True})
    r = train_task_model("ner", [whole("c", "Berlin", "PER")], gold, LABELS, cfg, progress=False)
    assert r.history[0]["weights"]["skipped_steps"] == 1
    assert not [w for w in recwarn if "lr_scheduler.step()" in str(w.message)]


def test_warm_start_with_a_changed_label_set_says_to_train_from_scratch():
    """A label added in Label Studio has no row in the previous head: its spans would be dropped silently."""
    previous = build_model("ner", LABELS, TrainConfig(**TINY))
    grown = LabelSet(("PER", "LOC", "ORG"))
    added = "(added: ['ORG'], removed: -); train from the pretrained encoder instead"
    with pytest.raises(TrainingError, match=re.escape(added)):
        train_task_model("ner", TRAIN[:2], [], grown, TrainConfig(**TINY), init_from=previous, progress=False)
    with pytest.raises(TrainingError, match="init_from is a ner student; a re student cannot start from it"):
        train_task_model("re", TRAIN[:2], [], LabelSet(("PER",), ("Live_In",)), TrainConfig(**TINY),
                         init_from=previous, progress=False)


def test_patience_waits_for_the_student_to_find_a_gold_label():
    """A gold set the student scores F1 0 on never runs out of patience: all epochs run (see stopping.py).

    lr 0 keeps every epoch's gold loss the same, so before the rule epoch 2 was "no improvement" and
    training stopped there, keeping a student that had learned nothing.
    """
    cfg = TrainConfig(**{**TINY, "epochs": 3, "patience": 1, "lr": 0.0, "head_lr": 0.0})
    r = train_task_model("ner", TRAIN[:2], [Example("g", "Nothing to find here.")], LABELS, cfg, progress=False)
    assert [h["gold_f1"] for h in r.history] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("steps_per_epoch, config, epochs", [
    (3, dict(), 40),  # 20 labels in batches of 8: 67 epochs for 200 steps, capped at max_epochs
    (7, dict(), 29),  # 50 labels: ceil(200 / 7)
    (25, dict(), 10),  # 200 labels make 250 steps in the default 10 epochs
    (3, dict(epochs=10), 10),  # a number is exact
    (3, dict(epochs=50), 50),
    (3, dict(min_steps=0), 10),
    (1, dict(min_steps=5, max_epochs=4), 4),
    (1, dict(max_epochs=5), 5),  # max_epochs caps the default 10 too
])
def test_few_labels_get_more_epochs_up_to_max_epochs_unless_epochs_is_set(steps_per_epoch, config, epochs):
    assert epochs_for(steps_per_epoch, TrainConfig(**config)) == epochs


def test_min_steps_adds_epochs_to_a_small_training_set():
    cfg = TrainConfig(**{**TINY, "epochs": None, "min_steps": 3, "max_epochs": 3, "batch_size": 2, "patience": 0})
    r = train_task_model("ner", TRAIN[:2], GOLD[:1], LABELS, cfg, progress=False)  # one step an epoch
    assert [h["epoch"] for h in r.history] == [1, 2, 3]
