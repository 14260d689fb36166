"""Random sampling: the baseline every active strategy must beat (LLMaAA-random ties the teacher)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from llmaaa.active.base import register
from llmaaa.data.schema import Example
from llmaaa.models.base import ModelOutputs


@register("random")
class RandomSampler:
    """Uniform picks without replacement; needs no model outputs.

    Deterministic: the caller's ``rng`` when given, otherwise one seeded by ``seed``.
    """

    name = "random"
    needs_outputs = False

    def __init__(self, *, seed: int = 0, **_: object) -> None:
        self.seed = seed

    def select(
        self,
        pool: Sequence[Example],
        outputs: ModelOutputs | None,
        k: int,
        labeled: Sequence[Example] = (),
        *,
        rng: np.random.Generator | None = None,
    ) -> list[int]:
        rng = rng if rng is not None else np.random.default_rng(self.seed)
        k = max(0, min(int(k), len(pool)))
        return [int(i) for i in rng.permutation(len(pool))[:k]]
