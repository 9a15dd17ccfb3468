"""Fairy-style instruction video editing in ComfyUI: the anchor-attention MODEL patch, the edit loop and its node."""
from .node import NODES
from .patch import apply_anchor_attention
from .sampling import EditPlan, FairyEditOptions, edit_video, plan_edit

__all__ = ["NODES", "EditPlan", "FairyEditOptions", "apply_anchor_attention", "edit_video", "plan_edit"]
