"""SQLite cache of LLM answers, so a re-run (same model, prompt and sampling) costs nothing.

Keyed by the sha256 of the canonical JSON of (model, messages, sampling params); stores the raw
answer, its token usage, its finish reason (so a re-run sees a cut-off answer as cut off) and its
token log-probabilities (so a re-run gives the labels the same confidence). WAL
mode lets several processes share one file; within a process the connection is guarded by a lock,
so the teacher may run in any worker thread.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmaaa.annotate.client import Completion


def cache_key(model: str, messages: Sequence[Mapping[str, str]], params: Mapping[str, Any]) -> str:
    blob = json.dumps({"model": model, "messages": list(messages), "params": dict(params)},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """``get(key) -> Completion | None`` and ``put(key, completion)`` on a SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; no fsync per answer
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, answer TEXT NOT NULL, "
                "prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)"
            )
            for column, kind in (("finish_reason", "TEXT"), ("logprobs", "TEXT"), ("prompt_bytes", "INTEGER"),
                                 ("task", "TEXT")):
                self._add_column(column, kind)

    def _add_column(self, name: str, kind: str) -> None:
        """Give a cache file written before ``name`` was kept its column (NULL: unknown); its answers stay."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
        if name in columns:
            return
        try:
            self._db.execute(f"ALTER TABLE responses ADD COLUMN {name} {kind}")
        except sqlite3.OperationalError as e:  # another process sharing the file added it first
            if "duplicate column" not in str(e):
                raise

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT answer, prompt_tokens, completion_tokens, finish_reason, logprobs FROM responses WHERE key = ?",
                (key,)).fetchone()
        if row is None:
            return None
        logprobs = tuple((int(s), int(e), float(lp)) for s, e, lp in json.loads(row[4])) if row[4] else None
        return Completion(row[0], row[1] or 0, row[2] or 0, row[3], logprobs)

    def put(self, key: str, completion: Completion, model: str = "", prompt_bytes: int | None = None,
            task: str | None = None) -> None:
        """Store an answer; ``prompt_bytes`` (the UTF-8 size of the messages) and ``task`` ("ner", "re")
        calibrate ``tokens_per_byte``."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, model, answer, prompt_tokens, completion_tokens, created, "
                "finish_reason, logprobs, prompt_bytes, task) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, model, completion.text, completion.prompt_tokens, completion.completion_tokens, time.time(),
                 completion.finish_reason,
                 None if completion.logprobs is None else json.dumps(completion.logprobs, separators=(",", ":")),
                 prompt_bytes, task),
            )

    def tokens_per_byte(self, model: str, task: str | None = None) -> float | None:
        """Prompt tokens per UTF-8 byte of the messages, as ``model``'s server counted them (chat template
        included); None before any answer recorded both. Makes the next cost estimate that model's own.

        With ``task``, the rate of that task's prompts when the cache has any: relation prompts (mostly
        the marked sentence and label names) tokenize differently from entity prompts (JSON answers),
        and priced at the entity rate they came out 12-25% high (``bench/cost_estimate.py``).
        """
        query = ("SELECT SUM(prompt_tokens), SUM(prompt_bytes) FROM responses WHERE model = ? AND prompt_bytes > 0 "
                 "AND prompt_tokens > 0")
        with self._lock:
            own = self._db.execute(query + " AND task = ?", (model, task)).fetchone() if task else (None, None)
            tokens, size = own if own[0] and own[1] else self._db.execute(query, (model,)).fetchone()
        return tokens / size if tokens and size else None

    def usage_by_model(self) -> dict[str, tuple[int, int]]:
        """Prompt and completion tokens of every answer paid for so far, per model: the spend record.

        Each answer is stored when it arrives and is never paid twice, so this survives a crash
        that a round's own usage record (written when the round ends) would not.
        """
        with self._lock:
            rows = self._db.execute("SELECT model, COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0) "
                                    "FROM responses GROUP BY model").fetchall()
        return {str(m or ""): (int(p), int(c)) for m, p, c in rows}

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
