"""LoopHooks backed by ComfyUI: the node's progress bar and the Cancel button."""
from __future__ import annotations

import comfy.model_management
import comfy.utils

from ..modules.common import LoopHooks


def comfy_hooks(total: int) -> LoopHooks:
    """Hooks whose progress() drives a ComfyUI progress bar of `total` units and whose cancel_point() honours Cancel."""
    bar = comfy.utils.ProgressBar(total)
    return LoopHooks(
        progress=lambda done, n: bar.update_absolute(done, n),
        check_cancel=comfy.model_management.throw_exception_if_processing_interrupted,
    )
