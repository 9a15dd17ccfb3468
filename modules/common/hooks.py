"""Progress and cancellation hooks that model-side loops call without knowing about ComfyUI.

nodes/ builds a LoopHooks from comfy.utils.ProgressBar and
comfy.model_management.throw_exception_if_processing_interrupted; tests build one from plain callables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class LoopHooks:
    """`progress(done, total)` after each unit of work; `check_cancel()` raises to stop the loop."""

    progress: Optional[Callable[[int, int], None]] = None
    check_cancel: Optional[Callable[[], None]] = None

    def step(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def cancel_point(self) -> None:
        if self.check_cancel is not None:
            self.check_cancel()


NO_HOOKS = LoopHooks()
