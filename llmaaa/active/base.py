"""The sampler protocol and registry: a new strategy is one file plus one ``register`` line."""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from llmaaa.data.schema import Example
from llmaaa.models.base import ModelOutputs


class SamplerError(ValueError):
    """A sampler asked for something it cannot do (unknown name, k larger than the pool)."""


@runtime_checkable
class Sampler(Protocol):
    name: str

    def select(
        self,
        pool: Sequence[Example],
        outputs: ModelOutputs | None,
        k: int,
        labeled: Sequence[Example] = (),
        *,
        rng: np.random.Generator | None = None,
    ) -> list[int]:
        """Indices into ``pool`` of exactly ``min(k, len(pool))`` distinct examples, best first."""


_REGISTRY: dict[str, Callable[..., Sampler]] = {}


def register(name: str) -> Callable[[Callable[..., Sampler]], Callable[..., Sampler]]:
    def deco(factory: Callable[..., Sampler]) -> Callable[..., Sampler]:
        _REGISTRY[name] = factory
        return factory

    return deco


def available() -> list[str]:
    return sorted(_REGISTRY)


def make_sampler(name: str, **options) -> Sampler:
    """The sampler registered as ``name`` (``random``, ``entropy``, ``least_confidence``, ...)."""
    import llmaaa.active  # noqa: F401  (imports every strategy module so they register)

    if name not in _REGISTRY:
        raise SamplerError(f"unknown sampler {name!r}; choose one of {', '.join(available())}")
    return _REGISTRY[name](**options)
