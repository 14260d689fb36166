"""What labeling a pool will cost, before any request is sent: requests, cache hits, tokens, dollars.

Why: users of LLM labeling tools ask for the expected bill before they start, not only for a cap
that stops them halfway; a bound computed from ``max_tokens`` alone overstates it several times
over (Autolabel's plan(), refuel-ai/autolabel#145).

How: :meth:`LLMTeacher.estimate` walks the pool exactly as ``annotate`` would (the same pieces,
k-NN demos, entity pairs and prompts) with nothing sent; a prompt already in the cache is free.
Tokens are counted without the model's tokenizer. Once the cache holds answers of the model, at
the rate its server reported for them (prompt tokens per UTF-8 byte of the messages, the chat
template included, of the same task's prompts once there are any: ``ResponseCache.tokens_per_byte``); before that at 3.5 bytes per token plus 4
per message (English prose runs 4-4.5 characters per BPE token, JSON and names fewer; a CJK
character, 3 bytes, is about one; SmolLM2's server counted 3.1 bytes per token of our prompts,
``bench/cost_estimate.py``). The completion is bounded by ``max_tokens``, and expected to be as
long as the answers of the demos in the same prompt: the nearest gold examples show how long an
answer to a similar text is.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

MESSAGE_OVERHEAD = 4  # role and separators, per chat message
BYTES_PER_TOKEN = 3.5


def approx_tokens(text: str, tokens_per_byte: float | None = None) -> int:
    """About how many tokens ``text`` is, for a BPE tokenizer (see the module doc)."""
    return math.ceil(len(text.encode("utf-8")) * (tokens_per_byte or 1 / BYTES_PER_TOKEN))


@dataclass
class Estimate:
    """The plan of one run; ``*_expected`` from the demos' answer lengths, ``*_max`` from ``max_tokens``."""

    model: str
    examples: int = 0
    requests: int = 0  # requests that would be sent (cache misses)
    cached: int = 0  # prompts answered from the cache, free
    prompt_tokens: int = 0
    completion_tokens_expected: int = 0
    completion_tokens_max: int = 0
    cost_expected: float = 0.0
    cost_max: float = 0.0
    tokens_per_byte: float | None = None  # the model's measured rate (from the cache); None: the default rate

    def add(self, messages: Sequence[Mapping[str, str]], max_tokens: int, *, cached: bool) -> None:
        if cached:
            self.cached += 1
            return
        self.requests += 1
        rate = self.tokens_per_byte
        if rate:  # measured with the template: no separate per-message overhead
            self.prompt_tokens += approx_tokens("".join(m["content"] for m in messages), rate)
        else:
            self.prompt_tokens += sum(approx_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages)
        answers = [approx_tokens(m["content"], rate) for m in messages if m["role"] == "assistant"]
        self.completion_tokens_expected += min(max_tokens, round(sum(answers) / len(answers))) if answers else max_tokens
        self.completion_tokens_max += max_tokens

    def price(self, cost: Callable[[str, int, int], float]) -> None:
        """Dollars from ``cost(model, prompt_tokens, completion_tokens)`` (``PriceTable.cost``)."""
        self.cost_expected = cost(self.model, self.prompt_tokens, self.completion_tokens_expected)
        self.cost_max = cost(self.model, self.prompt_tokens, self.completion_tokens_max)

    def line(self) -> str:
        rate = "this model's measured" if self.tokens_per_byte else f"{BYTES_PER_TOKEN:g} bytes per token"
        return (f"{self.examples} examples: {self.requests} requests to send, {self.cached} answered from the cache; "
                f"~{self.prompt_tokens:,} prompt tokens ({rate}), ~{self.completion_tokens_expected:,} completion tokens "
                f"expected (at most {self.completion_tokens_max:,}); cost ~${self.cost_expected:.4f} "
                f"(at most ${self.cost_max:.4f})")

    def to_dict(self) -> dict:
        return asdict(self)
