#!/usr/bin/env bash
# Install Debian's headless Chromium and its chromedriver for the browser end-to-end test
# (tests/e2e/test_browser.py). Idempotent: does nothing when both are already installed.
# Needs root (or sudo) and Debian's package index; no browser build is downloaded from anywhere else.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1; }
# Debian's emoji font, so that screenshots of texts with emoji show them (the demo has a few).
pkgs="chromium chromium-driver fonts-noto-color-emoji"
if have chromium && have chromedriver && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if have sudo; then SUDO=sudo; else
    echo "[browser] chromium/chromedriver missing and not root: run 'apt-get install -y $pkgs' as root" >&2
    exit 1
  fi
fi
echo "[browser] installing $pkgs from Debian (first time only, about a minute)..." >&2
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
echo "[browser] $(chromium --version 2>/dev/null | head -1) ready in $((SECONDS - start)) s" >&2
