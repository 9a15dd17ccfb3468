"""APM, the appearance-preservation module: image tokens from the anchor frame and the mixed cross-attention context.

The official code mixes the 16 image tokens into the 77 text tokens only inside its xformers attention processor; an
installation without xformers silently attends over the 93 raw tokens (or crashes). Here the mixing is explicit and
always on, which is what the released weights were trained and run with.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Attention

TEXT_TOKENS = 77
IMAGE_TOKENS = 16


class ImageTokenResampler(nn.Module):
    """`resampler.*`: mean pooled CLIP image embedding over anchor frames -> Linear–SiLU–Linear -> k tokens."""

    def __init__(self, embed_dim: int = 1024, inner_dim: int = 1280, num_tokens: int = IMAGE_TOKENS) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.num_tokens = num_tokens
        self.context_embedding = nn.Sequential(
            nn.Linear(embed_dim, inner_dim), nn.SiLU(), nn.Linear(inner_dim, embed_dim * num_tokens)
        )

    def forward(self, image_embeds: torch.Tensor, batch_size: int = 1) -> torch.Tensor:
        """image_embeds [(B F), D] or [B, F, D] (F anchor frames) -> tokens [B, k, D]."""
        if image_embeds.ndim == 2:
            if image_embeds.shape[0] % batch_size:
                raise ValueError(
                    f"{image_embeds.shape[0]} image embeddings cannot be split into batch_size={batch_size} videos"
                )
            image_embeds = image_embeds.reshape(batch_size, -1, image_embeds.shape[-1])
        if image_embeds.ndim != 3 or image_embeds.shape[-1] != self.embed_dim:
            raise ValueError(
                f"resampler expects image embeddings [(B F), {self.embed_dim}] or [B, F, {self.embed_dim}]; "
                f"got {list(image_embeds.shape)}"
            )
        pooled = image_embeds.mean(dim=1, keepdim=True)
        return self.context_embedding(pooled).view(-1, self.num_tokens, self.embed_dim)


def mix_context(
    context: torch.Tensor, conv: nn.Conv1d, norm: nn.LayerNorm, alpha: torch.Tensor, text_tokens: int = TEXT_TOKENS
) -> torch.Tensor:
    """`ctx = context[:, :77] + SiLU(alpha) · LayerNorm(Conv1d(93→77, k=3, same)(context))`.

    The Conv1d treats the tokens as channels and the feature dimension as its length, so every output token is a
    learned mix of all 93 input tokens over a 3-wide feature window.
    """
    if context.ndim != 3 or context.shape[1] != conv.in_channels:
        raise ValueError(
            f"APM expects a context of {conv.in_channels} tokens ({text_tokens} text + "
            f"{conv.in_channels - text_tokens} image), shape [N, {conv.in_channels}, D]; got {list(context.shape)}"
        )
    mixed = norm(conv(context))
    return context[:, :text_tokens] + mixed * F.silu(alpha)


class APMCrossAttention(Attention):
    """Spatial cross-attention whose keys/values come from the APM-mixed context (`attn2` of the base UNet)."""

    def __init__(
        self,
        query_dim: int,
        heads: int,
        dim_head: int,
        context_dim: int,
        text_tokens: int = TEXT_TOKENS,
        image_tokens: int = IMAGE_TOKENS,
    ) -> None:
        super().__init__(query_dim, heads, dim_head, context_dim=context_dim)
        self.text_tokens = text_tokens
        self.conv = nn.Conv1d(text_tokens + image_tokens, text_tokens, kernel_size=3, padding=1)
        self.conv_ln = nn.LayerNorm(context_dim)
        # Trained value lives in the checkpoint; 0 (the official initialisation) switches APM off.
        self.alpha = nn.Parameter(torch.zeros(()))

    def mixed_context(self, context: torch.Tensor) -> torch.Tensor:
        return mix_context(context, self.conv, self.conv_ln, self.alpha, self.text_tokens)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        if context is None:
            raise ValueError("APM cross-attention needs the 93-token context (77 text + 16 image tokens)")
        return super().forward(x, self.mixed_context(context))
