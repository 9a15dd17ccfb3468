"""Official FancyVideo (diffusers-style) UNet names -> ComfyUI's SD1.5 UNet names, through ComfyUI's own converter."""
from __future__ import annotations

from typing import Any, Mapping

import torch

import comfy.utils

from ...modules.fancyvideo.keymap import map_spatial_keys, split_keys


def comfy_unet_config(diffusers_config: Mapping[str, Any], dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """ComfyUI's SD1.5-family unet_config for a diffusers UNet config (block types, widths, layers per block).

    The base model is 4-channel: FancyVideo's 9-channel conv_in is swapped in by apply_fancyvideo.
    """
    widths = list(diffusers_config["block_out_channels"])
    layers = int(diffusers_config["layers_per_block"])
    base = widths[0]
    down_attn = [t.startswith("CrossAttn") for t in diffusers_config["down_block_types"]]
    up_attn = [t.startswith("CrossAttn") for t in diffusers_config["up_block_types"]]  # deepest level first
    return {
        "image_size": 32, "in_channels": 4, "out_channels": int(diffusers_config.get("out_channels", 4)),
        "model_channels": base, "num_res_blocks": [layers] * len(widths), "channel_mult": [w // base for w in widths],
        "transformer_depth": [int(a) for a in down_attn for _ in range(layers)],
        # ComfyUI lists output depths from the shallowest level up and pops from the end (deepest first).
        "transformer_depth_output": [int(a) for a in reversed(up_attn) for _ in range(layers + 1)],
        "transformer_depth_middle": 1, "context_dim": int(diffusers_config["cross_attention_dim"]),
        "use_linear_in_transformer": bool(diffusers_config.get("use_linear_projection", False)),
        "use_spatial_transformer": True, "legacy": False, "adm_in_channels": None, "use_checkpoint": False,
        "use_temporal_attention": False, "use_temporal_resblock": False, "dtype": dtype,
    }


def spatial_keymap(names: list[str], unet_config: Mapping[str, Any]) -> dict[str, str]:
    """{official spatial key: key inside diffusion_model} for a ComfyUI unet_config (lists for num_res_blocks etc.)."""
    return map_spatial_keys(names, comfy.utils.unet_to_diffusers(dict(unet_config)))


def spatial_state_for_comfy(official_state: Mapping[str, torch.Tensor], unet_config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The SD1.5 layers of an official state dict, renamed for ComfyUI's diffusion_model (no prefix)."""
    names = split_keys(official_state)["spatial"]
    return {target: official_state[name] for name, target in spatial_keymap(names, unet_config).items()}
