"""CVVAE: FancyVideo's 3-D causal VAE with the official temporal chunking and spatial tiling."""
from __future__ import annotations

from typing import Callable, Mapping, Optional

import torch
from torch import nn

from ...common import LoopHooks
from .config import CVVAEConfig, TileGrid
from .decoder import Decoder
from .encoder import Encoder
from .frames import check_spatial_size, frames_for_latents, latent_frames_for, warn_if_inexact
from .loading import build_from_state_dict
from .tiling import TileFn, temporal_chunks, run_tiled

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


class CVVAE(nn.Module):
    """Encoder + decoder with the official state-dict names (`encoder.*`, `decoder.*`; no quant convs).

    Inputs stay on their own device (e.g. a whole video on the CPU); each tile is moved to the module's device and dtype
    only while it is processed, and results are written into one output on the input's device, in the input's dtype.
    `scaling_factor` is never applied here: multiply encode() results by it, divide latents by it before decode().
    """

    def __init__(self, config: Optional[CVVAEConfig] = None) -> None:
        super().__init__()
        self.config = config if config is not None else CVVAEConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], config: Optional[CVVAEConfig] = None, *,
                        device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> "CVVAE":
        """Build a CVVAE from an official state dict, inferring ch / ch_mult / num_res_blocks when `config` is None.

        The layout is checked strictly; anything else raises CheckpointError with a report of what the file looks like.
        """
        return build_from_state_dict(cls, state, config, device=torch.device(device), dtype=dtype)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    # --- frame arithmetic ---------------------------------------------------------------------------------------------
    def latent_frames_for(self, num_frames: int) -> int:
        return latent_frames_for(num_frames, self.config.time_n_compress)

    def frames_for_latents(self, num_latents: int) -> int:
        return frames_for_latents(num_latents, self.config.time_n_compress)

    # --- public encode / decode ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_moments(self, video: torch.Tensor, hooks: Optional[LoopHooks] = None) -> torch.Tensor:
        """Video [B,3,T,H,W] in [-1,1] -> moments [B,8,L,H/8,W/8]: channels 0-3 the posterior mean, 4-7 the
        log-variance before clamping. L = 1 + (T-1)//4; trailing frames of an incomplete group are not encoded."""
        cfg = self.config
        _check_5d(video, cfg.in_channels, "video", "[B,3,T,H,W]")
        b, _, t, h, w = video.shape
        check_spatial_size(h, w, cfg.spatial_n_compress)
        warn_if_inexact(t, cfg.time_n_compress)
        s = cfg.spatial_n_compress
        out = video.new_empty((b, 2 * cfg.z_channels, self.latent_frames_for(t), h // s, w // s))
        self._run(self.encoder, video, out, self.latent_frames_for, cfg.en_de_n_frames_a_time, cfg.decode_latents_a_time,
                  cfg.encode_tiles(), hooks)
        return out

    @torch.no_grad()
    def encode(self, video: torch.Tensor, sample: bool = False, generator: Optional[torch.Generator] = None,
               hooks: Optional[LoopHooks] = None) -> torch.Tensor:
        """Latent [B,4,L,H/8,W/8] in VAE space (multiply by config.scaling_factor for the UNet).

        sample=False returns the posterior mean (deterministic; FrameLoom's default). sample=True returns
        mean + exp(0.5·clamp(logvar,-30,20))·eps with eps from `generator` (seeded and reproducible), unlike the official
        pipeline, which draws eps from torch's unseeded global RNG.
        """
        moments = self.encode_moments(video, hooks=hooks)
        mean, logvar = moments.chunk(2, dim=1)
        if not sample:
            return mean.contiguous()
        std = torch.exp(0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))
        noise_device = generator.device if generator is not None else mean.device
        eps = torch.randn(mean.shape, generator=generator, device=noise_device, dtype=mean.dtype).to(mean.device)
        return mean + std * eps

    @torch.no_grad()
    def decode(self, z: torch.Tensor, hooks: Optional[LoopHooks] = None) -> torch.Tensor:
        """VAE-space latent [B,4,L,h,w] (UNet latents / scaling_factor) -> raw video [B,3,4L-3,8h,8w], before the
        (x/2+0.5).clamp(0,1) that turns it into images."""
        cfg = self.config
        _check_5d(z, cfg.z_channels, "latent", "[B,4,L,h,w]")
        b, _, n, h, w = z.shape
        s = cfg.spatial_n_compress
        out = z.new_empty((b, cfg.out_ch, self.frames_for_latents(n), h * s, w * s))
        self._run(self.decoder, z, out, self.frames_for_latents, cfg.decode_latents_a_time, cfg.en_de_n_frames_a_time,
                  cfg.decode_tiles(), hooks)
        return out

    def _run(self, fn: TileFn, x: torch.Tensor, out: torch.Tensor, out_len: Callable[[int], int], stride: Optional[int],
             out_stride: Optional[int], grid: Optional[TileGrid], hooks: Optional[LoopHooks]) -> None:
        """Temporal chunk loop around the spatial tiler; `out_len(n)` = output frames of an n-frame chunk."""
        hooks = hooks if hooks is not None else LoopHooks()
        chunks = temporal_chunks(x.shape[2], stride, out_stride, out_len)
        device, dtype = self.device, self.dtype
        for done, chunk in enumerate(chunks, start=1):
            hooks.cancel_point()
            frames = out_len(chunk.end - chunk.start) - chunk.skip
            run_tiled(fn, x[:, :, chunk.start:chunk.end], out[:, :, chunk.dst:chunk.dst + frames], grid, chunk.skip,
                      device, dtype)
            hooks.step(done, len(chunks))


def _check_5d(x: torch.Tensor, channels: int, what: str, layout: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 5 or x.shape[1] != channels or 0 in x.shape:
        found = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        hint = " (a single image is a 1-frame video: add the time axis with .unsqueeze(2))" if (
            isinstance(x, torch.Tensor) and x.dim() == 4) else ""
        raise ValueError(f"CV-VAE expects a {what} {layout} with {channels} channels, got {found}{hint}")
    if not x.is_floating_point():
        raise ValueError(f"CV-VAE expects a floating-point {what}, got {x.dtype}")
