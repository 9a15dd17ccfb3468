"""Text embeddings of different token counts brought to one count, so that they can be blended per frame.

CLIP encodes prompts longer than one 77-token chunk into several chunks. Repeating an embedding along the token
axis leaves cross-attention unchanged (every key/value appears the same number of times more, so the softmax
weights split evenly over the copies), which is how ComfyUI itself batches conditionings of different lengths; the
common count is the least common multiple.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


def repeat_to_common_tokens(embeddings: Sequence[torch.Tensor], token_dim: int = -2) -> list[torch.Tensor]:
    """Each embedding repeated along `token_dim` to the least common multiple of all token counts."""
    if not embeddings:
        raise ValueError("expected at least one embedding, got none")
    dims = {e.dim() for e in embeddings}
    if len(dims) != 1:
        raise ValueError(f"embeddings must all have the same number of dimensions, got {sorted(dims)}")
    counts = [e.shape[token_dim] for e in embeddings]
    if min(counts) < 1:
        raise ValueError(f"embeddings must have at least one token, got token counts {counts}")
    common = math.lcm(*counts)
    out = []
    for embedding, count in zip(embeddings, counts):
        repeats = [1] * embedding.dim()
        repeats[token_dim] = common // count
        out.append(embedding.repeat(*repeats) if common != count else embedding)
    return out
