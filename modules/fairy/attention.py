"""Fairy's anchor-based cross-frame attention as pure functions.

Layout everywhere: (batch, heads, tokens, dim_head); anchor tensors are (K, heads, tokens, dim_head), one row per
anchor frame. Projections stay with the caller (the UNet's own attention layer); only the attention itself
changes, so any exact kernel may be used, and PyTorch SDPA is.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_layout(name: str, t: torch.Tensor, like: torch.Tensor | None = None) -> None:
    if t.dim() != 4:
        raise ValueError(f"{name} must be (batch, heads, tokens, dim_head); found shape {list(t.shape)}")
    if like is not None and (t.shape[1] != like.shape[1] or t.shape[3] != like.shape[3]):
        raise ValueError(
            f"{name} must have the same heads and dim_head as q: expected (·, {like.shape[1]}, ·, {like.shape[3]}), "
            f"found {list(t.shape)}"
        )


def _check_pair(k_name: str, k: torch.Tensor, v_name: str, v: torch.Tensor, q: torch.Tensor) -> None:
    _check_layout(k_name, k, q)
    _check_layout(v_name, v, q)
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(
            f"{k_name} and {v_name} must share (batch, heads, tokens); found {list(k.shape)} and {list(v.shape)}"
        )


def flatten_anchors(x: torch.Tensor) -> torch.Tensor:
    """(K, heads, tokens, d) -> (1, heads, K·tokens, d): all anchors' tokens in anchor order along one axis."""
    _check_layout("anchor tensor", x)
    k, heads, tokens, dim = x.shape
    return x.permute(1, 0, 2, 3).reshape(1, heads, k * tokens, dim)


def anchor_pass_attention(q_a: torch.Tensor, k_a: torch.Tensor, v_a: torch.Tensor) -> torch.Tensor:
    """Each anchor's query attends to the keys/values of all K anchors (itself included).

    softmax(q_a·[k_1..k_K]ᵀ/√d)·[v_1..v_K]; inputs and output are (K, heads, tokens, d).
    """
    _check_layout("q_a", q_a)
    _check_pair("k_a", k_a, "v_a", v_a, q_a)
    if k_a.shape[0] != q_a.shape[0]:
        raise ValueError(f"q_a and k_a must hold the same anchors: found {q_a.shape[0]} and {k_a.shape[0]} rows")
    num = q_a.shape[0]
    keys = flatten_anchors(k_a).expand(num, -1, -1, -1)
    values = flatten_anchors(v_a).expand(num, -1, -1, -1)
    return F.scaled_dot_product_attention(q_a, keys, values)


def frame_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_anchor: torch.Tensor, v_anchor: torch.Tensor
) -> torch.Tensor:
    """A non-anchor frame attends to its own tokens and all anchors' tokens.

    softmax(q·[k, k_anc]ᵀ/√d)·[v, v_anc]. q, k, v: (B, heads, tokens, d); k_anchor, v_anchor: (K, heads, tokens_a, d)
    (cached from the anchor pass), shared by every frame of the batch. Output: (B, heads, tokens, d).
    """
    _check_layout("q", q)
    _check_pair("k", k, "v", v, q)
    _check_pair("k_anchor", k_anchor, "v_anchor", v_anchor, q)
    if k.shape[0] != q.shape[0]:
        raise ValueError(f"q and k must have the same batch size; found {q.shape[0]} and {k.shape[0]}")
    batch = q.shape[0]
    k_anc = flatten_anchors(k_anchor).to(device=k.device, dtype=k.dtype).expand(batch, -1, -1, -1)
    v_anc = flatten_anchors(v_anchor).to(device=v.device, dtype=v.dtype).expand(batch, -1, -1, -1)
    return F.scaled_dot_product_attention(q, torch.cat([k, k_anc], dim=2), torch.cat([v, v_anc], dim=2))
