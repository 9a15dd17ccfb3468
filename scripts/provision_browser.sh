#!/usr/bin/env bash
# Provision the browser-test tools: Debian's chromium and npm's playwright-core (into .frameloom/node).
# Idempotent. FRAMELOOM_CHROMIUM may point at an existing Chromium binary instead of /usr/bin/chromium.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FRAMELOOM_CACHE:-$ROOT/.frameloom}"
NODE_DIR="$CACHE/node"
PLAYWRIGHT_VERSION="1.65.1"
CHROMIUM="${FRAMELOOM_CHROMIUM:-/usr/bin/chromium}"

log() { echo "[provision-browser] $*" >&2; }

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    log "installing Debian chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
  else
    log "no Chromium at $CHROMIUM and cannot apt-get install it (need root on Debian/Ubuntu)."
    log "Install chromium, or set FRAMELOOM_CHROMIUM to a Chromium binary, then run again."
    exit 1
  fi
fi

if [ ! -f "$NODE_DIR/node_modules/playwright-core/package.json" ]; then
  command -v npm >/dev/null || { log "npm is required for the browser tests (install Node.js)"; exit 1; }
  log "installing playwright-core@$PLAYWRIGHT_VERSION into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  # no browser download: playwright-core never fetches one; we drive the system chromium
  (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null)
fi
log "ready: chromium=$CHROMIUM playwright-core in $NODE_DIR"
