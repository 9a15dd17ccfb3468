"""Flow accuracy: end-point error (EPE), the per-pixel Euclidean distance between an estimate and the truth."""
from __future__ import annotations

from typing import Optional

import torch

from ..flowvid.warp import check_flow


def epe_map(flow: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(N, H, W) end-point error in pixels of `flow` against `truth`, both (N, 2, H, W)."""
    check_flow(flow, "flow")
    check_flow(truth, "truth")
    if flow.shape != truth.shape:
        raise ValueError(f"flow and truth must have the same shape; found {list(flow.shape)} and {list(truth.shape)}")
    return torch.linalg.vector_norm(flow.float() - truth.float(), dim=1)


def end_point_error(flow: torch.Tensor, truth: torch.Tensor, valid: Optional[torch.Tensor] = None) -> float:
    """Mean EPE in pixels, over the pixels where `valid` (N, H, W) is nonzero, or over all pixels."""
    errors = epe_map(flow, truth)
    if valid is None:
        return float(errors.mean())
    if valid.shape != errors.shape:
        raise ValueError(f"valid must be (N, H, W) = {list(errors.shape)}; found {list(valid.shape)}")
    keep = valid.bool()
    if not keep.any():
        raise ValueError("valid marks no pixel; the end-point error of an empty set is undefined")
    return float(errors[keep].mean())
