"""Shared fixtures: the real local LLM server (``llm_server``) for tests marked ``llm``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # tests/openai_stub.py importable as `openai_stub`

from waiting import free_port  # noqa: E402  (needs the path above)


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory):
    """Base URL of a SmolLM2-135M-Instruct server started by scripts/llm_server.sh on a free port.

    Needs the local LLM installed (``scripts/llm_server.sh install``, ~6 min once; ``make test``
    does it). The server is stopped at the end of the session.
    """
    state = tmp_path_factory.mktemp("llm_server")
    port = free_port()
    env = {**os.environ, "LLM_SERVER_STATE_DIR": str(state)}
    script = str(ROOT / "scripts" / "llm_server.sh")
    status = subprocess.run([script, "status"], env=env, capture_output=True, text=True)
    if "not installed" in status.stdout + status.stderr:
        pytest.fail("the local LLM is not installed: run `scripts/llm_server.sh install` (or `make test`)")
    started = subprocess.run([script, "start", "--port", str(port)], env=env, capture_output=True, text=True,
                             timeout=300)
    if started.returncode != 0:
        pytest.fail(f"scripts/llm_server.sh start failed:\n{started.stdout}\n{started.stderr}")
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        subprocess.run([script, "stop", "--port", str(port)], env=env, capture_output=True, text=True, timeout=60)
