"""Interpolating one frame pair (or a batch of pairs): validation, padding, dtype handling, cropping."""
from __future__ import annotations

import math
from typing import Union

import torch
import torch.nn.functional as F

from .ifnet import IFNet, IFNetOutput

Timestep = Union[float, torch.Tensor]

# Scales at which the coarse-to-fine sizes stay consistent (the same set vs-rife and the official --scale allow).
SUPPORTED_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def pad_multiple(net: IFNet, scale: float) -> int:
    """Input sizes must be a multiple of max(m, m/scale), m being the version's modulo at scale 1."""
    modulo = net.config.pad_modulo
    return max(modulo, int(math.ceil(modulo / scale)))


def _check_frames(img0: torch.Tensor, img1: torch.Tensor) -> None:
    for name, img in (("img0", img0), ("img1", img1)):
        if not isinstance(img, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor [N,3,H,W], got {type(img).__name__}")
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"{name} must be an NCHW RGB tensor [N,3,H,W], got shape {list(img.shape)}")
        if not img.is_floating_point():
            raise ValueError(f"{name} must be a float tensor with values in 0..1, got {img.dtype}")
    if img0.shape != img1.shape:
        raise ValueError(f"img0 and img1 must have the same shape, got {list(img0.shape)} and {list(img1.shape)}")


def _timestep_plane(timestep: Timestep, like: torch.Tensor) -> torch.Tensor:
    n, _, h, w = like.shape
    if isinstance(timestep, torch.Tensor):
        values = timestep.reshape(-1).to(device=like.device, dtype=like.dtype)
        if values.numel() not in (1, n):
            raise ValueError(f"timestep must be a float or a tensor of {n} values (one per sample), "
                             f"got {values.numel()} values")
        return values.view(-1, 1, 1, 1).expand(n, 1, h, w)
    return torch.full((n, 1, h, w), float(timestep), device=like.device, dtype=like.dtype)


def _net_dtype_device(net: IFNet) -> tuple[torch.dtype, torch.device]:
    param = next(net.parameters())
    return param.dtype, param.device


def interpolate_pair_detailed(
    net: IFNet, img0: torch.Tensor, img1: torch.Tensor, timestep: Timestep, scale: float = 1.0, ensemble: bool = False
) -> IFNetOutput:
    """interpolate_pair that also returns the final flow and mask logits (all cropped, in the inputs' dtype)."""
    _check_frames(img0, img1)
    if scale not in SUPPORTED_SCALES:
        raise ValueError(f"scale must be one of {SUPPORTED_SCALES}, got {scale}")
    cfg = net.config
    if ensemble and not cfg.ensemble:
        raise ValueError(
            f"ensemble is not supported by RIFE {cfg.version}: the official code dropped it from 4.21 on "
            "(it silently degrades the output there). Turn ensemble off for this model."
        )
    out_dtype = img0.dtype
    dtype, device = _net_dtype_device(net)
    height, width = img0.shape[2], img0.shape[3]
    multiple = pad_multiple(net, scale)
    pad_h, pad_w = (-height) % multiple, (-width) % multiple

    def prepare(img: torch.Tensor) -> torch.Tensor:
        # Inputs are clamped as the official wrappers do; padding is zeros at the right and bottom.
        img = img.to(device=device, dtype=dtype).clamp(0.0, 1.0)
        return F.pad(img, (0, pad_w, 0, pad_h)) if pad_h or pad_w else img

    x0, x1 = prepare(img0), prepare(img1)
    plane = _timestep_plane(timestep, x0)
    # no_grad rather than inference_mode: callers may still modify the returned tensors in place.
    with torch.no_grad():
        result = net(x0, x1, plane, cfg.scale_list(scale), ensemble)
    return IFNetOutput(*(t[:, :, :height, :width].to(out_dtype) for t in result))


def interpolate_pair(
    net: IFNet, img0: torch.Tensor, img1: torch.Tensor, timestep: Timestep, scale: float = 1.0, ensemble: bool = False
) -> torch.Tensor:
    """The frame at `timestep` between img0 and img1 (NCHW, 0..1), unclamped like the official merged[-1].

    timestep: a float, or a tensor with one value per sample. Any size works: inputs are padded to the version's
    modulo and the result cropped back. The net may be in fp16/bf16; inputs are cast to its dtype and the result
    back to the inputs' dtype, while warping always runs in fp32.
    """
    return interpolate_pair_detailed(net, img0, img1, timestep, scale, ensemble).frame
