"""ResAdapter v2 for SD1.5, as FancyVideo's configs apply it (always on).

LoRA part (`pytorch_lora_weights.safetensors`): the 3 downsampler and 3 upsampler convs are wrapped in peft LoRA layers
with r=16 and peft's default lora_alpha=1, so the scale is 1/16. lora_A (kohya `lora_down`) is a conv with the base
kernel/stride/padding and lora_B (`lora_up`) a 1x1 conv, so the pair folds exactly into the base conv:
W' = W + (B.flatten(1) @ A.flatten(1)).view_as(W) / 16. Any `.alpha` entry in the file is ignored, as there.
Norm part (`diffusion_pytorch_model.safetensors`): diffusers-named normalisation weights loaded non-strictly.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

import torch

from ..common import CheckpointError, load_state_dict

logger = logging.getLogger("FrameLoom.fancyvideo")

RESADAPTER_RANK = 16
RESADAPTER_ALPHA = 1.0  # peft's default; the official code passes r only
LORA_FILE = "pytorch_lora_weights.safetensors"  # the released resadapter_v2_sd1.5 folder's two files
NORM_FILE = "diffusion_pytorch_model.safetensors"
_LORA_KEY = re.compile(r"^lora_unet_(down|up)_blocks_(\d+)_(downsamplers|upsamplers)_0_conv\.lora_(down|up)\.weight$")


def resadapter_conv_name(lora_key: str) -> str | None:
    """'lora_unet_down_blocks_1_downsamplers_0_conv.lora_up.weight' -> 'down_blocks.1.downsamplers.0.conv.weight'."""
    match = _LORA_KEY.match(lora_key)
    if match is None:
        return None
    side, block, sampler, _ = match.groups()
    return f"{side}_blocks.{block}.{sampler}.0.conv.weight"


def resadapter_deltas(lora_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{diffusers conv weight name: float32 weight delta (B.A) * alpha / r} for every LoRA pair in the file."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in lora_state.items():
        name = resadapter_conv_name(key)
        if name is not None:
            pairs.setdefault(name, {})["up" if ".lora_up." in key else "down"] = value
        elif not key.endswith(".alpha"):
            logger.debug("ResAdapter: ignoring '%s'", key)
    if not pairs:
        raise CheckpointError(
            "expected ResAdapter LoRA weights ('lora_unet_<down|up>_blocks_<i>_<down|up>samplers_0_conv.lora_<down|up>.weight'), "
            f"found none among {len(lora_state)} tensors"
        )
    deltas: dict[str, torch.Tensor] = {}
    for name, pair in sorted(pairs.items()):
        if set(pair) != {"up", "down"}:
            raise CheckpointError(f"ResAdapter LoRA for '{name}' has only lora_{next(iter(pair))}")
        down, up = pair["down"].float(), pair["up"].float()
        rank = down.shape[0]
        if rank != RESADAPTER_RANK or up.shape[1] != rank or up.shape[2:] != (1, 1):
            raise CheckpointError(
                f"ResAdapter LoRA for '{name}' must be rank {RESADAPTER_RANK} with a 1x1 lora_up, "
                f"found lora_down {list(down.shape)} and lora_up {list(up.shape)}"
            )
        delta = (up.flatten(1) @ down.flatten(1)).view(up.shape[0], *down.shape[1:])
        deltas[name] = delta * (RESADAPTER_ALPHA / rank)
    return deltas


def fold_resadapter(conv_weights: Mapping[str, torch.Tensor], lora_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """W + delta for every conv named in the LoRA file; conv_weights is keyed by diffusers names."""
    folded = {}
    for name, delta in resadapter_deltas(lora_state).items():
        weight = conv_weights.get(name)
        if weight is None or weight.shape != delta.shape:
            found = "missing" if weight is None else f"shape {list(weight.shape)}"
            raise ValueError(f"ResAdapter LoRA for '{name}' expects a conv weight of shape {list(delta.shape)}, found {found}")
        folded[name] = (weight.float() + delta).to(weight.dtype)
    return folded


@dataclass
class NormReport:
    """What a non-strict load of ResAdapter's norm weights did."""

    applied: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    def format(self) -> str:
        return f"{len(self.applied)} applied, {len(self.unknown)} not in the UNet, {len(self.mismatched)} with another shape"


def select_resadapter_norms(
    norm_state: Mapping[str, torch.Tensor], target_shapes: Mapping[str, tuple[int, ...]]
) -> tuple[dict[str, torch.Tensor], NormReport]:
    """The entries of `norm_state` whose name exists in `target_shapes` with the same shape (names as in the file)."""
    report = NormReport()
    selected: dict[str, torch.Tensor] = {}
    for name, value in norm_state.items():
        shape = target_shapes.get(name)
        if shape is None:
            report.unknown.append(name)
        elif tuple(shape) != tuple(value.shape):
            report.mismatched.append(name)
        else:
            selected[name] = value
            report.applied.append(name)
    logger.info("ResAdapter norm weights: %s", report.format())
    return selected, report


def resadapter_pair(path: str | os.PathLike) -> tuple[str, str]:
    """(LoRA file, norm file) of the ResAdapter folder holding `path`: the chosen file is one of the pair (the norm
    file when it is named diffusion_pytorch_model.safetensors, else the LoRA file) and the other keeps its released
    name beside it."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    lora, norm = (os.path.join(folder, LORA_FILE), path) if name == NORM_FILE else (path, os.path.join(folder, NORM_FILE))
    missing = [os.path.basename(p) for p in (lora, norm) if not os.path.isfile(p)]
    if missing:
        raise CheckpointError(
            f"ResAdapter v2 needs both of its files in one folder ({LORA_FILE}: the sampler-conv LoRA, {NORM_FILE}: "
            f"the normalisation weights); missing {', '.join(missing)} in '{folder}'"
        )
    return lora, norm


def check_norm_state(norm_state: Mapping[str, torch.Tensor], name: str = NORM_FILE) -> None:
    """ResAdapter's norm file holds diffusers-named UNet normalisation weights (no LoRA pairs)."""
    lora_keys = [k for k in norm_state if resadapter_conv_name(k) is not None or ".lora_" in k]
    norms = [k for k in norm_state if "norm" in k]
    if lora_keys or not norms:
        examples = ", ".join(sorted(norm_state)[:3])
        found = (f"LoRA tensors such as '{lora_keys[0]}'" if lora_keys
                 else f"no normalisation weights among {len(norm_state)} tensors (e.g. {examples})")
        raise CheckpointError(
            f"'{name}' should hold ResAdapter's normalisation weights (diffusers names such as "
            f"'down_blocks.0.resnets.0.norm1.weight'), found {found}"
        )


def load_resadapter(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(LoRA state, norm state) of a ResAdapter v2 folder, both read safely and checked; see resadapter_pair."""
    lora_path, norm_path = resadapter_pair(path)
    lora_state, norm_state = load_state_dict(lora_path), load_state_dict(norm_path)
    try:
        resadapter_deltas(lora_state)
    except CheckpointError as exc:
        raise CheckpointError(f"'{os.path.basename(lora_path)}' is not a ResAdapter LoRA: {exc}") from exc
    check_norm_state(norm_state, os.path.basename(norm_path))
    return lora_state, norm_state
