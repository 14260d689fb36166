"""The loop's state directory: every finished step is a file written atomically (temp + rename).

Layout::

    config.json          the LoopConfig and teacher name that made this directory
    labeled.jsonl        the teacher-labeled examples, each with ``loop = {"batch": b}`` provenance
    rounds.json          one record per trained student: metrics and the ids it selected next
    teacher_gold.json    the teacher's F1 on the demo pool (measured once)
    students/round-R/    the latest student (all of them with ``keep_students``)

A crash loses at most the step in flight: a student being trained is retrained, a batch being
labeled is labeled again from the saved selection, and the teacher's cache answers the LLM calls
already paid for.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from llmaaa.data.jsonl import read_jsonl, write_jsonl
from llmaaa.data.schema import Example


class LoopStateError(RuntimeError):
    """A state directory that belongs to a different run (other strategy, seed, schedule)."""


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


class LoopState:
    """Read/write access to one run's state directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # config -----------------------------------------------------------------
    def bind(self, identity: dict[str, Any]) -> None:
        """Record the run's identity, or check that a resumed run matches it."""
        path = self.root / "config.json"
        old = read_json(path)
        if old is not None:
            # a key the directory's record lacks (written by an older version) is not a difference, nor is a
            # student option recorded on one side only (one that stopped or started mattering to this run)
            diff = {k: (old[k], v) for k, v in identity.items() if k in old and not _same(old[k], v)}
            if diff:
                detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(diff.items()))
                raise LoopStateError(
                    f"{self.root} holds a different run ({detail}); pass a new output directory "
                    "or delete this one to start over"
                )
        write_json(path, identity)

    # labeled set -------------------------------------------------------------
    @property
    def labeled_path(self) -> Path:
        return self.root / "labeled.jsonl"

    def labeled(self) -> list[Example]:
        return read_jsonl(self.labeled_path) if self.labeled_path.exists() else []

    def add_batch(self, batch: int, examples: list[Example]) -> list[Example]:
        tagged = [ex.with_labels(loop={"batch": batch}) for ex in examples]
        write_jsonl([*self.labeled(), *tagged], self.labeled_path)
        return tagged

    def relabel(self, examples: list[Example]) -> list[Example]:
        """Put labels asked again (same ids) in place of the saved ones, each keeping its batch; returns all."""
        new = {ex.id: ex for ex in examples}
        out = [new[ex.id].with_labels(loop=ex.extra.get("loop")) if ex.id in new else ex for ex in self.labeled()]
        write_jsonl(out, self.labeled_path)
        return out

    # rounds ------------------------------------------------------------------
    def rounds(self) -> list[dict[str, Any]]:
        return read_json(self.root / "rounds.json", [])

    def save_rounds(self, records: list[dict[str, Any]]) -> None:
        write_json(self.root / "rounds.json", records)

    # teacher -----------------------------------------------------------------
    def teacher_gold(self) -> dict[str, Any] | None:
        return read_json(self.root / "teacher_gold.json")

    def save_teacher_gold(self, record: dict[str, Any]) -> None:
        write_json(self.root / "teacher_gold.json", record)

    # students ----------------------------------------------------------------
    def student_dir(self, round_: int) -> Path:
        return self.root / "students" / f"round-{round_}"


def _same(old: Any, new: Any) -> bool:
    """Whether a recorded identity value and the current one agree; two dicts on the keys both have."""
    if isinstance(old, dict) and isinstance(new, dict):
        return all(_same(old[k], new[k]) for k in old.keys() & new.keys())
    return old == new
