"""A project's job queue and the rounds it recorded: the ``jobs`` and ``rounds`` tables of ``state.db``.

A mixin of :class:`~ml_backend.state.ProjectState` (which owns the connection, the schema and
``_q``), apart because it is the one part of the state about work rather than records: queueing
and claiming jobs, resuming those a crash left running, and the per-round record that tells
whether the LLM should be asked again. :class:`~ml_backend.runner.JobRunner` runs what is queued here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any, Callable, Mapping

LLM_RETRY = "LLM retry"  # the reason of a round queued because the LLM failed the last batch
MAX_INTERRUPTIONS = 3  # a job the process died in this many times in a row is not resumed again
_GAVE_UP = ("interrupted {n} times in a row (the process was killed during it, e.g. out of memory while training: "
            "see the backend's log); not resumed again: fix the cause (TRAIN_BATCH_SIZE, TRAIN_MAX_LENGTH, a smaller "
            "model), then start a round (Start Training in Label Studio, or a new annotation)")


class JobLog:
    """Jobs (queued, running, done, failed, interrupted) and rounds, on the owning ``ProjectState``'s database."""

    _lock: threading.RLock  # ProjectState's
    _q: Callable[..., list[sqlite3.Row]]  # ProjectState._q: one query under the lock

    # -- jobs ------------------------------------------------------------------------------
    def recover(self) -> int:
        """Jobs a crash left running: mark them interrupted and queue a fresh one for each.

        A round job whose round was recorded before the crash (killed between recording the round and
        marking the job done) is marked done instead: running it again would buy another LLM batch.
        Only the serving process calls this, once at start (``export`` and readers must not)."""
        rows = self._q("SELECT id, kind, reason, started_at FROM jobs WHERE status = 'running'")
        for r in rows:
            recorded = self._q("SELECT n, record FROM rounds WHERE finished_at >= ? ORDER BY n DESC LIMIT 1",
                               (r["started_at"] or 0,)) if r["kind"] == "round" else []
            if recorded:
                self.finish_job(r["id"], "done", detail={**json.loads(recorded[0]["record"]),
                                                         "recovered": f"round {recorded[0]['n']} was recorded"})
                continue
            self._q("UPDATE jobs SET status='interrupted', finished_at=? WHERE id=?", (time.time(), r["id"]))
            streak = self._interrupted_streak(r["kind"])
            if streak >= MAX_INTERRUPTIONS:
                # the process dies in this job every time (out of memory in training, most often): retried at
                # each restart it would never end, and with an LLM batch paid before the crash, cost each time
                self._q("INSERT INTO jobs(kind, status, reason, created_at, finished_at, error) VALUES "
                        "(?, 'failed', ?, ?, ?, ?)", (r["kind"], f"resumed after interruption of job {r['id']}",
                                                      time.time(), time.time(), _GAVE_UP.format(n=streak)))
                continue
            self.add_job(r["kind"], f"resumed after interruption of job {r['id']}")
        return len(rows)

    def _interrupted_streak(self, kind: str) -> int:
        """How many of the newest jobs of ``kind`` in a row ended interrupted."""
        n = 0
        for r in self._q("SELECT status FROM jobs WHERE kind=? ORDER BY id DESC LIMIT ?", (kind, MAX_INTERRUPTIONS + 1)):
            if r["status"] != "interrupted":
                break
            n += 1
        return n

    def add_job(self, kind: str, reason: str) -> int:
        """Queue a job unless one of that kind is already queued (a burst of webhooks makes one round)."""
        with self._lock:
            q = self._q("SELECT id FROM jobs WHERE kind=? AND status='queued'", (kind,))
            if q:
                return int(q[0]["id"])
            self._q("INSERT INTO jobs(kind, status, reason, created_at) VALUES (?, 'queued', ?, ?)", (kind, reason, time.time()))
            return int(self._q("SELECT last_insert_rowid() AS i")[0]["i"])

    def claim_job(self) -> dict[str, Any] | None:
        with self._lock:
            rows = self._q("SELECT * FROM jobs WHERE status='queued' ORDER BY id LIMIT 1")
            if not rows:
                return None
            self._q("UPDATE jobs SET status='running', started_at=? WHERE id=?", (time.time(), rows[0]["id"]))
            return dict(rows[0])

    def finish_job(self, job_id: int, status: str, *, error: str | None = None, detail: Any = None) -> None:
        self._q("UPDATE jobs SET status=?, finished_at=?, error=?, detail=? WHERE id=?",
                (status, time.time(), error, json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else None,
                 job_id))

    def last_job_status(self) -> str | None:
        """The newest job's status, or None before any (one cheap read: /setup asks before every predict batch)."""
        rows = self._q("SELECT status FROM jobs ORDER BY id DESC LIMIT 1")
        return rows[0]["status"] if rows else None

    def jobs(self, n: int = 20) -> list[dict[str, Any]]:
        rows = self._q("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (n,))
        return [{**dict(r), "detail": json.loads(r["detail"]) if r["detail"] else None} for r in rows]

    # -- rounds ----------------------------------------------------------------------------
    def add_round(self, n: int, version: str, record: Mapping[str, Any]) -> None:
        self._q("INSERT OR REPLACE INTO rounds(n, version, finished_at, record) VALUES (?, ?, ?, ?)",
                (n, version, time.time(), json.dumps(record, ensure_ascii=False, default=str)))

    def rounds(self) -> list[dict[str, Any]]:
        return [{**json.loads(r["record"]), "round": r["n"], "version": r["version"], "finished_at": r["finished_at"]}
                for r in self._q("SELECT * FROM rounds ORDER BY n")]

    def llm_retry_due(self, now: float | None = None) -> str | None:
        """Why a round should ask the LLM again, or None: the newest rounds' LLM batches all failed (a dead
        endpoint, a wrong key) and the back-off since the last one has passed (1 min, doubling per failed
        round, at most 1 h). Without it a cold start against a dead LLM served empty predictions until
        someone pressed Start Training."""
        rows = self._q("SELECT n, finished_at, record FROM rounds ORDER BY n DESC LIMIT 12")
        failed = 0
        for r in rows:
            rec = json.loads(r["record"])
            if rec.get("llm_labeled") or not rec.get("llm_failed"):
                break
            failed += 1
        if not failed:
            return None
        wait = min(3600.0, 60.0 * 2 ** (failed - 1))
        if (now if now is not None else time.time()) - float(rows[0]["finished_at"] or 0) < wait:
            return None
        return f"{LLM_RETRY}: round {rows[0]['n']}'s LLM batch failed ({failed} round(s) in a row)"

    def llm_paused(self) -> bool:
        """Whether the newest round bought no LLM labels because the student caught up (``STOP_AFTER_MATCHED``)."""
        rows = self._q("SELECT record FROM rounds ORDER BY n DESC LIMIT 1")
        return bool(rows and json.loads(rows[0]["record"]).get("llm_stopped"))
