"""The loop's schedule and strategy, one typed config (env prefix ``LOOP_``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from llmaaa.config import from_env


@dataclass
class LoopConfig:
    """Schedule defaults are the paper's: 100 gold demos, 50 random, then 9 rounds of 50 (budget 500).

    ``rounds`` counts acquisition rounds after the initial batch, so a run trains ``rounds + 1``
    students. ``stop_after_rounds_matched`` (N) stops buying labels once the student's gold-set F1
    has been >= the teacher's for N consecutive rounds; 0 never stops early.
    ``reduction`` overrides the token/pair reduction of uncertainty scores (NER ``sum``, RE ``max``).
    """

    task: str = "ner"
    strategy: str = "least_confidence"
    demo_pool: int = 100
    init: int = 50
    rounds: int = 9
    per_round: int = 50
    reweight: bool = False
    seed: int = 0
    reduction: str | None = None
    stop_after_rounds_matched: int = 0
    keep_students: bool = False  # keep every round's student folder, not only the latest

    @classmethod
    def from_env(cls, prefix: str = "LOOP_", overrides: dict[str, Any] | None = None) -> "LoopConfig":
        return from_env(cls, prefix, overrides)

    @property
    def budget(self) -> int:
        """LLM labels bought when no early stop happens."""
        return self.init + self.rounds * self.per_round

    def identity(self) -> dict[str, Any]:
        """Fields a resumed run must share with the run that made the state directory."""
        d = asdict(self)
        for free in ("rounds", "stop_after_rounds_matched", "keep_students"):
            d.pop(free)
        return d
