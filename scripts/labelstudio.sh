#!/usr/bin/env bash
# Label Studio 1.23.2 as a separate service, in its own venv (never a dependency of the backend's venv).
#   scripts/labelstudio.sh install   # pip install label-studio==1.23.2 into $LS_VENV (~1 GB, ~65 s, once)
#   scripts/labelstudio.sh start     # start on 127.0.0.1:$LS_PORT, wait for /health/ (first start ~32 s)
#   scripts/labelstudio.sh stop      # stop the process recorded in the pid file
#   scripts/labelstudio.sh status    # exit 0 when /health/ answers
# Environment (all optional):
#   LS_VENV (.venv-ls), LS_PORT (8080), LS_DATA_DIR (runs/labelstudio; LABEL_STUDIO_BASE_DATA_DIR wins),
#   LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD / LABEL_STUDIO_USER_TOKEN (the admin and its legacy API token,
#   created on the first start only), LS_START_TIMEOUT (300 s).
# The variables exported below are what a loopback ML backend needs (see ../shared notes, labelstudio.md):
# LS 1.23.2 refuses 127.0.0.1 backends and webhooks without ML_BLOCK_LOCAL_IP=false SSRF_PROTECTION_ENABLED=false,
# and rejects legacy tokens unless the organisation was created with LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${LS_VENV:-$ROOT/.venv-ls}
PORT=${LS_PORT:-8080}
DATA=${LABEL_STUDIO_BASE_DATA_DIR:-${LS_DATA_DIR:-$ROOT/runs/labelstudio}}
RUN=${LS_RUN_DIR:-$DATA}
PIDFILE=$RUN/labelstudio-$PORT.pid
LOG=$RUN/labelstudio-$PORT.log
VERSION=1.23.2
CONSTRAINTS=$ROOT/scripts/labelstudio-constraints.txt  # upper bounds label-studio==1.23.2 leaves open
URL="http://127.0.0.1:$PORT"

health() { curl -fsS -m 2 "$URL/health/" >/dev/null 2>&1; }

install() {
  # the stamp names the constraints' digest: a venv installed before a new bound gets it on the next install
  local stamp="$VENV/.llmaaa-label-studio-$VERSION-$(cksum <"$CONSTRAINTS" | cut -d' ' -f1)"
  [ -f "$stamp" ] && return 0
  local py=${PYTHON:-$(command -v python3.11 || command -v python3)}
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  echo "[labelstudio] installing label-studio==$VERSION into $VENV (first time only, ~1-2 min)" >&2
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "label-studio==$VERSION" -c "$CONSTRAINTS" 2>&1 | grep -v "is ignored: it is neither" || true
  [ -x "$VENV/bin/label-studio" ] || { echo "[labelstudio] pip install label-studio==$VERSION failed" >&2; exit 1; }
  touch "$stamp"
}

start() {
  if health; then echo "[labelstudio] already answering on $URL" >&2; return 0; fi
  [ -x "$VENV/bin/label-studio" ] || { echo "[labelstudio] not installed: run '$0 install' first" >&2; exit 1; }
  mkdir -p "$DATA" "$RUN"
  (
    export LABEL_STUDIO_BASE_DATA_DIR=$DATA
    export LABEL_STUDIO_USERNAME=${LABEL_STUDIO_USERNAME:-admin@example.com}
    export LABEL_STUDIO_PASSWORD=${LABEL_STUDIO_PASSWORD:-llmaaa-admin}
    export LABEL_STUDIO_USER_TOKEN=${LABEL_STUDIO_USER_TOKEN:-llmaaa-local-token-0123456789}
    export LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true
    export ML_BLOCK_LOCAL_IP=false SSRF_PROTECTION_ENABLED=false
    export COLLECT_ANALYTICS=false LATEST_VERSION_CHECK=false
    # Label Studio sends its errors (task texts in tracebacks included) to HumanSignal's Sentry unless the DSN is
    # set; empty turns it off. A DSN of your own is kept.
    export SENTRY_DSN=${SENTRY_DSN-} FRONTEND_SENTRY_DSN=${FRONTEND_SENTRY_DSN-}
    # own session (setsid): `stop` ends the whole group, and a Ctrl-C in the caller's terminal does not.
    exec setsid "$VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 -p "$PORT" \
      --log-level WARNING </dev/null >>"$LOG" 2>&1
  ) &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + ${LS_START_TIMEOUT:-300}))
  until health; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "[labelstudio] exited during start; last lines of $LOG:" >&2; tail -20 "$LOG" >&2; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then echo "[labelstudio] no /health/ after ${LS_START_TIMEOUT:-300} s; see $LOG" >&2; exit 1; fi
    sleep 1
  done
  echo "[labelstudio] up on $URL (pid $(cat "$PIDFILE"), log $LOG)" >&2
}

stop() {
  [ -f "$PIDFILE" ] || { echo "[labelstudio] no pid file $PIDFILE: nothing to stop" >&2; return 0; }
  local pid; pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null && grep -q label-studio "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  echo "[labelstudio] stopped" >&2
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) if health; then echo "up $URL"; else echo "down $URL"; exit 1; fi ;;
  *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
