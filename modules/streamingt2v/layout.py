"""The StreamingT2VConfig that a checkpoint's tensor shapes imply, so one loader serves the released model and
smaller test checkpoints in the same key layout.

Read from shapes: latent channels, level widths, layers per block, text/image context width and token counts
(APM conv [77, 93, 3]), the attention head width (transformer_in has 8 heads upstream, so its proj_in is 8·head_dim
wide), E_cond widths and the resampler's inner width. Not visible in any shape, so taken from the released config:
GroupNorm groups and eps, the merger head width (64) and the 8 CAM frames.
"""
from __future__ import annotations

from typing import Mapping

import torch

from ..common import CheckpointError
from .model import StreamingT2VConfig
from .unet3d import UNet3DConfig

_BASE = "base_model."
_COND = "unet.controlnet_cond_embedding."


def _shape(state: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(
            f"not a StreamingT2V checkpoint: '{key}' is missing (expected the base_model.*, unet.* and resampler.* "
            f"tensors of streaming_t2v.ckpt['state_dict']); found e.g. {sorted(state)[:3]}"
        )
    return tuple(state[key].shape)


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    n = 0
    while pattern.format(n) in state:
        n += 1
    return n


def infer_config(state: Mapping[str, torch.Tensor]) -> StreamingT2VConfig:
    """Config of the model stored in `state` (names as in streaming_t2v.ckpt['state_dict'], prefixes kept).

    Raises CheckpointError naming the first missing anchor tensor when `state` is not a StreamingT2V checkpoint.
    """
    defaults = StreamingT2VConfig()
    conv_in = _shape(state, _BASE + "conv_in.weight")
    levels = _count(state, _BASE + "down_blocks.{}.resnets.0.conv1.weight")
    if levels < 2:
        raise CheckpointError(f"a StreamingT2V UNet has at least 2 levels of down blocks; this checkpoint has {levels}")
    widths = tuple(_shape(state, f"{_BASE}down_blocks.{i}.resnets.0.conv1.weight")[0] for i in range(levels))
    attn2 = _BASE + "down_blocks.0.attentions.0.transformer_blocks.0.attn2."
    apm_conv = _shape(state, attn2 + "conv.weight")  # [text tokens, text + image tokens, 3]
    heads = defaults.unet.transformer_in_heads
    transformer_in = _shape(state, _BASE + "transformer_in.proj_in.weight")[0]
    if transformer_in % heads:
        raise CheckpointError(f"transformer_in.proj_in is {transformer_in} wide, not a multiple of its {heads} heads")
    cond = [_shape(state, _COND + "conv_in.weight")[0]]
    cond += [_shape(state, f"{_COND}blocks.{i}.weight")[0] for i in range(1, _count(state, _COND + "blocks.{}.weight"), 2)]
    unet = UNet3DConfig(
        in_channels=conv_in[1],
        out_channels=_shape(state, _BASE + "conv_out.weight")[0],
        block_out_channels=widths,
        layers_per_block=_count(state, _BASE + "down_blocks.0.resnets.{}.conv1.weight"),
        norm_num_groups=defaults.unet.norm_num_groups,
        norm_eps=defaults.unet.norm_eps,
        cross_attention_dim=_shape(state, attn2 + "to_k.weight")[1],
        attention_head_dim=transformer_in // heads,
        transformer_in_heads=heads,
        temporal_norm_groups=defaults.unet.temporal_norm_groups,
    )
    return StreamingT2VConfig(
        unet=unet,
        merger_head_dim=defaults.merger_head_dim,
        cond_channels=tuple(cond),
        control_frames=defaults.control_frames,
        text_tokens=apm_conv[0],
        image_tokens=apm_conv[1] - apm_conv[0],
        resampler_inner_dim=_shape(state, "resampler.context_embedding.0.weight")[0],
    )
