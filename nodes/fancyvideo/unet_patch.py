"""How FancyVideo hooks into ComfyUI's own SD1.5 UNet (comfy.ldm...openaimodel.UNetModel) without touching it.

* Motion modules: each UNet block that ends a (resnet, spatial transformer) pair gets a parameter-free `MotionSlot`
  through an object patch: a new TimestepEmbedSequential holding the block's own layers plus the slot, with every
  original layer under its original name (so weight keys, LoRA patches and offloading are unchanged) and the slot
  placed where the official UNet3D runs the module (before a down/upsampler; in the mid block between the attention
  and the second resnet). forward_timestep_embed_patch runs the named motion module at the slot.
* fps / motion score: an emb_patch adds their embeddings to the time embedding.
* conv_in: an object patch swaps in a 9-channel conv.
The motion weights live in their own ModelPatcher (attached with set_additional_models), so ComfyUI loads and
offloads them together with the UNet.

Frames per video: the UNet sees [N, C, H, W] with N = (number of conds batched together) x F; ComfyUI records the
batched conds in transformer_options["cond_or_uncond"], so F = N / len(cond_or_uncond). This holds for CFG (cond and
uncond in one batch or apart) and for ComfyUI context windows, which hand over one window of frames at a time.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import torch

import comfy.ops
from comfy.ldm.modules.attention import SpatialTransformer
from comfy.ldm.modules.diffusionmodules.openaimodel import Downsample, ResBlock, TimestepEmbedSequential, Upsample

from ...modules.fancyvideo.loading import IMAGE_CHANNELS, LATENT_CHANNELS
from ...modules.fancyvideo.motion_model import FancyVideoMotionModel

logger = logging.getLogger("FrameLoom.fancyvideo")

SLOT_NAME = "frameloom_motion"
ATTEND_OPTION = "frameloom_temporal_attend"
"""transformer_options key: an AttendFn (block, x[N, F, C]) -> x that replaces the temporal attention stack, e.g. a
FreeNoise window-fusion wrapper. Absent: the plain attention over all F frames."""
CONV_IN_PATH = "diffusion_model.input_blocks.0.0"


class MotionSlot(torch.nn.Module):
    """Marks where a motion module runs; the FancyVideo forward_timestep_embed_patch does the work."""

    def __init__(self, motion_name: str) -> None:
        super().__init__()
        self.motion_name = motion_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError(
            f"FancyVideo motion slot '{self.motion_name}' ran without FrameLoom's forward_timestep_embed_patch; "
            "the MODEL's patches were removed after FancyVideo was applied"
        )

    def extra_repr(self) -> str:
        return self.motion_name


@dataclass(frozen=True)
class SlotSite:
    motion_name: str  # official name, e.g. 'up_blocks.1.motion_modules.2'
    block_path: str  # 'input_blocks.4', 'middle_block' or 'output_blocks.8' inside diffusion_model
    channels: int


def _layers(block: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in block._modules.items() if not isinstance(m, MotionSlot)]


def _pair_channels(block: torch.nn.Module) -> Optional[int]:
    res = [m for _, m in _layers(block) if isinstance(m, ResBlock)]
    return res[-1].out_channels if res else None


def slot_sites(diffusion_model: torch.nn.Module) -> list[SlotSite]:
    """Where the official UNet3D runs motion modules, mapped onto ComfyUI's block lists (execution order)."""
    sites: list[SlotSite] = []
    level = layer = 0
    for index, block in enumerate(diffusion_model.input_blocks):
        if any(isinstance(m, Downsample) for _, m in _layers(block)):
            level, layer = level + 1, 0
            continue
        channels = _pair_channels(block)
        if channels is not None:  # the first block is conv_in alone
            sites.append(SlotSite(f"down_blocks.{level}.motion_modules.{layer}", f"input_blocks.{index}", channels))
            layer += 1
    if diffusion_model.middle_block is not None:
        sites.append(SlotSite("mid_block.motion_modules.0", "middle_block", _pair_channels(diffusion_model.middle_block)))
    level = layer = 0
    for index, block in enumerate(diffusion_model.output_blocks):
        sites.append(SlotSite(f"up_blocks.{level}.motion_modules.{layer}", f"output_blocks.{index}", _pair_channels(block)))
        layer += 1
        if any(isinstance(m, Upsample) for _, m in _layers(block)):
            level, layer = level + 1, 0
    return sites


