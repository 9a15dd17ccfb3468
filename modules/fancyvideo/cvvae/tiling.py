"""The official CV-VAE memory plan: temporal chunks (outer loop) and blended spatial tiles (inner loop).

Results are written straight into one preallocated output; only the seams a later tile blends with are kept (the
bottom strip of each tile of the previous tile row and the right strip of the previous tile), never a list of tiles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .config import TileGrid

TileFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Chunk:
    """Input frames [start, end) of one temporal chunk; its output frames from `skip` on go to out[dst:]."""

    start: int
    end: int
    skip: int
    dst: int


def temporal_chunks(length: int, stride: Optional[int], out_stride: Optional[int], out_len: Callable[[int], int]
                    ) -> list[Chunk]:
    """Official chunking: chunk k covers inputs [k·s, k·s+s] (one shared boundary frame), n = max(1, ceil((N-1)/s)).

    Chunks after the first drop their first output, which the previous chunk already produced with real history.
    A chunk whose only output would be that dropped one is left out (its result is discarded by the official code too).
    """
    if stride is None or out_stride is None:
        return [Chunk(0, length, 0, 0)]
    rounds = max(1, math.ceil((length - 1) / stride))
    chunks = []
    for k in range(rounds):
        start, end = k * stride, min(k * stride + stride + 1, length)
        skip = 0 if k == 0 else 1
        if out_len(end - start) > skip:
            chunks.append(Chunk(start, end, skip, k * out_stride + skip))
    return chunks


def tile_starts(size: int, tile: int, stride: int) -> list[int]:
    """Tile origins along one axis; stops after the first tile that reaches the border (official loop)."""
    starts = [0]
    while starts[-1] + tile < size:
        starts.append(starts[-1] + stride)
    return starts


def _ramp(overlap: int, like: torch.Tensor, dim: int) -> torch.Tensor:
    shape = [1] * like.dim()
    shape[dim] = overlap
    # fp32 weights as in the official blend (arange / overlap); the blended values are cast back on assignment.
    return (torch.arange(overlap, device=like.device, dtype=torch.float32) / overlap).view(shape)


def _blend_into(tile: torch.Tensor, seam: torch.Tensor, dim: int) -> None:
    """tile[:o] = (1 - r/o)·seam + (r/o)·tile[:o] along `dim`, in place (seam = last o rows/cols of the neighbour)."""
    overlap = seam.shape[dim]
    head = tile.narrow(dim, 0, overlap)
    weight = _ramp(overlap, tile, dim)
    head.copy_((1 - weight) * seam + weight * head)


def run_tiled(fn: TileFn, x: torch.Tensor, out: torch.Tensor, grid: Optional[TileGrid], skip: int, device: torch.device,
              dtype: torch.dtype) -> None:
    """Apply `fn` to spatial tiles of the chunk `x`, blend neighbouring tiles and write into `out` ([..., T', H', W'],
    already sliced to this chunk's destination frames). Each tile is moved to `device`/`dtype` just before `fn`."""
    height, width = x.shape[-2:]
    if grid is None:
        rows, cols, tile_size = [0], [0], max(height, width)
    else:
        rows = tile_starts(height, grid.in_tile, grid.in_stride)
        cols = tile_starts(width, grid.in_tile, grid.in_stride)
        tile_size = grid.in_tile
    above: list[Optional[torch.Tensor]] = [None] * len(cols)
    for r, i in enumerate(rows):
        left: Optional[torch.Tensor] = None
        last_row = r == len(rows) - 1
        for c, j in enumerate(cols):
            last_col = c == len(cols) - 1
            tile = x[..., i:i + tile_size, j:j + tile_size].to(device=device, dtype=dtype)
            result = fn(tile)[:, :, skip:]  # blending is per frame, so a dropped frame can go before it
            del tile
            if r > 0:
                _blend_into(result, above[c], dim=3)
            if c > 0:
                _blend_into(result, left, dim=4)
            h, w = result.shape[-2:]
            if grid is not None:
                if not last_row:
                    above[c] = result[..., h - grid.out_overlap:, :].clone()
                    h = grid.out_stride
                if not last_col:
                    left = result[..., :, w - grid.out_overlap:].clone()
                    w = grid.out_stride
                y0, x0 = r * grid.out_stride, c * grid.out_stride
            else:
                y0 = x0 = 0
            target = out[..., y0:y0 + h, x0:x0 + w]
            if target.shape != result[..., :h, :w].shape:
                raise RuntimeError(f"CV-VAE tile at ({i},{j}) gave {tuple(result.shape)}, which does not fit the "
                                   f"output region {tuple(target.shape)}; the tile geometry is inconsistent")
            target.copy_(result[..., :h, :w])
