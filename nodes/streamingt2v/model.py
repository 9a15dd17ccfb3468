"""StreamingT2V's stage-2 denoiser as a ComfyUI model, so ComfyUI's samplers, schedulers, CFG, previews and Cancel
drive it.

* Schedule: ModelScope ms-1.7b's DDIM training schedule, ε-prediction, 1000 steps, betas from 0.00085 to 0.012 spaced
  linearly in sqrt (diffusers "scaled_linear", which ComfyUI calls "linear").
* Latents: 16-frame chunks with the frames in the batch, [B·16, 4, h, w] (h = w = 32 at 256×256), as ComfyUI's other
  frames-in-batch video models. ComfyUI repeats the text context once per frame; one row per video is used.
* Per-chunk conditioning rides in the CONDITIONING entries, so CFG pairs it correctly: `st2v_anchor_embeds` (pooled
  CLIP-vision embedding(s) of the anchor frame; the gray frame's for the negative) becomes the 16 APM image tokens
  after the 77 text tokens, `st2v_cond_frames` (the previous chunk's last 8 frames in [-1, 1], the same in both)
  feeds the CAM branch. Without cond frames the CAM branch and the mergers are skipped (the official
  `skip_controlnet_branch` path).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.supported_models_base
import comfy.utils

from ...modules.streamingt2v import StreamingT2V
from ...modules.streamingt2v.bookkeeping import MS_CHUNK
from ..patcher import wrap_module

logger = logging.getLogger("FrameLoom.streamingt2v")

ANCHOR_KEY = "st2v_anchor_embeds"
COND_FRAMES_KEY = "st2v_cond_frames"
EXTEND_HINT = "sample it with 'StreamingT2V Extend (FrameLoom)', which adds the anchor embedding and the CAM frames"


class StreamingT2VModelConfig(comfy.supported_models_base.BASE):
    """What comfy.model_base.BaseModel reads from a model config; the UNet itself is ours, not built by ComfyUI."""

    sampling_settings = {"beta_schedule": "linear", "linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000}
    latent_format = comfy.latent_formats.SD15  # the ms-1.7b VAE is an SD-style AutoencoderKL, scaling 0.18215


class CONDPerVideo(comfy.conds.CONDRegular):
    """A condition with one entry per video: a batch of B·16 frame rows holds B videos (ComfyUI's default would
    repeat it once per frame)."""

    def process_cond(self, batch_size: int, **kwargs) -> "CONDPerVideo":
        if batch_size % MS_CHUNK:
            raise ValueError(f"StreamingT2V samples {MS_CHUNK}-frame chunks; a batch of {batch_size} latent frames is not")
        return self._copy_with(comfy.utils.repeat_to_batch_size(self.cond, batch_size // MS_CHUNK))


class StreamingT2VDenoiser(nn.Module):
    """`diffusion_model` of the ComfyUI model: ComfyUI's calling convention in, StreamingT2V.predict inside."""

    def __init__(self, net: StreamingT2V) -> None:
        super().__init__()
        self.net = net
        self._truncation_logged = False
        self._move_logged = False

    @property
    def dtype(self) -> torch.dtype:
        return self.net.base_model.conv_in.weight.dtype

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: Optional[torch.Tensor] = None,
        control: Optional[dict] = None,
        transformer_options: Optional[dict] = None,
        st2v_anchor_embeds: Optional[torch.Tensor] = None,
        st2v_cond_frames: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> torch.Tensor:
        """x [B·16, 4, h, w] (model input), timesteps [B·16], context [B·16, >=77, D] -> ε [B·16, 4, h, w]."""
        if x.ndim != 4 or x.shape[0] % MS_CHUNK:
            raise ValueError(
                f"StreamingT2V denoises {MS_CHUNK}-frame chunks with the frames in the batch, [B·{MS_CHUNK}, 4, h, w]; "
                f"got latents {list(x.shape)}"
            )
        if control is not None:
            raise ValueError("ControlNet does not apply to StreamingT2V (its CAM branch is its own control); remove it")
        if context is None or st2v_anchor_embeds is None:
            raise ValueError(f"StreamingT2V needs the text context and the anchor image embedding; {EXTEND_HINT}")
        self._ensure_on(x.device)
        videos = x.shape[0] // MS_CHUNK
        latents = x.unflatten(0, (videos, MS_CHUNK)).transpose(1, 2)
        t = timesteps.reshape(videos, MS_CHUNK)[:, 0]
        text = self._text_tokens(context.unflatten(0, (videos, MS_CHUNK))[:, 0])
        tokens = self.net.resampler(st2v_anchor_embeds.to(text.dtype), videos)
        noise, _, _ = self.net.predict(latents, t, torch.cat([text, tokens], dim=1), st2v_cond_frames)
        return noise.transpose(1, 2).flatten(0, 1)

    def _ensure_on(self, device: torch.device) -> None:
        # ComfyUI's partial (low-VRAM) loading moves only leaf modules of non-comfy networks, leaving e.g. APM's
        # alpha behind; this network then runs fully on the device instead of failing on mixed devices.
        if any(p.device != device for p in self.net.parameters()):
            if not self._move_logged:
                logger.warning("StreamingT2V was loaded partially; moving it fully to %s (no partial offload)", device)
                self._move_logged = True
            self.net.to(device)

    def _text_tokens(self, text: torch.Tensor) -> torch.Tensor:
        wanted = self.net.config.text_tokens
        if text.shape[1] < wanted:
            raise ValueError(f"StreamingT2V expects {wanted} text tokens per prompt; the conditioning has {text.shape[1]}")
        if text.shape[1] > wanted and not self._truncation_logged:
            # ComfyUI encodes long prompts as several 77-token blocks; the official text encoder truncates to one.
            logger.warning("prompt is longer than one 77-token block; StreamingT2V uses the first block, as upstream")
            self._truncation_logged = True
        return text[:, :wanted]


class StreamingT2VComfyModel(comfy.model_base.BaseModel):
    """comfy.model_base.BaseModel around a StreamingT2V (eps prediction, ModelScope schedule)."""

    def __init__(self, net: StreamingT2V, device: Optional[torch.device] = None) -> None:
        config = StreamingT2VModelConfig({"disable_unet_model_creation": True})
        super().__init__(config, comfy.model_base.ModelType.EPS, device=device)
        self.diffusion_model = StreamingT2VDenoiser(net)

    def extra_conds(self, **kwargs) -> dict:
        out = super().extra_conds(**kwargs)
        for key in (ANCHOR_KEY, COND_FRAMES_KEY):
            value = kwargs.get(key)
            if value is not None:
                out[key] = CONDPerVideo(value)
        return out


@dataclass
class StreamingT2VModel:
    """What flows along a STREAMINGT2V_MODEL link."""

    patcher: object  # comfy.model_patcher.ModelPatcher around a StreamingT2VComfyModel
    dtype: torch.dtype
    filename: str


def wrap_streaming_t2v(net: StreamingT2V):
    """A ComfyUI MODEL (ModelPatcher) whose diffusion model is `net`; ComfyUI places and offloads it."""
    return wrap_module(StreamingT2VComfyModel(net))


def is_streaming_t2v(patcher: object) -> bool:
    return isinstance(getattr(patcher, "model", None), StreamingT2VComfyModel)
