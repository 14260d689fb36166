"""Gunicorn's access log without the polls: ``GET /health`` and ``GET /metrics`` answered 200.

``make run`` polls ``/metrics`` every 2 s while a round runs, and Docker's health check polls ``/health``:
their lines buried the webhooks and predictions a user reads the log for (102 of them in one cold
start). Anything else, and a poll that fails, is logged as gunicorn logs it.
Use: ``gunicorn --logger-class ml_backend.access_log.QuietPolls --access-logfile - ...``.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

POLLED = frozenset({"/health", "/metrics"})


class QuietPolls(Logger):
    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        status = str(getattr(resp, "status", "") or "")
        if req.method == "GET" and req.path in POLLED and status.startswith("200"):
            return
        super().access(resp, req, environ, request_time)
