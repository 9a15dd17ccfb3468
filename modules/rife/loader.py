"""Building an IFNet from a checkpoint: key normalisation, version detection from tensor shapes, strict layout check.

Aliases (e.g. 4.26 and 4.25) share a layout, so shapes alone give the layout's canonical version; a version hint
(usually parsed from the file name) picks the alias.
"""
from __future__ import annotations

import functools
import logging
import os
import re
from typing import Mapping, Optional

import torch

from ..common import CheckpointError, compare_layout, load_state_dict, strip_prefix
from .config import ALL_VERSIONS, SUPPORTED_VERSIONS, get_config, CONFIGS
from .ifnet import IFNet

logger = logging.getLogger("FrameLoom.rife")

# Training-only modules of the 4.22 / 4.22.lite classes (distillation teacher, time regressor).
TRAINING_ONLY_PREFIXES = ("teacher.", "caltime.")

# A few tensors whose shapes tell every supported layout apart (widths, input channels, head, block count, groups).
_MARKERS = (
    "block0.conv0.0.0.weight",
    "block0.convblock.0.conv.weight",
    "block0.lastconv.0.weight",
    "block1.conv0.0.0.weight",
    "block3.conv0.1.0.weight",
    "block4.conv0.1.0.weight",
    "encode.1.weight",
    "encode.cnn0.weight",
    "encode.cnn3.weight",
)

_HINT_PATTERN = re.compile(r"(?<![0-9])4[._-]?([0-9]{1,2})(?![0-9])(?:[._-]?(lite|heavy))?", re.IGNORECASE)


def parse_version_hint(filename: str) -> Optional[str]:
    """The RIFE version named by a file name, e.g. 'rife426.pth' -> '4.26', 'flownet_v4.14.lite.pkl' -> '4.14.lite'.

    Returns None when the name names no supported version or alias.
    """
    stem = os.path.basename(os.fspath(filename))
    for match in _HINT_PATTERN.finditer(stem):
        minor, variant = match.group(1), match.group(2)
        version = f"4.{int(minor)}" + (f".{variant.lower()}" if variant else "")
        if version in CONFIGS:
            return version
    return None


def _build(version: str) -> IFNet:
    # On the meta device nothing is allocated or randomly initialised; weights come from the checkpoint.
    with torch.device("meta"):
        return IFNet(get_config(version))


@functools.lru_cache(maxsize=None)
def _layout(version: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple((key, tuple(t.shape)) for key, t in _build(version).state_dict().items())


def expected_layout(version: str) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes (bare names, no 'module.') of a version or alias, from the config table."""
    return dict(_layout(version))


def normalize_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Bare IFNet names: strip DDP's 'module.' (keeping only keys that had it, like the official loader) and drop
    training-only teacher/caltime tensors."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"expected a state dict (a mapping of names to tensors), got {type(state).__name__}")
    state = strip_prefix(state, "module.", keep_unprefixed=False)
    kept = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}
    if len(kept) != len(state):
        logger.debug("ignoring %d training-only tensors (teacher/caltime)", len(state) - len(kept))
    return kept


def _signature(shapes: Mapping[str, tuple[int, ...]]) -> tuple:
    return tuple(tuple(shapes[key]) if key in shapes else None for key in _MARKERS)


def layout_signature(version: str) -> tuple:
    return _signature(expected_layout(version))


def _found_keys(state: Mapping[str, torch.Tensor], limit: int = 8) -> str:
    keys = sorted(state)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(f"{k} {list(state[k].shape)}" for k in keys[:limit]) + more


def detect_version(state: Mapping[str, torch.Tensor]) -> str:
    """The canonical version (one of SUPPORTED_VERSIONS) whose layout the normalised state dict has, checked
    strictly (names and shapes). Raises CheckpointError saying what was expected and what was found."""
    if not any(key.startswith("block0.") for key in state):
        raise CheckpointError(
            "not a RIFE v4 IFNet checkpoint: expected keys such as 'block0.conv0.0.0.weight' and "
            f"'block0.lastconv.0.weight' (optionally prefixed 'module.'); found {len(state)} tensors: "
            f"{_found_keys(state)}"
        )
    signature = _signature({k: tuple(v.shape) for k, v in state.items()})
    match = next((v for v in SUPPORTED_VERSIONS if layout_signature(v) == signature), None)
    if match is None:
        # Name the closest layout, so a damaged or unsupported file gets a precise report.
        reports = {v: compare_layout(state, expected_layout(v)) for v in SUPPORTED_VERSIONS}
        closest = min(reports, key=lambda v: len(reports[v].missing) + len(reports[v].unexpected)
                      + len(reports[v].mismatched))
        raise CheckpointError(
            f"RIFE IFNet checkpoint of an unsupported layout; supported versions are {', '.join(ALL_VERSIONS)}. "
            f"Closest is {closest}: {reports[closest].format()}"
        )
    report = compare_layout(state, expected_layout(match))
    if not report.ok:
        raise CheckpointError(f"RIFE checkpoint looks like version {match} but does not match its layout: "
                              f"{report.format()}")
    return match


def load_ifnet(state_dict: Mapping[str, torch.Tensor], version_hint: Optional[str] = None) -> IFNet:
    """An eval-mode IFNet (float32, CPU) for a RIFE v4 state dict (flownet.pkl with 'module.' keys or bare .pth).

    version_hint picks among versions sharing the detected layout (e.g. '4.26' for a 4.25-layout file); a hint
    whose layout differs from the tensors is an error.
    """
    state = normalize_state_dict(state_dict)
    detected = detect_version(state)
    version = detected
    if version_hint is not None:
        hinted = get_config(version_hint)
        if hinted.layout != detected:
            raise CheckpointError(
                f"version hint '{version_hint}' expects the layout of RIFE {hinted.layout}, but the tensors have the "
                f"layout of RIFE {detected}; remove the hint or rename the file"
            )
        version = hinted.version
    net = _build(version).to_empty(device="cpu")
    net.load_state_dict(state, strict=True)
    net.eval()
    logger.info("loaded RIFE IFNet %s (layout %s)", version, detected)
    return net


def load_ifnet_file(path: str | os.PathLike, version_hint: Optional[str] = None) -> IFNet:
    """load_ifnet on a checkpoint file read safely; the hint defaults to the one in the file name."""
    hint = version_hint if version_hint is not None else parse_version_hint(os.fspath(path))
    return load_ifnet(load_state_dict(path), hint)
