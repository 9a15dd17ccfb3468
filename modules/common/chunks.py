"""Chunked iteration over long frame stacks, so work is done in bounded pieces."""
from __future__ import annotations

from typing import Iterator


def chunk_ranges(total: int, size: int) -> Iterator[tuple[int, int]]:
    """Yield [start, end) ranges of at most `size` covering 0..total in order."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, total, size):
        yield start, min(start + size, total)
