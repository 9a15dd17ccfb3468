"""FancyVideo's fps and motion-score conditioning: scalars embedded like the timestep and added to the time embedding.

emb += SiLU(Linear(sinusoid(fps))) and emb += SiLU(Linear(sinusoid(motion_score))), each only when its value is given
(the T2V first-frame image passes neither). The sinusoid is the timestep projection of the UNet: cos half first
(flip_sin_to_cos), no frequency shift, max period 10000, width = the UNet's base channel count (320 for SD1.5).
"""
from __future__ import annotations

import logging
import math
from types import ModuleType
from typing import Any

import torch
from torch import nn

logger = logging.getLogger("FrameLoom.fancyvideo")

MAX_PERIOD = 10000.0


def sinusoidal_embedding(values: torch.Tensor, dim: int) -> torch.Tensor:
    """[N] scalars -> [N, dim] float32 features: cos(v*f_k) then sin(v*f_k), f_k = MAX_PERIOD^(-k/(dim/2))."""
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D tensor of scalars, got shape {tuple(values.shape)}")
    half = dim // 2
    exponent = -math.log(MAX_PERIOD) * torch.arange(half, dtype=torch.float32, device=values.device) / half
    args = values.float()[:, None] * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = nn.functional.pad(emb, (0, 1))
    return emb


class CondEmbedding(nn.Module):
    """SiLU(Linear(x)); official name `<fps|motion>_embedding.linear`."""

    def __init__(self, in_features: int, out_features: int, ops: ModuleType | Any = nn, **factory: Any) -> None:
        super().__init__()
        self.linear = ops.Linear(in_features, out_features, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.silu(self.linear(x))


def cond_term(module: CondEmbedding, value: float, emb: torch.Tensor) -> torch.Tensor:
    """The term `module` adds to the time embedding `emb` [N, D] for one scalar, broadcast over the N rows."""
    scalars = torch.full((emb.shape[0],), float(value), dtype=torch.float32, device=emb.device)
    return module(sinusoidal_embedding(scalars, module.linear.in_features).to(emb.dtype))
