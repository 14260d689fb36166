"""The one background thread per process that runs queued rounds, one at a time, for every project.

Kept apart from the round (``ml_backend.jobs.run_round``): the thread's contract is only that nothing a
job raises ends it, and that every job ends recorded (``done`` or ``failed``) in its project's job log.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from llmaaa.tracebacks import traceback_text

from ml_backend.jobs import run_round

if TYPE_CHECKING:
    from ml_backend.model import ProjectContext

log = logging.getLogger(__name__)


class JobRunner:
    """One daemon thread per process: takes queued jobs of every project, one at a time."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.running: dict[str, Any] | None = None

    def start(self) -> None:
        if not self.backend.config.run_jobs:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="llmaaa-jobs", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self.start()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            did = False
            for ctx in self.backend.contexts():
                if self._stop.is_set():
                    return
                try:
                    job = ctx.state.claim_job()
                except Exception as e:  # e.g. the state database briefly locked: try again on the next pass
                    log.error("project %s: reading the job queue failed: %s", ctx.state.project_id, traceback_text(e))
                    continue
                if job is None:
                    continue
                did = True
                try:
                    self._run(ctx, job)
                except Exception as e:  # recording the outcome failed (the state database): a restart requeues it
                    log.error("project %s: job %s: recording its outcome failed: %s", ctx.state.project_id, job["id"],
                              traceback_text(e))
            if not did:
                self._wake.wait(timeout=5.0)
                self._wake.clear()

    def _run(self, ctx: "ProjectContext", job: dict[str, Any]) -> None:
        """Run one job and record how it ended; nothing a job raises may end the runner's thread."""
        self.running = {"project": ctx.state.project_id, **job}
        try:
            detail = run_round(ctx, job)
            ctx.state.finish_job(job["id"], "done", detail=detail)
        except Exception as e:
            # Recorded before it is logged: a job left "running" would look busy until the next restart.
            ctx.state.finish_job(job["id"], "failed", error=f"{type(e).__name__}: {e}"[:1000])
            log.error("project %s: job %s failed: %s", ctx.state.project_id, job["id"], traceback_text(e))
        finally:
            self.running = None

