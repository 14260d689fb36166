"""The sampler protocol and registry: a new strategy is one file plus one ``register`` line."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

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


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """A sampler spec's name and options: ``"hybrid:beta=5:diversity=kcenter"`` -> ``("hybrid", {"beta": 5,
    "diversity": "kcenter"})``. Colons, not commas: ``--strategies`` and lists of specs are comma-separated."""
    name, *parts = [p.strip() for p in str(spec).split(":")]
    options: dict[str, Any] = {}
    for part in parts:
        key, eq, raw = part.partition("=")
        if not eq or not key.strip():
            raise SamplerError(f"sampler {spec!r}: options are key=value after the name, e.g. 'hybrid:beta=5'")
        options[key.strip()] = _value(raw.strip())
    return name, options


def _value(raw: str) -> Any:
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(raw.casefold(), raw)


def make_sampler(spec: str, **defaults: Any) -> Sampler:
    """The sampler ``spec`` names (``random``, ``entropy``, ``least_confidence``, ... with options after the
    name: ``hybrid:beta=5:diversity=kcenter``), given the caller's ``defaults`` (task, reduction, seed),
    which the spec's own options override. An option the sampler does not take is an error, not ignored."""
    import llmaaa.active  # noqa: F401  (imports every strategy module so they register)

    name, options = parse_spec(spec)
    if name not in _REGISTRY:
        raise SamplerError(f"unknown sampler {name!r}; choose one of {', '.join(available())}")
    factory = _REGISTRY[name]
    takes = [p.name for p in inspect.signature(factory).parameters.values()
             if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise SamplerError(f"sampler {name!r} has no option {', '.join(unknown)}"
                           + (f"; it takes {', '.join(takes)}" if takes else "; it takes none"))
    try:
        return factory(**{**defaults, **options})
    except (TypeError, ValueError) as e:  # beta=abc, diversity=foo
        raise SamplerError(f"sampler {spec!r}: {e}") from None


def check_spec(spec: str) -> None:
    """Raise ``SamplerError`` saying what is wrong with ``spec`` (made once, nothing run)."""
    make_sampler(spec)
