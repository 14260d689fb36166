"""The three servers behind `make run`: start each only when it is not answering, stop only what we started.

The local LLM (scripts/llm_server.sh) and Label Studio (scripts/labelstudio.sh) are started by
their own scripts, which keep pid files; the backend runs under gunicorn in its own session, so
a Ctrl-C in the terminal reaches scripts/stack.py first and it stops the backend cleanly. What
this process started is recorded in ``STACK_DIR/started.json``, which ``--stop`` reads after a
``--no-wait`` run; a recorded pid is only signalled while it still is our gunicorn.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]

EMBEDDED_LLM_MODEL = "smollm2-135m-instruct"


class StackError(RuntimeError):
    """A step of `make run` that failed; the message says what to look at or change."""


@dataclass
class StackConfig:
    """Every knob of `make run`, read from the environment (same names, upper case)."""

    label_studio_url: str = "http://127.0.0.1:8080"
    label_studio_username: str = "admin@example.com"
    label_studio_password: str = "llmaaa-admin"  # local default; set your own outside a laptop
    label_studio_user_token: str = "llmaaa-local-token-0123456789"  # legacy API token created with the admin
    ml_backend_host: str = "127.0.0.1"
    ml_backend_port: int = 9090
    model_dir: str = "runs/model_dir"
    llm_base_url: str | None = None  # any OpenAI-compatible server; unset: the embedded local LLM
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_port: int = 8765  # port of the embedded local LLM
    stack_dir: str = ".stack"  # pid files, logs and the record of what this command started
    demo_project_title: str = "LLMaAA demo (NER)"
    ready_timeout: float = 1800.0  # seconds to wait for the first round's pre-annotations

    @property
    def backend_url(self) -> str:
        return f"http://{self.ml_backend_host}:{self.ml_backend_port}"

    @property
    def embedded_llm(self) -> bool:
        return not self.llm_base_url


# ----------------------------------------------------------------------------------- output
_T0 = time.monotonic()


def elapsed() -> float:
    """Seconds since `make run` started."""
    return time.monotonic() - _T0


def say(msg: str) -> None:
    """One progress line on the terminal (this is the CLI's own output).

    A closed terminal or pipe (``make run | tee log`` after Ctrl-C killed ``tee``) must not stop us
    from stopping the servers, so output errors are ignored.
    """
    try:
        print(f"[stack {elapsed():6.1f}s] {msg}", flush=True)
    except OSError:
        pass


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_json(url: str, timeout: float = 3.0) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_until(check, what: str, timeout: float, every: float = 1.0) -> None:
    deadline = last = time.monotonic()
    deadline += timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not come up within {timeout:.0f} s")
        if time.monotonic() - last > 15:
            say(f"waiting for {what}...")
            last = time.monotonic()
        time.sleep(every)


# ------------------------------------------------------------------------------- services
class Stack:
    """The three servers; remembers which of them this command started, so it stops only those."""

    def __init__(self, cfg: StackConfig):
        self.cfg = cfg
        self.dir = (ROOT / cfg.stack_dir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.record = self.dir / "started.json"
        self.started: list[str] = []

    # -- the record of what we started, so `--stop` (after `--no-wait`) stops exactly that
    def _save(self) -> None:
        old = self._load()
        names = [n for n in old if n not in self.started] + self.started
        self.record.write_text(json.dumps(names))

    def _load(self) -> list[str]:
        try:
            return list(json.loads(self.record.read_text()))
        except (OSError, ValueError):
            return []

    def _mark(self, name: str) -> None:
        self.started.append(name)
        self._save()

    def env(self) -> dict[str, str]:
        """The environment the services and the backend share (explicit values, no surprises)."""
        c = self.cfg
        env = dict(os.environ)
        env.update(
            LABEL_STUDIO_URL=c.label_studio_url,
            LABEL_STUDIO_USERNAME=c.label_studio_username,
            LABEL_STUDIO_PASSWORD=c.label_studio_password,
            LABEL_STUDIO_USER_TOKEN=c.label_studio_user_token,
            LABEL_STUDIO_API_KEY=os.environ.get("LABEL_STUDIO_API_KEY", c.label_studio_user_token),
            LS_PORT=str(_port(c.label_studio_url, 8080)),
            MODEL_DIR=str((ROOT / c.model_dir).resolve()),
            LLM_PORT=str(c.llm_port),
            LLM_SERVER_STATE_DIR=os.environ.get("LLM_SERVER_STATE_DIR", str(self.dir / "llm")),
            PYTHONUNBUFFERED="1",
        )
        # The demo shows the method: the student learns from LLM labels with learning-to-reweight.
        env.setdefault("TRAIN_REWEIGHT", "true")
        if c.embedded_llm:
            env.update(LLM_BASE_URL=f"http://127.0.0.1:{c.llm_port}/v1", LLM_MODEL=c.llm_model or EMBEDDED_LLM_MODEL)
            env.setdefault("LLM_API_KEY", "local")
            # llama.cpp's server answers one request at a time: more in flight only queue up there and
            # time out on a busy CPU, then get retried (paid twice in time). One at a time, patient.
            env.setdefault("LLM_CONCURRENCY", "1")
            env.setdefault("LLM_TIMEOUT_S", "180")
        else:
            env["LLM_BASE_URL"] = c.llm_base_url or ""
            if c.llm_model:
                env["LLM_MODEL"] = c.llm_model
            if c.llm_api_key:
                env["LLM_API_KEY"] = c.llm_api_key
        return env

    def _script(self, name: str, *args: str, relay: bool = False) -> None:
        """Run a service script; with ``relay`` its output goes through ``say`` (safe on a closed pipe)."""
        cmd = [str(ROOT / "scripts" / name), *args]
        out = subprocess.run(cmd, env=self.env(), cwd=ROOT, text=True,
                             capture_output=relay, stdin=subprocess.DEVNULL)
        for line in ((out.stdout or "") + (out.stderr or "")).splitlines():
            say(line)
        if out.returncode != 0:
            raise StackError(f"`{' '.join(cmd)}` failed (exit {out.returncode}); see its output above")

    # -- the local LLM
    def llm_up(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.cfg.llm_port}/v1/models")

    def ensure_llm(self) -> None:
        if not self.cfg.embedded_llm:
            say(f"LLM: using {self.cfg.llm_base_url} (LLM_BASE_URL); starting no local LLM")
            return
        if self.llm_up():
            say(f"LLM: reusing the local LLM already on port {self.cfg.llm_port}")
            return
        # the script says whether it installs (first time only: it builds llama-cpp-python, ~6 min)
        self._script("llm_server.sh", "install")
        say(f"LLM: starting SmolLM2-135M-Instruct on 127.0.0.1:{self.cfg.llm_port}")
        self._mark("llm")
        self._script("llm_server.sh", "start", "--port", str(self.cfg.llm_port))

    # -- Label Studio
    def ls_up(self) -> bool:
        return http_ok(self.cfg.label_studio_url.rstrip("/") + "/health/")

    def ensure_label_studio(self) -> None:
        if self.ls_up():
            say(f"Label Studio: reusing {self.cfg.label_studio_url}")
            return
        if not _is_loopback(self.cfg.label_studio_url):
            raise StackError(f"Label Studio at {self.cfg.label_studio_url} does not answer; start it, or unset LABEL_STUDIO_URL")
        # the script says so when it installs (first time only, ~1-2 min); an installed one is silent
        self._script("labelstudio.sh", "install")
        say(f"Label Studio: starting on {self.cfg.label_studio_url} (first start migrates its database, ~30 s)")
        self._mark("labelstudio")
        self._script("labelstudio.sh", "start")
        wait_until(self.ls_up, "Label Studio", 300)

    # -- the backend
    @property
    def backend_pid_file(self) -> Path:
        return self.dir / "backend.pid"

    def backend_up(self) -> bool:
        return http_ok(self.cfg.backend_url + "/health")

    def ensure_backend(self) -> None:
        if self.backend_up():
            say(f"backend: reusing {self.cfg.backend_url}")
            return
        log = self.dir / "backend.log"
        cmd = [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8", "--timeout", "0",
               "--bind", f"{self.cfg.ml_backend_host}:{self.cfg.ml_backend_port}",
               "--access-logfile", "-", "--logger-class", "ml_backend.access_log.QuietPolls", "--capture-output",
               "ml_backend._wsgi:app"]
        say(f"backend: starting gunicorn on {self.cfg.backend_url} (log: {_rel(log)})")
        with open(log, "ab") as out:
            # own session: a Ctrl-C in the terminal reaches us, and we stop the backend cleanly.
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.backend_pid_file.write_text(str(proc.pid))
        self._mark("backend")

        def ready() -> bool:
            if proc.poll() is not None:
                raise StackError(f"the backend exited with code {proc.returncode}; see {_rel(log)}")
            return self.backend_up()

        wait_until(ready, "the backend", 180, every=0.5)

    # -- stopping
    def stop(self, names: list[str] | None = None) -> None:
        """Stop the named services (default: those this process started), newest first."""
        for name in reversed(names if names is not None else self.started):
            try:
                if name == "backend":
                    _kill_pid_file(self.backend_pid_file, must_contain="gunicorn")
                elif name == "labelstudio":
                    self._script("labelstudio.sh", "stop", relay=True)
                elif name == "llm":
                    self._script("llm_server.sh", "stop", "--port", str(self.cfg.llm_port), relay=True)
                say(f"stopped {name}")
            except StackError as e:
                say(f"could not stop {name}: {e}")
        left = [n for n in self._load() if n not in (names if names is not None else self.started)]
        self.record.write_text(json.dumps(left))
        self.started = []

    def stop_recorded(self) -> None:
        names = self._load()
        if not names:
            say("nothing recorded as started by `make run`; nothing to stop")
        self.stop(names)


def _kill_pid_file(path: Path, *, must_contain: str) -> None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        cmdline = ""
    if must_contain not in cmdline:  # gone, or the pid was reused by something that is not ours
        path.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _port(url: str, default: int) -> int:
    return urlparse(url).port or default


def _is_loopback(url: str) -> bool:
    return (urlparse(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


