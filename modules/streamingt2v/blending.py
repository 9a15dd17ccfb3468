"""Randomized blending (StreamingT2V stage 3): chunked x0 prediction with a random cut in every overlap, every step.

Rule of the official MS-Vid2Vid-XL sampler (`model_fn` in the vendored `diffusion_sdedit.py`):
* chunks start at 0, chunk-overlap, 2·(chunk-overlap), ... while start + chunk <= N;
* chunk 0 writes all its frames; chunk k > 0 draws r in [0, overlap-1] and writes frames [start+r, start+chunk),
  so the first r overlap frames keep chunk k-1's prediction;
* the draws come from one random stream, chunk after chunk, step after step.

Differences from the official code, on purpose:
* The official draws use Python's global `random`, never seeded, so no two runs agree. `OffsetSampler` owns its
  stream: mode "torch" (default) draws from a seeded torch.Generator; mode "official" draws from a private
  random.Random(seed), which gives exactly the sequence the official code gives after `random.seed(seed)` (use it
  for parity checks; it does not touch the global `random` state).
* The official code leaves frames past the last whole chunk as `torch.empty_like` garbage. Here a length that the
  chunks do not cover is an error (trim with `ms_trim_length`, or ask `chunk_starts(..., cover_tail=True)` for one
  more chunk that ends exactly at the last frame).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import torch

RNG_MODES = ("torch", "official")


def _check_chunking(num_frames: int, chunk_size: int, overlap: int) -> None:
    if chunk_size < 1 or not 0 <= overlap < chunk_size:
        raise ValueError(f"need chunk_size >= 1 and 0 <= overlap < chunk_size; got chunk {chunk_size}, overlap {overlap}")
    if num_frames < chunk_size:
        raise ValueError(f"{num_frames} frames are fewer than one chunk of {chunk_size}; use a smaller chunk size")


def chunk_starts(num_frames: int, chunk_size: int, overlap: int, cover_tail: bool = False) -> list[int]:
    """Start frames of the whole chunks (official rule); `cover_tail` adds a last chunk ending at frame N."""
    _check_chunking(num_frames, chunk_size, overlap)
    stride = chunk_size - overlap
    starts = list(range(0, num_frames - chunk_size + 1, stride))
    if cover_tail and starts[-1] + chunk_size < num_frames:
        starts.append(num_frames - chunk_size)
    return starts


@dataclass(frozen=True)
class TrimPlan:
    n_chunks: int
    trim_length: int


def ms_trim_length(num_frames: int, chunk_size: int = 24, overlap: int = 8) -> TrimPlan:
    """`video2video_randomized` trimming: the longest prefix that whole chunks cover exactly."""
    _check_chunking(num_frames, chunk_size, overlap)
    n_chunks = (num_frames - overlap) // (chunk_size - overlap)
    return TrimPlan(n_chunks, n_chunks * (chunk_size - overlap) + overlap)


def svd_enhance_chunks(num_frames: int, chunk_size: int = 38, overlap: int = 12) -> tuple[list[int], int]:
    """StreamingSVD's I2VGen-XL enhancer chunking: starts of the whole chunks and `max_idx`, the end of the last one."""
    starts = chunk_starts(num_frames, chunk_size, overlap)
    return starts, starts[-1] + chunk_size


class OffsetSampler:
    """Draws the per-chunk cut offsets from one owned random stream that continues across solver steps."""

    def __init__(self, seed: int, mode: str = "torch") -> None:
        if mode not in RNG_MODES:
            raise ValueError(f"blending RNG mode must be one of {RNG_MODES}, got {mode!r}")
        self.mode = mode
        if mode == "official":
            self._py = random.Random(seed)
        else:
            self._gen = torch.Generator(device="cpu").manual_seed(seed)

    def draw(self, num_chunks: int, overlap: int) -> list[int]:
        """Offsets r in [0, overlap-1] for chunks 1..num_chunks-1 (chunk 0 never draws)."""
        count = max(num_chunks - 1, 0)
        if overlap <= 0:  # nothing to blend; the official SVD enhancer skips the draw too
            return [0] * count
        if self.mode == "official":
            return [self._py.randint(0, overlap - 1) for _ in range(count)]
        return torch.randint(0, overlap, (count,), generator=self._gen).tolist()


def _check_plan(starts: Sequence[int], offsets: Sequence[int], lengths: Sequence[int], num_frames: int) -> None:
    if not starts or starts[0] != 0:
        raise ValueError(f"the first chunk must start at frame 0; got starts {list(starts)}")
    if len(offsets) != len(starts) - 1:
        raise ValueError(f"need one offset per chunk after the first: {len(starts) - 1} expected, {len(offsets)} given")
    end = 0
    for k, (start, length) in enumerate(zip(starts, lengths)):
        r = offsets[k - 1] if k else 0
        if start + r > end:
            raise ValueError(f"chunk {k} leaves frames {end}..{start + r - 1} uncovered (start {start}, offset {r})")
        if not 0 <= r < length:
            raise ValueError(f"offset {r} of chunk {k} is outside its {length} frames")
        end = max(end, start + length)
    if end != num_frames:
        raise ValueError(
            f"the chunks end at frame {end} but the video has {num_frames} frames; trim it "
            f"(ms_trim_length) or add a last chunk (chunk_starts(..., cover_tail=True))"
        )


def frame_to_chunk(starts: Sequence[int], offsets: Sequence[int], chunk_size: int, num_frames: int) -> list[int]:
    """Which chunk's prediction each frame ends up with, for one step."""
    _check_plan(starts, offsets, [chunk_size] * len(starts), num_frames)
    owner = [-1] * num_frames
    for k, start in enumerate(starts):
        r = offsets[k - 1] if k else 0
        owner[start + r : start + chunk_size] = [k] * (chunk_size - r)
    return owner


def blend_chunk_predictions(
    chunk_preds: Iterable[torch.Tensor],
    starts: Sequence[int],
    offsets: Sequence[int],
    num_frames: int,
    out: Optional[torch.Tensor] = None,
    frame_dim: int = 2,
) -> torch.Tensor:
    """Assemble the per-frame x0 of the whole video from per-chunk x0 predictions (one solver step).

    `chunk_preds` yields chunk k's prediction in chunk order (a generator works, so each chunk can be predicted and
    freed in turn); the result is written into `out` (allocated from the first chunk when None).
    """
    starts = list(starts)
    if len(offsets) != len(starts) - 1:
        raise ValueError(f"need one offset per chunk after the first: {len(starts) - 1} expected, {len(offsets)} given")
    lengths: list[int] = []
    for k, pred in enumerate(chunk_preds):
        if k >= len(starts):
            raise ValueError(f"got more chunk predictions than the {len(starts)} chunk starts")
        length = pred.shape[frame_dim]
        if out is None:
            shape = list(pred.shape)
            shape[frame_dim] = num_frames
            out = pred.new_empty(shape)
        r = offsets[k - 1] if k else 0
        if starts[k] + length > num_frames or not 0 <= r < length:
            raise ValueError(f"chunk {k} ({length} frames from {starts[k]}, offset {r}) does not fit {num_frames} frames")
        out.narrow(frame_dim, starts[k] + r, length - r).copy_(pred.narrow(frame_dim, r, length - r))
        lengths.append(length)
    if len(lengths) != len(starts):
        raise ValueError(f"got {len(lengths)} chunk predictions for {len(starts)} chunk starts")
    _check_plan(starts, offsets, lengths, num_frames)
    assert out is not None
    return out
