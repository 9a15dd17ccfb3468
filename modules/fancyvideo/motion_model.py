"""All of FancyVideo's trained additions to SD1.5 except conv_in, in one module under the official state-dict names.

`down_blocks.<i>.motion_modules.<j>`, `mid_block.motion_modules.0`, `up_blocks.<i>.motion_modules.<j>` plus the optional
`fps_embedding` / `motion_embedding`. The UNet patch looks modules up by name; the weights load with strict=True.
"""
from __future__ import annotations

import logging
from types import ModuleType
from typing import Any, Mapping, Optional

import torch
from torch import nn

from .embeddings import CondEmbedding, cond_term
from .keymap import motion_module_sort_key
from .motion_module import DEFAULT_HEADS, DEFAULT_MAX_LEN, DEFAULT_NORM_GROUPS, MotionModule

logger = logging.getLogger("FrameLoom.fancyvideo")


class _Block(nn.Module):
    def __init__(self, modules: list[MotionModule]) -> None:
        super().__init__()
        self.motion_modules = nn.ModuleList(modules)


class FancyVideoMotionModel(nn.Module):
    def __init__(
        self,
        layout: Mapping[str, int],
        *,
        embedding_dims: Optional[tuple[int, int]] = None,
        with_fps: bool = True,
        with_motion: bool = True,
        heads: int = DEFAULT_HEADS,
        norm_groups: int = DEFAULT_NORM_GROUPS,
        max_len: int = DEFAULT_MAX_LEN,
        ops: ModuleType | Any = nn,
        **factory: Any,
    ) -> None:
        """layout: {'down_blocks.0.motion_modules.0': channels, ...}; embedding_dims: (sinusoid width, time-embedding
        width), needed when either embedding is built."""
        super().__init__()
        kwargs = dict(heads=heads, norm_groups=norm_groups, max_len=max_len, ops=ops, **factory)
        per_block: dict[tuple[str, int], dict[int, int]] = {}
        for name, channels in layout.items():
            kind, block, layer = self._parse(name)
            per_block.setdefault((kind, block), {})[layer] = channels

        def block(kind: str, index: int) -> _Block:
            layers = per_block.get((kind, index), {})
            if sorted(layers) != list(range(len(layers))):
                raise ValueError(f"{kind}.{index} has motion modules {sorted(layers)}; expected 0..{len(layers) - 1}")
            return _Block([MotionModule(layers[i], **kwargs) for i in range(len(layers))])

        def blocks(kind: str) -> nn.ModuleList:
            count = 1 + max((b for k, b in per_block if k == kind), default=-1)
            return nn.ModuleList([block(kind, i) for i in range(count)])

        self.down_blocks = blocks("down_blocks")
        self.mid_block = block("mid_block", 0)
        self.up_blocks = blocks("up_blocks")
        self.module_names = sorted(layout, key=motion_module_sort_key)

        if (with_fps or with_motion) and embedding_dims is None:
            raise ValueError("embedding_dims (sinusoid width, time-embedding width) are needed for the fps/motion embeddings")
        proj_dim, embed_dim = embedding_dims or (0, 0)
        self.fps_embedding = CondEmbedding(proj_dim, embed_dim, ops, **factory) if with_fps else None
        self.motion_embedding = CondEmbedding(proj_dim, embed_dim, ops, **factory) if with_motion else None

    @staticmethod
    def _parse(name: str) -> tuple[str, int, int]:
        parts = name.split(".")
        if parts[0] == "mid_block" and len(parts) == 3 and parts[1] == "motion_modules":
            return "mid_block", 0, int(parts[2])
        if parts[0] in ("down_blocks", "up_blocks") and len(parts) == 4 and parts[2] == "motion_modules":
            return parts[0], int(parts[1]), int(parts[3])
        raise ValueError(f"'{name}' is not a motion-module name like 'down_blocks.0.motion_modules.1'")

    def motion_module(self, name: str) -> MotionModule:
        if name not in self.module_names:
            raise KeyError(f"no motion module '{name}' in these FancyVideo weights")
        return self.get_submodule(name)

    def add_conditions(
        self, emb: torch.Tensor, fps: Optional[float] = None, motion_score: Optional[float] = None
    ) -> torch.Tensor:
        """emb [N, D] plus the fps term, then the motion term (the official order); a None value adds nothing."""
        if fps is not None:
            if self.fps_embedding is None:
                raise ValueError("an fps value was given, but these FancyVideo weights have no fps_embedding")
            emb = emb + cond_term(self.fps_embedding, fps, emb)
        if motion_score is not None:
            if self.motion_embedding is None:
                raise ValueError("a motion score was given, but these FancyVideo weights have no motion_embedding")
            emb = emb + cond_term(self.motion_embedding, motion_score, emb)
        return emb
