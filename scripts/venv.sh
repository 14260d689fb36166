#!/usr/bin/env bash
# Create a virtual environment and install requirements into it, once per content change.
#   scripts/venv.sh DIR REQUIREMENTS_FILE
# Re-running is cheap: a stamp holding the requirements' hash skips pip when nothing changed.
set -euo pipefail
dir=$1; req=$2
py=${PYTHON:-$(command -v python3.11 || command -v python3)}
stamp="$dir/.llmaaa-installed-$(basename "$req")"
reqdir=$(dirname "$req")
files=("$req")
while read -r inc; do files+=("$reqdir/$inc"); done < <(sed -nE 's/^-r +([^ ]+).*/\1/p' "$req")
want=$( (cat "${files[@]}"; echo "TORCH_INDEX_URL=${TORCH_INDEX_URL:-}") | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
log=$(mktemp)
pipi() {
  if ! "$dir/bin/python" -m pip install --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" | tail -30 >&2
    echo "[venv] pip install $* failed (full log: $log)" >&2
    exit 1
  fi
}
echo "[venv] installing $req into $dir (first time only, a few minutes)..." >&2
start=$SECONDS
# torch first and pinned, never a multi-GB CUDA build pulled in by a dependency (PyPI's Linux torch is the
# CUDA one): a wheel on disk (pip's find-links) if there is one, else PyTorch's CPU index, else pip's own
# index (a company mirror) with a warning; TORCH_INDEX_URL picks another build (e.g.
# https://download.pytorch.org/whl/cu126 for a GPU machine; part of the stamp, so setting it re-installs).
# Its dependencies come from the index with the requirements below.
if grep -hqE '^torch==' "${files[@]}"; then
  torch=$(grep -hE '^torch==' "${files[@]}" | head -1 | awk '{print $1}')
  quiet() { "$dir/bin/python" -m pip install --disable-pip-version-check --no-deps "$@" >"$log" 2>&1; }
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    pipi --no-deps --force-reinstall --index-url "$TORCH_INDEX_URL" "$torch"
  elif ! quiet --no-index "$torch" && ! quiet --index-url https://download.pytorch.org/whl/cpu "$torch"; then
    echo "[venv] PyTorch's CPU index is not reachable: installing $torch from pip's index (on Linux a CUDA build)" >&2
    pipi --no-deps "$torch"
  fi
fi
pipi -r "$req"
echo "$want" > "$stamp"
echo "[venv] $dir ready in $((SECONDS - start)) s" >&2
