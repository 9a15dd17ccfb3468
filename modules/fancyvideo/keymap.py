"""Where each official (diffusers-style) FancyVideo UNet key goes.

Groups:
* motion     `<block>.motion_modules.N.*` -> FancyVideoMotionModel under the same name;
* embedding  `fps_embedding.*`, `motion_embedding.*` -> FancyVideoMotionModel under the same name;
* conv_in    `conv_in.weight/bias` -> the 9-channel input conv assembled by the ComfyUI patch;
* ctgm       `*.ctm_*` (CTGM, in no released checkpoint) -> unsupported;
* spatial    everything else: the SD1.5 UNet, renamed through a diffusers -> target table. The table comes from the
             caller (nodes/ builds it with ComfyUI's own converter), which keeps this module free of ComfyUI.
"""
from __future__ import annotations

import logging
import re
from typing import Iterable, Mapping

logger = logging.getLogger("FrameLoom.fancyvideo")

GROUPS = ("motion", "embedding", "conv_in", "ctgm", "spatial")
CONV_IN_KEYS = ("conv_in.weight", "conv_in.bias")
EMBEDDING_PREFIXES = ("fps_embedding.", "motion_embedding.")
# official filter of the trained keys (InferPipeline.load_unet with the inference configs' trained_keys)
TRAINED_KEY_MARKERS = ("motion_modules.", "conv_in.weight", "fps_embedding.", "motion_embedding.")

_MOTION = re.compile(r"^((?:down_blocks|up_blocks)\.\d+|mid_block)\.motion_modules\.(\d+)\.(.+)$")
_BLOCK_ORDER = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}


def key_group(name: str) -> str:
    if ".ctm_" in name:
        return "ctgm"
    if _MOTION.match(name):
        return "motion"
    if name.startswith(EMBEDDING_PREFIXES):
        return "embedding"
    if name in CONV_IN_KEYS:
        return "conv_in"
    return "spatial"


def split_keys(names: Iterable[str]) -> dict[str, list[str]]:
    """Official key names by group (every group present, possibly empty)."""
    groups: dict[str, list[str]] = {g: [] for g in GROUPS}
    for name in names:
        groups[key_group(name)].append(name)
    return groups


def motion_module_of(name: str) -> tuple[str, str]:
    """'down_blocks.1.motion_modules.0.temporal_transformer.norm.weight' -> ('down_blocks.1.motion_modules.0', rest)."""
    match = _MOTION.match(name)
    if match is None:
        raise ValueError(f"'{name}' is not a motion-module key (expected '<block>.motion_modules.<n>.<param>')")
    return f"{match.group(1)}.motion_modules.{match.group(2)}", match.group(3)


def motion_module_sort_key(module_name: str) -> tuple[int, int, int]:
    """UNet execution order for a module name: down blocks, mid block, up blocks; then block and layer index."""
    parts = module_name.split(".")
    kind = parts[0]
    block = int(parts[1]) if kind != "mid_block" else 0
    return _BLOCK_ORDER[kind], block, int(parts[-1])


def map_spatial_keys(names: Iterable[str], diffusers_to_target: Mapping[str, str]) -> dict[str, str]:
    """{official spatial name: target name}; raises ValueError if a name has no target or two names share one."""
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        target = diffusers_to_target.get(name)
        if target is None:
            missing.append(name)
        else:
            mapping[name] = target
    if missing:
        raise ValueError(
            f"{len(missing)} SD1.5 UNet keys have no counterpart in the target layout, e.g. {', '.join(sorted(missing)[:5])}"
        )
    seen: dict[str, str] = {}
    for name, target in mapping.items():
        if target in seen:
            raise ValueError(f"'{seen[target]}' and '{name}' both map to '{target}'")
        seen[target] = name
    return mapping
