"""Plumbing shared by every FrameLoom model family: safe checkpoint loading, layout reports, loop hooks, chunking."""
from .checkpoint import CheckpointError, LayoutReport, compare_layout, load_state_dict, strip_prefix
from .hooks import LoopHooks
from .chunks import chunk_ranges

__all__ = [
    "CheckpointError",
    "LayoutReport",
    "LoopHooks",
    "chunk_ranges",
    "compare_layout",
    "load_state_dict",
    "strip_prefix",
]
