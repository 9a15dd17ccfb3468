"""FlowVid-style per-pixel strength (mask and gate) and filling the frames between keyframes."""
import pytest
import torch

from modules.common import LoopHooks
from modules.flowvid import fill_gaps, keyframe_indices, open_pixels, remaining_share, strength_mask


def test_strength_mask_values():
    occlusion = torch.zeros(3, 1, 2, 2)
    occlusion[1, 0, 0, 0] = 1.0
    mask = strength_mask(occlusion, 0.7)
    assert mask[0].eq(0).all()  # the reference frame is kept
    assert mask[1, 0, 0, 0] == 1.0 and mask[1, 0, 1, 1] == pytest.approx(0.7) and mask[2].eq(0.7).all()
    with pytest.raises(ValueError, match="strength must be in 0..1"):
        strength_mask(occlusion, 1.5)
    with pytest.raises(ValueError, match=r"\(N, 1, h, w\)"):
        strength_mask(occlusion[:, 0], 0.5)


def test_gate_opens_pixels_as_the_schedule_runs_out():
    mask = torch.tensor([0.0, 0.3, 0.7, 1.0])
    assert remaining_share(999.0, 999.0, 0.0) == 1.0 and remaining_share(0.0, 999.0, 0.0) == 0.0
    assert open_pixels(mask, 1.0).tolist() == [0, 0, 0, 1]  # first step: only occluded pixels
    assert open_pixels(mask, 0.5).tolist() == [0, 0, 1, 1]
    assert open_pixels(mask, 0.3).tolist() == [0, 1, 1, 1]
    assert open_pixels(mask, 0.0).tolist() == [0, 1, 1, 1]  # strength 0 never opens, even at the very end


def _blend(img0, img1, t):
    return img0 + (img1 - img0) * t.view(-1, 1, 1, 1)


@pytest.mark.parametrize("num_frames, interval", [(9, 4), (11, 4), (5, 1), (2, 4)])
def test_fill_gaps_keeps_keyframes_and_interpolates_at_the_right_times(num_frames, interval):
    keys = keyframe_indices(num_frames, interval)
    keyframes = torch.stack([torch.full((2, 3, 3), float(k)) for k in keys]) / num_frames
    seen = []
    out = fill_gaps(keyframes, num_frames, interval, _blend, LoopHooks(progress=lambda d, n: seen.append((d, n))))
    # linear content stays linear: frame f holds f / num_frames everywhere, keyframes exactly
    expected = torch.arange(num_frames, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 2, 3, 3) / num_frames
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.equal(out[keys], keyframes)
    gaps = sum(1 for a, b in zip(keys, keys[1:]) if b - a > 1)
    assert seen == [(i, gaps) for i in range(1, gaps + 1)]


def test_fill_gaps_refuses_the_wrong_keyframe_count():
    with pytest.raises(ValueError, match="9 frames at interval 4 have 3 keyframes"):
        fill_gaps(torch.zeros(4, 2, 2, 3), 9, 4, _blend)
