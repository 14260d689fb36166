"""The teacher protocol: the LLM teacher, the simulated teacher and a cache replay look alike to the loop."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from llmaaa.data.schema import Example


@runtime_checkable
class Teacher(Protocol):
    name: str  # shown in provenance records and reports, e.g. "openai:gpt-4o-mini" or "simulated:f1=0.81"

    def annotate(self, examples: Sequence[Example]) -> list[Example]:
        """The examples, in order, with the teacher's labels and an ``annotation`` record in ``extra``.

        The record holds at least ``source``, ``model``, ``error`` (None on success); an example the
        teacher failed on keeps empty labels and a non-null ``error``, never a silent "no entities".
        """
