"""The process-wide lock on ``MODEL_DIR``: one backend process serves it, and it must be writable.

Apart from :mod:`ml_backend.state` because it guards the whole folder for the process's life, not
one project's records; :class:`~ml_backend.model.LLMaAABackend` takes it before it resumes any job.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one backend per MODEL_DIR is then the user's to keep
    fcntl = None  # type: ignore[assignment]


class ModelDirError(RuntimeError):
    """MODEL_DIR cannot be served by this process: not writable, or another backend serves it."""


def lock_model_dir(root: Path, wait_s: float) -> IO[str]:
    """Hold ``root/.backend.lock`` for this process's life (the returned file; closing it lets go).

    Two backends on one MODEL_DIR (a restart whose new process starts before the old one has exited, a
    second ``serve`` beside ``make run``) would each take the other's running round for a crashed one,
    run it again and pay the LLM twice. The kernel drops the lock when the process dies, however it
    dies, so a crash never leaves it stale. Opening the file is also the check that MODEL_DIR is
    writable: a read-only one would answer /health and lose every webhook.
    """
    path = root / ".backend.lock"
    try:
        f = open(path, "a+", encoding="utf-8")
    except OSError as e:
        raise ModelDirError(f"MODEL_DIR {root} is not writable ({e.strerror}): the backend keeps every annotation, "
                            "LLM label and model there; give it a writable folder") from None
    if fcntl is None:
        return f
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                f.seek(0)
                other = f.read().strip() or "unknown"
                f.close()
                raise ModelDirError(f"MODEL_DIR {root} is served by another backend process (pid {other}); stop it, "
                                    f"or give this one its own MODEL_DIR (waited {wait_s:g} s, LOCK_WAIT_S)") from None
            time.sleep(0.2)
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f