def with_slot(block: torch.nn.Module, motion_name: str, mid_block: bool) -> TimestepEmbedSequential:
    """A copy of `block` (same layer objects and names) with a MotionSlot where the official UNet3D runs the module."""
    layers = _layers(block)
    pairs = [i for i, (_, m) in enumerate(layers) if isinstance(m, (ResBlock, SpatialTransformer))]
    if not pairs:
        raise ValueError(f"block has no resnet or spatial transformer to put the motion module '{motion_name}' after")
    if mid_block:
        # resnet, attention, [motion], resnet
        attn = [i for i, (_, m) in enumerate(layers) if isinstance(m, SpatialTransformer)]
        position = (attn[0] if attn else pairs[0]) + 1
    else:
        position = pairs[-1] + 1
    ordered = layers[:position] + [(SLOT_NAME, MotionSlot(motion_name))] + layers[position:]
    return TimestepEmbedSequential(OrderedDict(ordered))


def frames_per_video(batch: int, transformer_options: dict, num_frames: Optional[int] = None) -> int:
    if num_frames is None:
        chunks = len(transformer_options.get("cond_or_uncond") or [None])
        if batch % chunks:
            raise ValueError(f"a batch of {batch} latents does not split into {chunks} conditioning chunks")
        num_frames = batch // chunks
    if batch % num_frames:
        raise ValueError(f"FancyVideo num_frames={num_frames} does not divide the UNet batch of {batch} latents")
    return num_frames


class _SharedPatch:
    """Patch objects hold the (large) motion model; ModelPatcher.clone() deep-copies model_options, so share them."""

    def __deepcopy__(self, memo: dict) -> "_SharedPatch":
        return self


class MotionSlotPatch(_SharedPatch):
    """forward_timestep_embed_patch handler: runs the motion module a MotionSlot names, on [B*F, C, H, W]."""

    def __init__(self, motion_model: FancyVideoMotionModel, num_frames: Optional[int] = None) -> None:
        self.motion_model = motion_model
        self.num_frames = num_frames

    def __call__(self, layer: MotionSlot, x: torch.Tensor, emb: Any, context: Any, transformer_options: dict, *_: Any) -> torch.Tensor:
        frames = frames_per_video(x.shape[0], transformer_options, self.num_frames)
        module = self.motion_model.motion_module(layer.motion_name)
        return module(x, frames, transformer_options.get(ATTEND_OPTION))


class FpsMotionEmbPatch(_SharedPatch):
    """emb_patch: adds the fps and motion-score embeddings to the UNet's time embedding."""

    def __init__(self, motion_model: FancyVideoMotionModel, fps: Optional[float], motion_score: Optional[float]) -> None:
        self.motion_model = motion_model
        self.fps = fps
        self.motion_score = motion_score

    def __call__(self, emb: torch.Tensor, model_channels: int, transformer_options: dict) -> torch.Tensor:
        return self.motion_model.add_conditions(emb, self.fps, self.motion_score)


class FancyVideoConvIn(comfy.ops.manual_cast.Conv2d):
    """The 9-channel conv_in: [noisy latent 4, image latent 4, mask 1].

    A 4-channel input (no image conditioning attached) is read as zero image latent and zero mask, which is what the
    official T2V first-frame pass feeds.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == LATENT_CHANNELS:
            x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, self.in_channels - LATENT_CHANNELS))
        elif x.shape[1] != self.in_channels:
            raise ValueError(
                f"FancyVideo's conv_in expects {LATENT_CHANNELS} latent channels plus {self.in_channels - LATENT_CHANNELS} "
                f"image-conditioning channels (or the latent alone), got {x.shape[1]} channels"
            )
        return super().forward(x)


def make_conv_in(base_weight: torch.Tensor, base_bias: torch.Tensor, fancy_weight: torch.Tensor, device: Any) -> FancyVideoConvIn:
    """conv_in = FancyVideo's trained [:, 4:] channels with the base model's [:, :4] channels and bias (as official)."""
    out_channels = base_weight.shape[0]
    if fancy_weight.shape[0] != out_channels or base_weight.shape[1] != LATENT_CHANNELS or base_weight.shape[2:] != fancy_weight.shape[2:]:
        raise ValueError(
            f"FancyVideo conv_in {list(fancy_weight.shape)} does not fit this model's conv_in {list(base_weight.shape)}; "
            "FancyVideo needs an SD1.5 model"
        )
    dtype = base_weight.dtype
    conv = FancyVideoConvIn(IMAGE_CHANNELS, out_channels, fancy_weight.shape[2], padding=fancy_weight.shape[2] // 2, device=device, dtype=dtype)
    weight = torch.cat([base_weight.detach().to(device), fancy_weight[:, LATENT_CHANNELS:].to(device=device, dtype=dtype)], dim=1)
    conv.weight = torch.nn.Parameter(weight, requires_grad=False)
    conv.bias = torch.nn.Parameter(base_bias.detach().to(device=device, dtype=dtype), requires_grad=False)
    return conv
