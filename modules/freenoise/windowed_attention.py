"""FreeNoise fused inside each temporal self-attention (the official VideoCrafter span), batched over all windows.

For a motion block's attention x = to_out(attn(q, k, v)) + x on h = norm(x) + pe, with the PE restarting at 0 in every
window, the projections are affine, so for a window's frames f and positions p = 0..w-1

    q_window = Wq (h[f] + pe[p]) = (Wq h)[f] + (Wq pe)[p]        (same for k and v)

h is projected once for all frames and the PE table once (w rows); only the w x w attention itself runs per window.
The per-window attention outputs (before to_out) are fused with the window weights and to_out is applied once, as
the official code does (value / count, then to_out). With F <= context_length this is the plain attention.

All windows go through one scaled_dot_product_attention call as a batch [N * windows, heads, w, d], chunked over
windows so that no gathered tensor is larger than the input (cache-sized on the CPU); the weighted outputs are scatter-added per frame.
"""
from __future__ import annotations

import logging

import torch
from torch.nn import functional as F

from ..fancyvideo.motion_module import TemporalSelfAttention, TemporalTransformerBlock
from .fusion import WindowPlan, default_gather_budget, window_plan, windows_per_chunk

logger = logging.getLogger("FrameLoom.freenoise")


def projected_positions(projection: torch.nn.Module, pe: torch.Tensor) -> torch.Tensor:
    """The linear part of `projection` applied to the PE rows pe [1, w, C]: proj(pe) - proj(0).

    Subtracting proj(0) drops a bias if a projection has one, so adding the result to proj(h) equals proj(h + pe)."""
    rows = projection(torch.cat([pe.new_zeros(1, 1, pe.shape[-1]), pe], dim=1))
    return rows[:, 1:] - rows[:, :1]


def windowed_self_attention(
    attention: TemporalSelfAttention, h: torch.Tensor, plan: WindowPlan, gather_budget: int | None = None
) -> torch.Tensor:
    """attention(h) with window fusion inside it: h [N, F, C] (already normed, no PE) -> [N, F, C] after to_out."""
    batch, frames, channels = h.shape
    length, heads = plan.length, attention.heads
    if length > attention.pos_encoder.max_len:
        raise ValueError(
            f"windows of {length} frames exceed the motion module's positional table of "
            f"{attention.pos_encoder.max_len}; use a context_length of at most {attention.pos_encoder.max_len}"
        )
    pe = attention.pos_encoder.pe[:, :length].to(device=h.device, dtype=h.dtype)
    projections = (attention.to_q, attention.to_k, attention.to_v)
    full = [proj(h) for proj in projections]  # [N, F, C] each, every frame projected once
    offsets = [projected_positions(proj, pe) for proj in projections]  # [1, w, C]: the PE at window positions 0..w-1

    per_chunk = windows_per_chunk(plan, batch * channels, gather_budget or default_gather_budget(h))
    acc = torch.zeros(batch, frames, channels, dtype=torch.promote_types(h.dtype, torch.float32), device=h.device)
    for first, count in plan.chunks(per_chunk):
        # [N, count, w, C] + PE -> [N * count, heads, w, d]
        q, k, v = (
            plan.gather(t, first, count, offset).reshape(batch * count, length, heads, channels // heads).transpose(1, 2)
            for t, offset in zip(full, offsets)
        )
        out = F.scaled_dot_product_attention(q, k, v)
        plan.scatter(acc, out.transpose(1, 2).reshape(batch, count, length, channels), first)
    return attention.to_out[0](plan.normalize(acc).to(h.dtype))


def attend_fused_attentions(
    block: TemporalTransformerBlock,
    x: torch.Tensor,
    *,
    context_length: int = 16,
    stride: int = 4,
    weighting: str = "pyramid",
    tail_rule: str = "normalized",
    gather_budget: int | None = None,
) -> torch.Tensor:
    """block.attend(x) for x [N, F, C] with every temporal self-attention fused over context windows on its own.

    The residual and norm structure stays block.attend's: x = attention(norm(x)) + x for each attention in turn, so
    the second attention sees the first one's fused output on all frames. tail_rule: see fuse_windows.
    """
    if x.dim() != 3:
        raise ValueError(f"expected hidden states [batch*height*width, frames, channels], got shape {tuple(x.shape)}")
    frames = x.shape[1]
    if frames <= context_length:
        return block.attend(x)
    plan = window_plan(frames, context_length, stride, weighting, tail_rule)
    logger.debug("attention-fused %d frames in %d windows", frames, plan.num_windows)
    for attention, norm in zip(block.attention_blocks, block.norms):
        x = windowed_self_attention(attention, norm(x), plan, gather_budget) + x
    return x
