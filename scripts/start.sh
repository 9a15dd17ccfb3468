#!/usr/bin/env bash
# Start ComfyUI with FrameLoom loaded.
#   COMFYUI_DIR=/path/to/ComfyUI scripts/start.sh   -> your own ComfyUI (FrameLoom is linked into its custom_nodes;
#                                                     its Python is $PYTHON or python3; FrameLoom's requirements are
#                                                     installed into it when missing)
#   scripts/start.sh                                -> the pinned embedded runtime (ComfyUI 0.3.75, CPU unless a CUDA
#                                                     torch is installed in .frameloom/venv), data in .frameloom/home
# Extra arguments go to ComfyUI's main.py (e.g. --port 8189 --listen 0.0.0.0).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FRAMELOOM_CACHE:-$ROOT/.frameloom}"
log() { echo "[frameloom] $*" >&2; }

link_pack() {  # $1 = custom_nodes dir
  local target="$1/FrameLoom"
  mkdir -p "$1"
  if [ -L "$target" ] || [ -e "$target" ]; then
    [ "$(cd "$target" && pwd -P)" = "$(cd "$ROOT" && pwd -P)" ] || log "note: $target exists and is not this checkout; leaving it"
  else
    ln -s "$ROOT" "$target"
    log "linked $ROOT -> $target"
  fi
}

if [ -n "${COMFYUI_DIR:-}" ]; then
  [ -f "$COMFYUI_DIR/main.py" ] || { log "COMFYUI_DIR=$COMFYUI_DIR has no main.py"; exit 1; }
  PY="${PYTHON:-python3}"
  link_pack "$COMFYUI_DIR/custom_nodes"
  "$PY" -c "import safetensors, einops, numpy" 2>/dev/null || "$PY" -m pip install -r "$ROOT/requirements.txt"
  cd "$COMFYUI_DIR"
  exec "$PY" main.py "$@"
fi

bash "$ROOT/scripts/provision.sh"
HOME_DIR="$CACHE/home"
link_pack "$HOME_DIR/custom_nodes"
cd "$CACHE/comfyui"
CPU_FLAG=""
"$CACHE/venv/bin/python" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" || CPU_FLAG="--cpu"
export PYTHONPATH="$CACHE/stubs${PYTHONPATH:+:$PYTHONPATH}"
exec "$CACHE/venv/bin/python" main.py $CPU_FLAG --base-directory "$HOME_DIR" --disable-auto-launch "$@"
