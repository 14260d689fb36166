"""Early stopping on hand-made gold scores: which epoch is kept, and when training stops."""

import pytest

from llmaaa.training.stopping import EarlyStopping


def run(stopping: EarlyStopping, epochs: list[tuple[float, float]]) -> int:
    """Feed (f1, loss) per epoch as the trainer does; the epoch training stops after."""
    for epoch, (f1, loss) in enumerate(epochs, start=1):
        if not stopping.update(epoch, f1=f1, loss=loss) and stopping.should_stop:
            return epoch
    return len(epochs)


def test_a_student_that_has_not_found_a_gold_label_keeps_training():
    """F1 0 with rising loss (the student starts committing to labels) is not 'no improvement' yet."""
    s = EarlyStopping(patience=2)
    last = run(s, [(0.0, 0.60), (0.0, 0.65), (0.0, 0.70), (0.0, 0.72), (0.05, 0.69), (0.04, 0.70), (0.03, 0.71)])
    assert s.best_epoch == 5 and last == 7  # stopped two epochs after the first F1 > 0 best


def test_a_chance_f1_at_epoch_one_does_not_stop_a_student_whose_loss_still_falls():
    """Random head (F1 0.05 by chance), then "predict O" (F1 0) while the loss falls, then real entities."""
    s = EarlyStopping(patience=3)
    assert run(s, [(0.05, 1.90), (0.0, 1.40), (0.0, 1.06), (0.0, 0.89), (0.0, 0.85), (0.31, 0.70)]) == 6
    assert s.best_epoch == 6


def test_a_falling_loss_keeps_training_while_f1_is_flat_and_the_best_f1_epoch_is_kept():
    s = EarlyStopping(patience=2)
    assert run(s, [(0.5, 0.50), (0.4, 0.45), (0.45, 0.44), (0.45, 0.43), (0.45, 0.45), (0.44, 0.46)]) == 6
    assert s.best_epoch == 1


def test_once_neither_f1_nor_loss_improves_patience_counts():
    s = EarlyStopping(patience=2)
    assert run(s, [(0.3, 0.5), (0.5, 0.4), (0.4, 0.45), (0.45, 0.41), (0.9, 0.1)]) == 4
    assert s.best_epoch == 2 and s.best_f1 == 0.5


def test_earlier_zero_f1_epochs_do_not_count_against_patience_after_the_first_find():
    s = EarlyStopping(patience=2)
    assert run(s, [(0.0, 0.5), (0.0, 0.6), (0.0, 0.7), (0.2, 0.8), (0.1, 0.7)]) == 5  # epoch 5 is the first bad one after 4
    assert s.best_epoch == 4


def test_selection_by_f1_breaks_ties_by_lower_loss():
    s = EarlyStopping(patience=0, select_on="f1")
    run(s, [(0.5, 0.40), (0.5, 0.30), (0.4, 0.20)])
    assert s.best_epoch == 2


def test_selection_by_loss_the_papers_rule_breaks_ties_by_higher_f1():
    s = EarlyStopping(patience=0, select_on="loss")
    run(s, [(0.5, 0.40), (0.5, 0.30), (0.4, 0.20), (0.6, 0.20)])
    assert s.best_epoch == 4


def test_patience_zero_never_stops():
    s = EarlyStopping(patience=0)
    assert run(s, [(0.5, 0.1)] + [(0.1, 0.9)] * 10) == 11 and s.best_epoch == 1


def test_an_unknown_selection_rule_is_named():
    with pytest.raises(ValueError, match="unknown select_on 'acc'; use one of f1, loss"):
        EarlyStopping(patience=1, select_on="acc")
