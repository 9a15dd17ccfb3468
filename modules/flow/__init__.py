"""Optical flow for FlowVid-style editing: DIS (OpenCV, no weights) and RAFT-large (our PyTorch, official weights).

Flow tensors are (N, 2, H, W) in pixels, channel 0 = dx (columns), channel 1 = dy (rows). An estimator's
F_a→b places pixel p of a at p + F(p) in b, so warping b backward with it (modules.flowvid.warp_backward)
reproduces a: the forward flow F₁→ᵢ = estimate(frame 1, frame i), the backward flow Fᵢ→₁ = estimate(frame i, frame 1).
"""
from .dis import DIS_PRESETS, DisFlow, dis_flow, require_cv2, to_gray_uint8
from .frames import MIN_SIZE, check_frames
from .loading import KNOWN_FILES, MODEL_FOLDER_HINT, detect_layout, load_raft, load_raft_file, our_layout, to_our_names
from .metrics import end_point_error, epe_map
from .pairs import FlowEstimator, VideoFlow, flow_pairs
from .raft import DEFAULT_ITERS, RAFT, RAFT_MIN_SIZE, RaftFlow, pad_to_multiple, raft_flow
from .raft_layouts import LAYOUTS, official_layout, random_official_state, rename_key
from .synthetic import Occluder, SyntheticClip, synthetic_clip
from .visualize import colour_wheel, flow_to_rgb

__all__ = [
    "DEFAULT_ITERS",
    "DIS_PRESETS",
    "DisFlow",
    "FlowEstimator",
    "KNOWN_FILES",
    "LAYOUTS",
    "MIN_SIZE",
    "MODEL_FOLDER_HINT",
    "Occluder",
    "RAFT",
    "RAFT_MIN_SIZE",
    "RaftFlow",
    "SyntheticClip",
    "VideoFlow",
    "check_frames",
    "colour_wheel",
    "detect_layout",
    "dis_flow",
    "end_point_error",
    "epe_map",
    "flow_pairs",
    "flow_to_rgb",
    "load_raft",
    "load_raft_file",
    "official_layout",
    "our_layout",
    "pad_to_multiple",
    "raft_flow",
    "random_official_state",
    "rename_key",
    "require_cv2",
    "synthetic_clip",
    "to_gray_uint8",
    "to_our_names",
]
