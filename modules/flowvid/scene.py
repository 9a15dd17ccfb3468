"""Scene-cut detection between consecutive frames, so FlowVid never warps one shot's first frame across a cut.

Two signals, each a score per consecutive pair (frame j−1 → j) compared with a threshold:
* "histogram": total-variation distance between the frames' per-channel colour histograms (0 = same colour
  distribution, 1 = disjoint), averaged over channels. Needs no flow; motion barely changes it, a new shot does.
  Default threshold 0.4; shots with very similar palettes can slip under it.
* "flow": fraction of pixels failing the forward–backward consistency check (either direction). Flow between
  unrelated images is inconsistent almost everywhere. Default threshold 0.5.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from .occlusion import consistency_occlusion

logger = logging.getLogger("FrameLoom.flowvid")


class SceneCutError(ValueError):
    """The clip spans a scene cut; FlowVid-style warping would smear one shot into the next."""


@dataclass(frozen=True)
class SceneCut:
    frame: int  # first frame of the new shot (index in the full video)
    score: float
    threshold: float
    method: str

    def describe(self) -> str:
        return (
            f"scene cut between frames {self.frame - 1} and {self.frame} "
            f"({self.method} score {self.score:.3f} > {self.threshold})"
        )


def histogram_distances(frames: torch.Tensor, bins: int = 32) -> torch.Tensor:
    """(N−1,) histogram distance of each consecutive pair of frames (N, C, H, W) with values in [0, 1]."""
    if frames.dim() != 4 or frames.shape[0] < 2:
        raise ValueError(f"frames must be (N >= 2, C, H, W) in [0, 1]; found shape {list(frames.shape)}")
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    n, c = frames.shape[:2]
    index = (frames.float().clamp(0, 1) * bins).long().clamp_max(bins - 1).reshape(n, c, -1)
    ones = torch.ones(index.shape, device=frames.device)
    counts = torch.zeros(n, c, bins, device=frames.device).scatter_add_(2, index, ones)
    hist = counts / index.shape[2]
    return 0.5 * (hist[1:] - hist[:-1]).abs().sum(dim=2).mean(dim=1)


def occlusion_fractions(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor) -> torch.Tensor:
    """(P,) share of inconsistent pixels for P consecutive pairs; flow_fwd[j] = F_j→j+1, flow_bwd[j] = F_j+1→j."""
    occ_fwd, occ_bwd = consistency_occlusion(flow_fwd, flow_bwd)
    return torch.maximum(occ_fwd.mean(dim=(1, 2)), occ_bwd.mean(dim=(1, 2)))


def _cuts(scores: torch.Tensor, threshold: float, first_index: int, method: str) -> list[SceneCut]:
    values = scores.tolist()
    cuts = [SceneCut(first_index + j + 1, s, threshold, method) for j, s in enumerate(values) if s > threshold]
    for cut in cuts:
        logger.info("%s", cut.describe())
    return cuts


def histogram_cuts(
    frames: torch.Tensor, threshold: float = 0.4, bins: int = 32, first_index: int = 0
) -> list[SceneCut]:
    """Scene cuts by colour histogram; `first_index` is the index of frames[0] in the full video."""
    return _cuts(histogram_distances(frames, bins), threshold, first_index, "histogram")


def flow_cuts(
    flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, threshold: float = 0.5, first_index: int = 0
) -> list[SceneCut]:
    """Scene cuts by flow consistency between consecutive frames."""
    return _cuts(occlusion_fractions(flow_fwd, flow_bwd), threshold, first_index, "flow")


def require_single_scene(cuts: Sequence[SceneCut]) -> None:
    """Raise SceneCutError naming the first cut, with what to do about it."""
    if cuts:
        first = cuts[0]
        more = f" (and {len(cuts) - 1} more)" if len(cuts) > 1 else ""
        raise SceneCutError(
            f"{first.describe()}{more}. FlowVid-style editing warps the first frame through the whole clip and would "
            f"smear it across the cut: split the video at frame {first.frame} and edit each shot separately, or raise "
            "the threshold if this is not a real cut."
        )
