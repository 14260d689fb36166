"""``app`` for WSGI servers: ``gunicorn --workers 1 --threads 8 --timeout 0 ml_backend._wsgi:app``.

One worker on purpose: the job thread and the per-project state live in that process.
"""

from __future__ import annotations

import logging

from ml_backend.app import create_app
from ml_backend.config import BackendConfig

_config = BackendConfig.from_env()
logging.basicConfig(level=_config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
app = create_app(_config)
