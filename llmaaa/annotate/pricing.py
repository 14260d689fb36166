"""Token prices per model and the optional budget cap that stops a run cleanly.

Prices are $ per 1M input and output tokens. The built-in table covers a few common hosted
models (list prices when written; override them); a project passes its own as a JSON file or
inline JSON ``{"model": [input, output]}`` (``LLM_PRICES``). An unknown model costs 0, logged once.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

log = logging.getLogger(__name__)

DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "smollm2-135m-instruct": (0.0, 0.0),  # the embedded local LLM
}


class PriceError(ValueError):
    """A price table that is not ``{"model": [input $/1M, output $/1M]}``."""


@dataclass
class PriceTable:
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def load(cls, spec: str | None) -> "PriceTable":
        """Defaults, updated by ``spec``: a JSON file path or inline JSON."""
        table = cls()
        if not spec:
            return table
        text = Path(spec).read_text(encoding="utf-8") if not spec.lstrip().startswith("{") else spec
        try:
            data = json.loads(text)
            for model, (inp, out) in data.items():
                table.prices[model] = (float(inp), float(out))
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as e:
            raise PriceError(f'prices must be JSON {{"model": [input $/1M, output $/1M]}}: {e}') from None
        return table

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.prices.get(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.info("no price for model %r: its cost counts as 0 (set LLM_PRICES to add one)", model)
            return 0.0
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6

    def __post_init__(self) -> None:
        self._warned: set[str] = set()


class Budget:
    """Spending so far against optional caps; thread-safe, shared by concurrent requests.

    A request is only started while the budget is not exhausted, so a run overshoots a cap by at
    most the requests already in flight.
    """

    def __init__(self, max_cost: float | None = None, max_tokens: int | None = None) -> None:
        self.max_cost, self.max_tokens = max_cost, max_tokens
        self.cost = 0.0
        self.tokens = 0
        self._lock = threading.Lock()

    def charge(self, cost: float, tokens: int) -> None:
        with self._lock:
            self.cost += cost
            self.tokens += tokens

    @property
    def exhausted(self) -> bool:
        return (self.max_cost is not None and self.cost >= self.max_cost) or (
            self.max_tokens is not None and self.tokens >= self.max_tokens)
