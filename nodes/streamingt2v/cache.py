"""Resume cache for StreamingT2V Extend: every finished chunk's kept frames on disk, keyed by a hash of the inputs.

A cancelled or failed run keeps its finished chunks; queueing the same graph again (same seed, prompts, settings,
source clip, models) finds them and continues after the last one. A completed run removes its folder. The cache
lives under ComfyUI's temp directory, which ComfyUI empties when it starts, so it survives a cancel or an error but
not a server restart.

Models are identified by a sample of their weights (a few tensors, the parameter count, dtypes) plus the names of
their patches and wrappers, not by hashing gigabytes of weights on every run.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file

logger = logging.getLogger("FrameLoom.streamingt2v")

VERSION = "frameloom.streamingt2v.extend.v1"
SAMPLED_TENSORS = 4


def _update(h: Any, value: object) -> None:
    """Feed a nested structure of tensors, numbers, strings, lists and dicts into `h`, types and shapes included."""
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"tensor{tuple(value.shape)}{value.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, dict):
        h.update(b"dict")
        for key in sorted(value, key=str):
            h.update(str(key).encode())
            _update(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"seq{len(value)}".encode())
        for item in value:
            _update(h, item)
    elif value is None or isinstance(value, (bool, int, float, str, torch.dtype)):
        h.update(repr(value).encode())
    else:  # objects (hooks, control nets) are identified by type only
        h.update(type(value).__qualname__.encode())


def input_hash(parts: dict[str, object]) -> str:
    h = hashlib.sha256(VERSION.encode())
    _update(h, parts)
    return h.hexdigest()[:32]


def module_fingerprint(module: torch.nn.Module) -> dict[str, object]:
    """A cheap identity of a network: parameter count, dtypes and a few tensors spread over its state dict."""
    state = module.state_dict()
    names = sorted(state)
    picks = [names[i * (len(names) - 1) // max(SAMPLED_TENSORS - 1, 1)] for i in range(SAMPLED_TENSORS)] if names else []
    return {
        "class": type(module).__qualname__,
        "numel": sum(t.numel() for t in state.values()),
        "dtypes": sorted({str(t.dtype) for t in state.values()}),
        "sample": {name: state[name] for name in picks},
    }


def patcher_fingerprint(patcher) -> dict[str, object]:
    """A ComfyUI ModelPatcher: its network's fingerprint plus its weight patches and wrapper/option keys."""
    options = patcher.model_options
    return {
        "model": module_fingerprint(patcher.model),
        "patches": {key: len(value) for key, value in patcher.patches.items()},
        "options": sorted(str(key) for key in options),
        "transformer_options": sorted(str(key) for key in options.get("transformer_options", {})),
        "wrappers": {kind: sorted(str(k) for k in keyed) for kind, keyed in getattr(patcher, "wrappers", {}).items()},
    }


class ChunkCache:
    """Finished chunks of one extension (one folder per input hash), written atomically one file per run."""

    def __init__(self, root: str, key: str) -> None:
        self.directory = os.path.join(root, key)

    def _path(self, run: int) -> str:
        return os.path.join(self.directory, f"run_{run:05d}.safetensors")

    def load(self, run: int) -> Optional[torch.Tensor]:
        path = self._path(run)
        if not os.path.isfile(path):
            return None
        try:
            return load_file(path)["frames"]
        except Exception as exc:  # a damaged file is recomputed, never trusted
            logger.warning("ignoring unreadable cached chunk %s: %s", path, exc)
            return None

    def save(self, run: int, frames: torch.Tensor) -> None:
        os.makedirs(self.directory, exist_ok=True)
        path = self._path(run)
        partial = path + ".partial"
        save_file({"frames": frames.detach().to("cpu", torch.float32).contiguous()}, partial)
        os.replace(partial, path)  # a crash mid-write leaves no file that looks finished

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
