"""RIFE v4.x IFNet (Practical-RIFE) in plain PyTorch: version table, loader, pair and video interpolation.

Supports the ten layouts of rife_v4_ifnet_keys.json and their aliases; see config.py for the per-version table.
"""
from .config import ALIASES, ALL_VERSIONS, SUPPORTED_VERSIONS, RifeConfig, get_config
from .ifnet import IFNet, IFNetOutput
from .loader import (
    detect_version,
    expected_layout,
    load_ifnet,
    load_ifnet_file,
    normalize_state_dict,
    parse_version_hint,
)
from .pair import SUPPORTED_SCALES, interpolate_pair, interpolate_pair_detailed, pad_multiple
from .scene import detect_scene_cuts, scene_scores
from .video import interpolate_video

__all__ = [
    "ALIASES",
    "ALL_VERSIONS",
    "IFNet",
    "IFNetOutput",
    "RifeConfig",
    "SUPPORTED_SCALES",
    "SUPPORTED_VERSIONS",
    "detect_scene_cuts",
    "detect_version",
    "expected_layout",
    "get_config",
    "interpolate_pair",
    "interpolate_pair_detailed",
    "interpolate_video",
    "load_ifnet",
    "load_ifnet_file",
    "normalize_state_dict",
    "pad_multiple",
    "parse_version_hint",
    "scene_scores",
]
