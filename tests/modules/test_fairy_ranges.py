"""Range splitting, and the end-to-end claim: any batching or split of the frames gives a single run's result."""
import pytest
import torch

from modules.fairy import (
    AnchorCache,
    anchor_indices,
    anchor_pass_attention,
    frame_attention,
    per_frame_noise,
    plan_ranges,
    split_ranges,
)

HEADS, TOKENS, DIM, STEPS, SEED = 2, 6, 4, 3, 11
LATENT = (HEADS, TOKENS, DIM)


def test_split_ranges_cover_contiguously():
    assert split_ranges(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert split_ranges(664, 6) == [(0, 111), (111, 222), (222, 333), (333, 444), (444, 554), (554, 664)]
    assert split_ranges(5, 5) == [(i, i + 1) for i in range(5)]


@pytest.mark.parametrize("frames, parts, message", [(4, 5, "at most 4 parts"), (10, 0, "at least 1")])
def test_split_ranges_errors(frames, parts, message):
    with pytest.raises(ValueError, match=message):
        split_ranges(frames, parts)


def test_plan_shares_full_video_anchors_and_seed():
    jobs = plan_ranges(120, 4, seed=9)
    assert [tuple(j.frames)[:1] + tuple(j.frames)[-1:] for j in jobs] == [(0, 29), (30, 59), (60, 89), (90, 119)]
    assert all(j.anchors == (20, 60, 100) and j.seed == 9 for j in jobs)


class ToyEditor:
    """A few 'steps' of self-attention on per-frame latents, with Fairy's anchor pass / frame pass split."""

    def __init__(self, num_frames: int, anchors: tuple[int, ...], seed: int):
        g = torch.Generator().manual_seed(0)
        self.proj = torch.randn(3, DIM, DIM, generator=g) / DIM**0.5
        self.num_frames, self.anchors, self.seed = num_frames, anchors, seed

    def _qkv(self, x):
        return (x @ self.proj[0], x @ self.proj[1], x @ self.proj[2])

    def _start(self, frames):
        return per_frame_noise(LATENT, frames, self.seed)

    def _step(self, x, attn, frames, step):
        return x + attn + 0.1 * per_frame_noise(LATENT, frames, self.seed, step=step)

    def anchor_pass(self) -> AnchorCache:
        cache, x = AnchorCache(), self._start(self.anchors)
        for step in range(STEPS):
            q, k, v = self._qkv(x)
            cache.put("attn1", step, "cond", k, v)
            x = self._step(x, anchor_pass_attention(q, k, v), self.anchors, step)
        return cache

    def frame_pass(self, cache: AnchorCache, frames) -> torch.Tensor:
        x = self._start(frames)
        for step in range(STEPS):
            q, k, v = self._qkv(x)
            x = self._step(x, frame_attention(q, k, v, *cache.get("attn1", step, "cond")), frames, step)
        return x


@pytest.fixture(scope="module")
def single_run():
    editor = ToyEditor(24, tuple(anchor_indices(24)), SEED)
    return editor, editor.frame_pass(editor.anchor_pass(), list(range(24)))


@pytest.mark.parametrize("batch", [1, 5, 24])
def test_batching_does_not_change_results(single_run, batch):
    editor, reference = single_run
    cache = editor.anchor_pass()
    out = torch.cat([editor.frame_pass(cache, list(range(s, min(s + batch, 24)))) for s in range(0, 24, batch)])
    assert (out - reference).abs().max() <= 1e-6


def test_joined_ranges_equal_single_run(single_run):
    _, reference = single_run
    parts = []
    for job in plan_ranges(24, 3, SEED):
        worker = ToyEditor(24, job.anchors, job.seed)  # a separate worker repeats the anchor pass
        parts.append(worker.frame_pass(worker.anchor_pass(), list(job.frames)))
    assert (torch.cat(parts) - reference).abs().max() <= 1e-6


def test_range_local_indices_would_break_it(single_run):
    """Guards the rule itself: numbering frames from 0 inside a range changes their noise and the result."""
    editor, reference = single_run
    local = editor.frame_pass(editor.anchor_pass(), list(range(8)))  # frames 8..15 numbered as 0..7
    assert (local - reference[8:16]).abs().max() > 1e-3
