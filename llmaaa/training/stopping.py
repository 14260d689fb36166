"""Early stopping and best-epoch selection on the gold set.

The paper keeps the epoch with the lowest gold (D_demo) loss and stops after 5 epochs without a new
best. We select on gold F1 by default (ties: loss), and stop only when *neither* signal has improved
for ``patience`` epochs, because on few or noisy labels each one stalls while the other still moves:

- the first epochs go from a random head (a chance F1, 0.05 seen here) to predicting only the null
  class ("O" / no_relation, F1 0) while the loss falls; F1 alone called that "no improvement" and
  kept the random epoch-1 student (NER, 20 labels, stopped at epoch 4);
- with noisy labels the loss can rise while the student starts to commit to labels; loss alone
  (the paper's rule) stopped an RE student on 50 teacher labels at epoch 4 holding epoch 1, F1 0.

And while no epoch has found a single gold label (best F1 0) there is nothing to keep yet: training
runs to its epoch limit, which bounds the cost.
"""

from __future__ import annotations

from dataclasses import dataclass

SELECT_ON = ("f1", "loss")


@dataclass
class EarlyStopping:
    """Tracks the best epoch by gold F1 (ties: lower loss) or by gold loss (ties: higher F1)."""

    patience: int  # epochs in which neither gold F1 nor gold loss improved before stopping; <= 0 never stops
    select_on: str = "f1"
    best_epoch: int | None = None
    best_f1: float = 0.0
    best_loss: float = float("inf")
    bad_epochs: int = 0  # epochs since gold F1 or gold loss last improved
    _best_score: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.select_on not in SELECT_ON:
            raise ValueError(f"unknown select_on {self.select_on!r}; use one of {', '.join(SELECT_ON)}")

    def update(self, epoch: int, *, f1: float, loss: float) -> bool:
        """Record one epoch's gold scores; True when it is the new best (the caller keeps its weights)."""
        score = (f1, -loss) if self.select_on == "f1" else (-loss, f1)
        learning = f1 > self.best_f1 or loss < self.best_loss
        self.best_f1, self.best_loss = max(self.best_f1, f1), min(self.best_loss, loss)
        self.bad_epochs = 0 if learning else self.bad_epochs + 1
        if self._best_score is None or score > self._best_score:
            self._best_score, self.best_epoch = score, epoch
            return True
        return False

    @property
    def should_stop(self) -> bool:
        """Neither gold F1 nor gold loss improved for ``patience`` epochs, and some epoch found a gold label."""
        return 0 < self.patience <= self.bad_epochs and self.best_f1 > 0
