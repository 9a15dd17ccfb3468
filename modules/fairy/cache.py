"""Anchor K/V kept from Fairy's anchor pass for every frame pass that follows.

One entry per (self-attention layer, sampling step, CFG branch): the frame passes run the same sampler with the
same steps, so each of their attention calls finds exactly the anchors' K/V of the matching call in the anchor
pass. For SD1.5 at 512×384 with 3 anchors, 2 branches and 10 steps this is about 1 G values, hence the option to
park entries on the CPU (and in a smaller dtype) between uses.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Hashable, Optional, Union

import torch

logger = logging.getLogger("FrameLoom.fairy")

Branch = Union[int, str]
# ComfyUI's `cond_or_uncond` uses 0 for the conditional and 1 for the unconditional half of a CFG batch.
_BRANCH_NAMES = {0: "cond", 1: "uncond", "cond": "cond", "uncond": "uncond"}


def _branch_name(branch: Branch) -> str:
    """0/'cond' and 1/'uncond' as KSampler uses them; guiders with more conditionings (dual CFG) use 2, 3, ..."""
    if isinstance(branch, bool):  # True == 1 would otherwise pass as 'uncond'
        raise ValueError(f"CFG branch must be 0/'cond', 1/'uncond' or another non-negative index, got {branch!r}")
    if isinstance(branch, (int, str)) and branch in _BRANCH_NAMES:
        return _BRANCH_NAMES[branch]
    if isinstance(branch, int) and branch >= 0:
        return f"branch{branch}"
    raise ValueError(f"CFG branch must be 0/'cond', 1/'uncond' or another non-negative index, got {branch!r}")


class AnchorCacheMiss(LookupError):
    """A frame pass asked for anchor K/V that the anchor pass did not store."""


@dataclass(frozen=True)
class CacheKey:
    layer: Hashable
    step: int
    branch: str

    def __str__(self) -> str:
        return f"layer {self.layer!r}, step {self.step}, branch {self.branch}"


class AnchorCache:
    """Anchor keys and values, (K, heads, tokens, dim_head) each, keyed by (layer, step, branch).

    offload=True keeps entries on the CPU and moves them to the caller's device on `get`; `storage_dtype`
    (e.g. torch.float16) halves memory at the price of rounding the cached K/V.
    """

    def __init__(self, offload: bool = False, storage_dtype: Optional[torch.dtype] = None) -> None:
        self.offload = offload
        self.storage_dtype = storage_dtype
        self._entries: dict[CacheKey, tuple[torch.Tensor, torch.Tensor]] = {}

    def put(self, layer: Hashable, step: int, branch: Branch, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store the anchors' K/V of one attention call of the anchor pass (overwrites a previous entry)."""
        if k.dim() != 4 or k.shape != v.shape:
            raise ValueError(
                f"anchor K and V must both be (K, heads, tokens, dim_head) of the same shape; found {list(k.shape)} "
                f"and {list(v.shape)}"
            )
        key = CacheKey(layer, int(step), _branch_name(branch))
        self._entries[key] = (self._stored(k), self._stored(v))

    def get(
        self, layer: Hashable, step: int, branch: Branch, device: Optional[torch.device] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The anchors' (K, V) for one attention call of a frame pass, on `device` if given."""
        key = CacheKey(layer, int(step), _branch_name(branch))
        entry = self._entries.get(key)
        if entry is None:
            raise AnchorCacheMiss(self._missing_message(key))
        k, v = entry
        if device is not None:
            k, v = k.to(device), v.to(device)
        return k, v

    def __contains__(self, key: tuple[Hashable, int, Branch]) -> bool:
        layer, step, branch = key
        return CacheKey(layer, int(step), _branch_name(branch)) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Memory held by all cached tensors, in bytes."""
        return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self._entries.values())

    def clear(self) -> None:
        if self._entries:
            logger.debug("anchor cache cleared: %d entries, %.1f MiB", len(self._entries), self.nbytes / 2**20)
        self._entries.clear()

    def _stored(self, t: torch.Tensor) -> torch.Tensor:
        device = torch.device("cpu") if self.offload else t.device
        # Always a copy, so that later in-place work on the caller's buffers cannot change the cache.
        return t.detach().to(device=device, dtype=self.storage_dtype or t.dtype, copy=True)

    def _missing_message(self, key: CacheKey) -> str:
        if not self._entries:
            return f"anchor cache is empty but the frame pass asked for {key}: run the anchor pass first"
        layers = {e.layer for e in self._entries}
        steps = sorted({e.step for e in self._entries})
        branches = sorted({e.branch for e in self._entries})
        if key.layer not in layers:
            hint = f"the anchor pass never reached layer {key.layer!r} ({len(layers)} layers cached)"
        elif key.step not in steps:
            hint = f"the anchor pass filled steps {steps[0]}..{steps[-1]} only; use the same sampler and step count"
        elif key.branch not in branches:
            hint = f"the anchor pass filled branches {branches} only; run it with the same CFG setting"
        else:
            hint = "the anchor pass never made this call; frame and anchor passes must use the same model patches"
        return f"no anchor K/V for {key}: {hint}"
