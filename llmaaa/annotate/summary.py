"""What one teacher run did: counts, failures by reason, tokens, cost, labels dropped by parsing."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from llmaaa.annotate.answer_errors import ParseStats


def failure_kind(reason: str) -> str:
    """A reason without its specifics ("timeout after 5 s (after 4 tries)" -> "timeout"), for counting."""
    for kind in ("budget exhausted", "timeout", "cannot connect", "rate limited", "non-JSON answer", "unparseable answer",
                 "truncated answer", "bad 'pairs'"):
        if reason.startswith(kind):
            return kind
    m = re.match(r"HTTP \d+", reason)
    return m.group(0) if m else reason.split(":")[0][:60]


@dataclass
class RunSummary:
    examples: int = 0
    annotated: int = 0  # succeeded (possibly with no labels: a real "none")
    failed: int = 0
    failures: Counter = field(default_factory=Counter)  # failure kind -> examples
    requests: int = 0  # HTTP requests sent, retries and re-asks included
    cached: int = 0  # answers served from the cache
    reasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    dropped: ParseStats = field(default_factory=ParseStats)
    pairs_not_asked: Counter = field(default_factory=Counter)  # RE: reason -> entity pairs left unasked
    seconds: float = 0.0

    def record(self, error: str | None, usage: Any, stats: ParseStats) -> None:
        if error is None:
            self.annotated += 1
        else:
            self.failed += 1
            self.failures[failure_kind(error)] += 1
        self.cached += usage.cached
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost += usage.cost
        self.dropped.add(stats)

    def to_dict(self) -> dict[str, Any]:
        return {"examples": self.examples, "annotated": self.annotated, "failed": self.failed,
                "failures": dict(self.failures), "requests": self.requests, "cached": self.cached,
                "reasks": self.reasks, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost": round(self.cost, 6),
                "dropped": self.dropped.to_dict(), "pairs_not_asked": dict(self.pairs_not_asked),
                "seconds": round(self.seconds, 3)}

    def line(self) -> str:
        fails = ", ".join(f"{k}: {v}" for k, v in self.failures.most_common()) or "none"
        d = self.dropped
        return (f"{self.annotated}/{self.examples} annotated, {self.failed} failed ({fails}); "
                f"{self.requests} requests, {self.cached} cached, {self.reasks} re-asks; "
                f"tokens {self.prompt_tokens} in / {self.completion_tokens} out; cost ${self.cost:.4f}; "
                f"dropped: {sum(d.unknown_labels.values())} unknown labels, {d.not_in_text} not in text, "
                f"{d.overlaps} overlaps, {d.conflicts} conflicts, {d.malformed} malformed; "
                + (f"pairs not asked: {', '.join(f'{v} {k}' for k, v in self.pairs_not_asked.items())}; "
                   if self.pairs_not_asked else "")
                + f"{self.seconds:.1f} s")
