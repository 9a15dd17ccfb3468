"""The StreamingT2V stage-2 denoiser: `base_model` (UNet3D + APM + CAM mergers), `unet` (CAM control branch) and
`resampler` (image tokens), with the exact state-dict names of `streaming_t2v.ckpt["state_dict"]`.

One evaluation (as the official pipeline does it inside the autoregressive loop):
1. image tokens for the anchor embedding and for the mid-gray "unconditional" anchor embedding;
2. CFG batch [uncond, cond]: context = [negative text + uncond tokens, text + tokens] (77 + 16 tokens);
3. CAM branch on the first 8 noisy frames + E_cond(previous chunk's last 8 frames), same frames in both halves;
4. base UNet with the CAM features merged into its skips and mid output;
5. noise = u + scale·(c − u).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Optional

import torch
from torch import nn

from ..common import CheckpointError, compare_layout
from .apm import IMAGE_TOKENS, TEXT_TOKENS, ImageTokenResampler
from .control import CAMControlBranch
from .unet3d import BaseUNet3D, Timestep, UNet3DConfig

logger = logging.getLogger("FrameLoom.streamingt2v")

STATE_PREFIXES = ("base_model.", "unet.", "resampler.")


@dataclass(frozen=True)
class StreamingT2VConfig:
    """Defaults are the released model (`configs/text_to_video/config.yaml` of the StreamingModelscope branch)."""

    unet: UNet3DConfig = field(default_factory=UNet3DConfig)
    merger_head_dim: int = 64
    cond_channels: tuple[int, ...] = (32, 96, 256, 512)
    control_frames: int = 8
    text_tokens: int = TEXT_TOKENS
    image_tokens: int = IMAGE_TOKENS
    resampler_inner_dim: int = 1280


@dataclass
class DenoiserOutput:
    noise_pred_cfg: torch.Tensor  # [B, 4, F, h, w]
    noise_pred: torch.Tensor  # [2B, 4, F, h, w], uncond half first
    image_tokens: torch.Tensor  # [2B, 16, D], uncond half first
    encoder_hidden_states: torch.Tensor  # [2B, 93, D]
    ctrl_down: Optional[list[torch.Tensor]] = None  # CAM skips, [(2B Fc), C, h, w] each
    ctrl_mid: Optional[torch.Tensor] = None


class StreamingT2V(nn.Module):
    def __init__(self, config: Optional[StreamingT2VConfig] = None) -> None:
        super().__init__()
        config = config or StreamingT2VConfig()
        self.config = config
        u = config.unet
        self.base_model = BaseUNet3D(u, merger_head_dim=config.merger_head_dim)
        self.unet = CAMControlBranch(u, config.cond_channels, config.control_frames, config.text_tokens)
        self.resampler = ImageTokenResampler(u.cross_attention_dim, config.resampler_inner_dim, config.image_tokens)

    def predict(
        self, latents: torch.Tensor, timestep: Timestep, context: torch.Tensor, cond_frames: Optional[torch.Tensor]
    ) -> tuple[torch.Tensor, Optional[list[torch.Tensor]], Optional[torch.Tensor]]:
        """One batch through CAM branch + base UNet (no CFG); cond_frames None skips the CAM branch and the mergers."""
        if cond_frames is None:
            return self.base_model(latents, timestep, context), None, None
        down, mid = self.unet(latents, timestep, context, cond_frames)
        return self.base_model(latents, timestep, context, down, mid), down, mid

    def forward(
        self,
        latents: torch.Tensor,
        timestep: Timestep,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor,
        image_embeds: torch.Tensor,
        image_embeds_uncond: torch.Tensor,
        cond_frames: Optional[torch.Tensor],
        guidance_scale: float = 7.5,
    ) -> DenoiserOutput:
        """latents [B, 4, F, h, w]; prompt/negative embeds [B, 77, D]; image embeds [(B Fa), D] pooled CLIP of the
        anchor frame(s) and of the mid-gray frame; cond_frames [B, 8, 3, 8h, 8w] in [-1, 1] (None: no CAM)."""
        b = latents.shape[0]
        if prompt_embeds.shape != negative_prompt_embeds.shape or prompt_embeds.shape[0] != b:
            raise ValueError(
                f"prompt and negative prompt embeddings must both be [B={b}, tokens, dim]; "
                f"got {list(prompt_embeds.shape)} and {list(negative_prompt_embeds.shape)}"
            )
        expected = [b, self.config.control_frames, 3, 8 * latents.shape[-2], 8 * latents.shape[-1]]
        if cond_frames is not None and list(cond_frames.shape) != expected:
            raise ValueError(
                f"cond_frames must be {expected} (the previous chunk's last {expected[1]} frames in [-1, 1] at 8× the "
                f"latent size); got {list(cond_frames.shape)}"
            )
        tokens = torch.cat([self.resampler(image_embeds_uncond, b), self.resampler(image_embeds, b)])
        context = torch.cat([torch.cat([negative_prompt_embeds, prompt_embeds]), tokens], dim=1)
        cam = None if cond_frames is None else torch.cat([cond_frames] * 2)
        noise, down, mid = self.predict(torch.cat([latents] * 2), timestep, context, cam)
        uncond, cond = noise.chunk(2)
        return DenoiserOutput(uncond + guidance_scale * (cond - uncond), noise, tokens, context, down, mid)


def select_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `base_model.*`, `unet.*` and `resampler.*` tensors of a checkpoint (VAE, text and image encoders dropped)."""
    return {k: v for k, v in state.items() if k.startswith(STATE_PREFIXES)}


def load_streaming_t2v_weights(model: StreamingT2V, state: Mapping[str, torch.Tensor], assign: bool = False) -> None:
    """Load a streaming_t2v.ckpt state dict strictly; a wrong layout raises CheckpointError naming the differences.

    `assign=True` adopts the checkpoint tensors instead of copying (for a model built on the meta device).
    """
    selected = select_state(state)
    if not selected:
        raise CheckpointError(
            "no StreamingT2V weights found: expected keys starting with base_model., unet. and resampler. "
            f"(streaming_t2v.ckpt['state_dict']); found e.g. {sorted(state)[:3]}"
        )
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    report = compare_layout(selected, expected)
    if not report.ok:
        raise CheckpointError(f"checkpoint does not match the StreamingT2V layout: {report.format()}")
    model.load_state_dict(selected, strict=True, assign=assign)
    logger.info("loaded %d StreamingT2V tensors", len(selected))
