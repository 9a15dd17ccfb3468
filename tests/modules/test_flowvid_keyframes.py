"""FlowVid keyframe schedule: worked examples and coverage of every frame."""
import pytest

from modules.flowvid import interpolation_gaps, keyframe_batches, keyframe_indices


def test_120_frames_need_16_plus_15_keyframes():
    batches = keyframe_batches(120)
    assert batches == [list(range(0, 61, 4)), list(range(60, 117, 4)) + [119]]
    assert len({f for b in batches for f in b}) == 31
    assert interpolation_gaps(120)[-1].frames == [117, 118]
    assert interpolation_gaps(120)[-1].timesteps == pytest.approx([1 / 3, 2 / 3])


def test_61_frames_fit_one_batch_exactly():
    assert keyframe_batches(61) == [list(range(0, 61, 4))]
    gaps = interpolation_gaps(61)
    assert len(gaps) == 15 and all(g.end - g.start == 4 for g in gaps)
    assert gaps[0].frames == [1, 2, 3] and gaps[0].timesteps == [0.25, 0.5, 0.75]


def test_5_frames():
    assert keyframe_batches(5) == [[0, 4]]
    assert [g.frames for g in interpolation_gaps(5)] == [[1, 2, 3]]


def test_tiny_videos():
    assert keyframe_batches(1) == [[0]] and interpolation_gaps(1) == []
    assert keyframe_batches(2) == [[0, 1]] and interpolation_gaps(2) == []
    assert keyframe_batches(3) == [[0, 2]] and interpolation_gaps(3)[0].frames == [1]


def test_a_short_last_batch_overlaps_by_one():
    assert keyframe_batches(65) == [list(range(0, 61, 4)), [60, 64]]


@pytest.mark.parametrize("n", list(range(1, 140)) + [664])
@pytest.mark.parametrize("interval, per_batch", [(4, 16), (2, 8), (8, 3)])
def test_every_frame_is_keyframe_or_interpolated(n, interval, per_batch):
    batches = keyframe_batches(n, interval, per_batch)
    keys = keyframe_indices(n, interval)
    assert [f for b in batches for f in b[1:]] == keys[1:] and batches[0][0] == 0
    assert all(len(b) <= per_batch for b in batches) and all(a[-1] == b[0] for a, b in zip(batches, batches[1:]))
    assert keys[-1] == n - 1
    filled = [f for g in interpolation_gaps(n, interval) for f in g.frames]
    assert sorted(keys + filled) == list(range(n))
    assert all(0 < g.end - g.start <= interval for g in interpolation_gaps(n, interval))


@pytest.mark.parametrize("args", [(0,), (10, 0), (10, 4, 1)])
def test_bad_input(args):
    with pytest.raises(ValueError):
        keyframe_batches(*args)
