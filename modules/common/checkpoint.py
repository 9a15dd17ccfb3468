"""Safe checkpoint reading and human-readable layout reports.

safetensors first; pickle-based formats (.pt/.pth/.pkl/.ckpt) only through torch.load(weights_only=True), which
refuses to build arbitrary objects, so no code from a model file ever runs.
"""
from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import torch

logger = logging.getLogger("FrameLoom.checkpoint")

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".ckpt", ".bin")
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")


class CheckpointError(ValueError):
    """A model file that cannot be used; the message says what was expected and what was found."""


def _read_safetensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        size = os.path.getsize(path)
        raise CheckpointError(
            f"'{os.path.basename(path)}' is not a readable safetensors file ({size} bytes): {exc}. "
            "Expected a complete .safetensors file; a truncated download gives this error — download it again."
        ) from exc


def _read_pickle(path: str) -> object:
    name = os.path.basename(path)
    # Both torch formats: the zip container (torch >= 1.6) and the legacy tar/pickle stream.
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head == b"PK":
            raise CheckpointError(
                f"'{name}' is a damaged PyTorch zip checkpoint ({os.path.getsize(path)} bytes, no central directory): "
                "it is truncated or corrupted — download it again."
            )
        if head[:1] != b"\x80":
            raise CheckpointError(
                f"'{name}' is neither a safetensors file nor a PyTorch checkpoint (first bytes {head!r}). "
                "Expected .safetensors, or a .pt/.pth/.pkl/.ckpt saved by torch.save."
            )
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # torch raises several types (UnpicklingError, RuntimeError, EOFError)
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(
                f"'{name}' stores Python objects besides tensors, and FrameLoom never unpickles code from a model file. "
                f"Convert it once to .safetensors (tensors only; no code from the file runs): python "
                f"custom_nodes/FrameLoom/scripts/convert_checkpoint.py \"{path}\" (writes "
                f"{os.path.splitext(name)[0]}.safetensors beside it; then choose that file). Detail: {text.splitlines()[0]}"
            ) from exc
        raise CheckpointError(
            f"'{name}' could not be read as a PyTorch checkpoint ({os.path.getsize(path)} bytes): {text.splitlines()[0]}. "
            "A truncated or corrupted download gives this error — download it again."
        ) from exc


def _flatten_tensors(obj: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Tensors of a nested dict, keys joined with '.'; non-tensor leaves (step counters, configs) are dropped."""
    out: dict[str, torch.Tensor] = {}
    if isinstance(obj, torch.Tensor):
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            out.update(_flatten_tensors(value, f"{prefix}{key}."))
    return out


def load_state_dict(path: str | os.PathLike, container_keys: Iterable[str] = ("state_dict", "module", "model")) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat {name: tensor} dict on the CPU, safely.

    Pickle checkpoints that wrap their weights (Lightning's 'state_dict', DeepSpeed's 'module') are unwrapped when
    exactly such a container holds the tensors.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"model file not found: '{path}'")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"'{os.path.basename(path)}' is empty (0 bytes); download it again.")
    lower = path.lower()
    if lower.endswith(SAFETENSORS_SUFFIXES):
        return _read_safetensors(path)
    if not lower.endswith(PICKLE_SUFFIXES):
        raise CheckpointError(
            f"'{os.path.basename(path)}' has an unknown extension; expected one of "
            f"{', '.join(SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES)}."
        )
    obj = _read_pickle(path)
    if isinstance(obj, Mapping):
        for key in container_keys:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    tensors = _flatten_tensors(obj)
    if not tensors:
        raise CheckpointError(f"'{os.path.basename(path)}' holds no tensors; it is not a model checkpoint.")
    return tensors


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str, keep_unprefixed: bool = True) -> dict[str, torch.Tensor]:
    """Remove `prefix` from keys that have it (e.g. DDP's 'module.').

    keep_unprefixed=False drops keys without the prefix, as the official RIFE loader does for flownet.pkl.
    """
    if not any(k.startswith(prefix) for k in state):
        return dict(state)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(prefix):
            out[key[len(prefix):]] = value
        elif keep_unprefixed:
            out[key] = value
    return out


@dataclass
class LayoutReport:
    """How a state dict differs from an expected {name: shape} layout."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def format(self, limit: int = 8) -> str:
        parts = []

        def names(items: list[str]) -> str:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            return ", ".join(items[:limit]) + more

        if self.missing:
            parts.append(f"{len(self.missing)} missing: {names(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected: {names(self.unexpected)}")
        if self.mismatched:
            shown = [f"{k} expected {list(e)} found {list(f)}" for k, e, f in self.mismatched]
            parts.append(f"{len(shown)} with the wrong shape: {names(shown)}")
        return "; ".join(parts) if parts else "layout matches"


def compare_layout(state: Mapping[str, torch.Tensor], expected: Mapping[str, Iterable[int]]) -> LayoutReport:
    """Compare names and shapes of `state` against `expected` ({name: shape})."""
    report = LayoutReport()
    for key, shape in expected.items():
        if key not in state:
            report.missing.append(key)
        elif tuple(state[key].shape) != tuple(shape):
            report.mismatched.append((key, tuple(shape), tuple(state[key].shape)))
    report.unexpected = sorted(k for k in state if k not in expected)
    report.missing.sort()
    return report
