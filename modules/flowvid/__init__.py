"""FlowVid-style editing (arXiv 2312.17681): flow warping, occlusion, gray fill, latent mask, colour calibration,
keyframe schedule and scene-cut guard. FlowVid released no code; these follow the paper and UniMatch's geometry.
Optical-flow estimation lives elsewhere."""
from .color import calibrate_colors
from .conditions import WarpCondition, warp_condition
from .gaps import Interpolator, fill_gaps
from .hints import canny_hint
from .keyframes import InterpolationGap, interpolation_gaps, keyframe_batches, keyframe_indices
from .occlusion import LATENT_MODES, consistency_occlusion, gray_fill, mask_to_latent
from .scene import (
    SceneCut,
    SceneCutError,
    flow_cuts,
    histogram_cuts,
    histogram_distances,
    occlusion_fractions,
    require_single_scene,
)
from .strength import open_pixels, remaining_share, strength_mask
from .warp import inbounds_mask, warp_backward

__all__ = [
    "InterpolationGap",
    "Interpolator",
    "LATENT_MODES",
    "SceneCut",
    "SceneCutError",
    "WarpCondition",
    "calibrate_colors",
    "canny_hint",
    "consistency_occlusion",
    "fill_gaps",
    "flow_cuts",
    "gray_fill",
    "histogram_cuts",
    "histogram_distances",
    "inbounds_mask",
    "interpolation_gaps",
    "keyframe_batches",
    "keyframe_indices",
    "mask_to_latent",
    "occlusion_fractions",
    "open_pixels",
    "remaining_share",
    "require_single_scene",
    "strength_mask",
    "warp_backward",
]
