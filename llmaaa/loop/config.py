"""The loop's schedule and strategy, one typed config (env prefix ``LOOP_``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from llmaaa.config import from_env


RE_UNITS = ("example", "pair")


# strategies that rank without uncertainty scores: ``reduction`` is no part of their runs
UNSCORED_STRATEGIES = frozenset({"random", "kmeans", "kcenter"})


@dataclass
class LoopConfig:
    """Schedule defaults are the paper's: 100 gold demos, 50 random, then 9 rounds of 50 (budget 500).

    ``rounds`` counts acquisition rounds after the initial batch, so a run trains ``rounds + 1``
    students. ``stop_after_rounds_matched`` (N) stops buying labels once the student's gold-set F1
    has been >= the teacher's for N consecutive rounds; 0 never stops early.
    ``reduction`` overrides the token/pair reduction of uncertainty scores (NER ``sum``, RE ``max``).
    ``re_unit`` is what one RE label of the budget is: ``example`` (a sentence with all its entity
    pairs) or ``pair`` (one entity pair, the paper's Re-TACRED unit; ``llmaaa.data.pairs``).
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
    re_unit: str = "example"
    stop_after_rounds_matched: int = 0
    keep_students: bool = False  # keep every round's student folder, not only the latest

    def __post_init__(self) -> None:
        if self.re_unit not in RE_UNITS:
            raise ValueError(f"re_unit {self.re_unit!r}: choose one of {', '.join(RE_UNITS)}")
        if self.re_unit == "pair" and self.task != "re":
            raise ValueError("re_unit 'pair' (one entity pair per label) is for the RE task; NER labels whole examples")

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
        if d["re_unit"] == "example":  # the only unit before there was a choice: older state directories lack it
            d.pop("re_unit")
        from llmaaa.active.aggregate import DEFAULT_REDUCTION

        if self.strategy in UNSCORED_STRATEGIES:  # they never read it
            d.pop("reduction")
        elif d["reduction"] == DEFAULT_REDUCTION.get(self.task):  # the default named is the default
            d["reduction"] = None
        return d
