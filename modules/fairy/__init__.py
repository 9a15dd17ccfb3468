"""Fairy-style video editing (arXiv 2312.13834): anchor-based cross-frame attention, its K/V cache, anchor
choice, batch-independent noise and multi-worker splitting. Fairy released no code; these follow the paper."""
from .anchors import ANCHOR_RULES, anchor_indices
from .attention import anchor_pass_attention, flatten_anchors, frame_attention
from .cache import AnchorCache, AnchorCacheMiss
from .noise import frame_seed, per_frame_noise, step_noise_sampler
from .ranges import RangeJob, plan_ranges, split_ranges

__all__ = [
    "ANCHOR_RULES",
    "AnchorCache",
    "AnchorCacheMiss",
    "RangeJob",
    "anchor_indices",
    "anchor_pass_attention",
    "flatten_anchors",
    "frame_attention",
    "frame_seed",
    "per_frame_noise",
    "plan_ranges",
    "split_ranges",
    "step_noise_sampler",
]
