"""Building a CVVAE from a state dict: config inference, strict layout check, readable errors for wrong files."""
from __future__ import annotations

import dataclasses
import logging
import re
from typing import Mapping, Optional, Type, TypeVar

import torch

from ...common import CheckpointError, compare_layout
from .config import CVVAEConfig, spatial_compress_of, time_compress_of

logger = logging.getLogger("FrameLoom.fancyvideo.cvvae")

EXPECTED_FILE = "FancyVideo's CV-VAE (CV-VAE/vae3d/diffusion_pytorch_model.safetensors)"
M = TypeVar("M", bound=torch.nn.Module)


def describe_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    """A short guess of what a non-CV-VAE state dict is, for error messages."""
    keys = list(state)
    has = lambda fragment: any(fragment in k for k in keys)  # noqa: E731
    conv_in = state.get("encoder.conv_in.weight")
    if has("quant_conv") or has("first_stage_model.") or (conv_in is not None and conv_in.dim() == 4):
        return "a 2-D image VAE (SD-style AutoencoderKL with quant_conv / 4-D conv weights)"
    if has("encoder.down_blocks.") or has("decoder.up_blocks."):
        return "a VAE in diffusers' AutoencoderKL layout (down_blocks/resnets names)"
    if has("motion_modules."):
        return "a motion-module / AnimateDiff-style checkpoint"
    if has("input_blocks.") or has("time_embed") or has("down_blocks.") or has("model.diffusion_model."):
        return "a diffusion UNet"
    prefixed = sorted({k.split("encoder.conv_in.weight")[0] for k in keys if k.endswith("encoder.conv_in.weight")} - {""})
    if prefixed:
        return f"a model whose CV-VAE keys carry the prefix '{prefixed[0]}' (strip it first)"
    shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
    return f"an unknown model ({len(keys)} tensors: {shown})"


def _shape(state: Mapping[str, torch.Tensor], key: str, dims: int) -> tuple[int, ...]:
    tensor = state.get(key)
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != dims:
        found = "missing" if tensor is None else f"shape {list(getattr(tensor, 'shape', []))}"
        raise CheckpointError(f"not {EXPECTED_FILE}: it looks like {describe_state_dict(state)}. "
                              f"Expected '{key}' with {dims} dimensions, found {found}.")
    return tuple(tensor.shape)


def infer_config(state: Mapping[str, torch.Tensor], base: Optional[CVVAEConfig] = None) -> CVVAEConfig:
    """ch, ch_mult, num_res_blocks, channel counts from tensor shapes; everything else from `base` (released defaults)."""
    ch, in_channels = _shape(state, "encoder.conv_in.weight", 5)[:2]
    z_channels = _shape(state, "decoder.conv_in.weight", 5)[1]
    out_ch = _shape(state, "decoder.conv_out.weight", 5)[0]
    levels_found = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.down\.(\d+)\.", k))}
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k))}
    if not levels_found or not blocks:
        raise CheckpointError(f"not {EXPECTED_FILE}: no 'encoder.down.N.block.M' res-blocks found; it looks like "
                              f"{describe_state_dict(state)}.")
    levels = max(levels_found) + 1
    ch_mult = []
    for level in range(levels):
        width = _shape(state, f"encoder.down.{level}.block.0.conv1.weight", 5)[0]
        if width % ch:
            raise CheckpointError(f"not {EXPECTED_FILE}: level {level} width {width} is not a multiple of ch={ch}.")
        ch_mult.append(width // ch)
    base = base if base is not None else CVVAEConfig()
    try:
        return dataclasses.replace(
            base, in_channels=in_channels, out_ch=out_ch, ch=ch, ch_mult=ch_mult, num_res_blocks=max(blocks) + 1,
            z_channels=z_channels, time_n_compress=time_compress_of(levels), spatial_n_compress=spatial_compress_of(levels),
        )
    except ValueError as exc:
        raise CheckpointError(f"the CV-VAE layout inferred from the file is not usable: {exc}") from exc


def _widths(config: CVVAEConfig) -> str:
    return f"ch={config.ch}, ch_mult={config.ch_mult}, num_res_blocks={config.num_res_blocks}"


def _guess(state: Mapping[str, torch.Tensor], requested: CVVAEConfig) -> str:
    """What a state dict that failed the layout check is: another-width CV-VAE, a damaged one, or something else."""
    try:
        found = infer_config(state)
    except CheckpointError:
        return describe_state_dict(state)
    if _widths(found) != _widths(requested):
        return f"a CV-VAE with {_widths(found)} (pass config=None to use the file's own widths)"
    return "an incomplete or modified CV-VAE (wrong or partial download, or extra modules)"


def build_from_state_dict(cls: Type[M], state: Mapping[str, torch.Tensor], config: Optional[CVVAEConfig],
                          device: torch.device, dtype: torch.dtype) -> M:
    """Check `state` against the layout of `cls(config)` (inferred when None) and load it strictly."""
    if config is None:
        config = infer_config(state)
    with torch.device("meta"):
        model = cls(config)
    report = compare_layout(state, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    if not report.ok:
        raise CheckpointError(f"not {EXPECTED_FILE} with {_widths(config)}: it looks like {_guess(state, config)}. "
                              f"{report.format()}")
    model = model.to(dtype=dtype).to_empty(device=device)
    model.load_state_dict(dict(state), strict=True)
    logger.info("CV-VAE loaded: ch=%d ch_mult=%s num_res_blocks=%d, %s on %s", config.ch, config.ch_mult,
                config.num_res_blocks, dtype, device)
    return model.eval()
