#!/usr/bin/env bash
# Run FrameLoom's whole test suite: provisions the pinned ComfyUI runtime and the browser tools when missing, then pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/modules -k rife).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FRAMELOOM_CACHE:-$ROOT/.frameloom}"
bash "$ROOT/scripts/provision.sh"
bash "$ROOT/scripts/provision_browser.sh"
cd "$ROOT"
exec "$CACHE/venv/bin/python" -m pytest "$@"
