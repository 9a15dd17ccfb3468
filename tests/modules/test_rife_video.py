"""interpolate_video and scene-cut detection on small frames."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from modules.common import LoopHooks
from modules.rife import (
    detect_scene_cuts,
    expected_layout,
    interpolate_pair,
    interpolate_video,
    load_ifnet,
    scene_scores,
)
from tests.support.rife_weights import rebuild_weights

# Batched and single-sample convolutions may pick different CPU kernels: results agree to ~2e-6, not bit for bit.
BATCH_ATOL = 1e-5


def smooth_video(count: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """[F,H,W,3] frames of one smooth random scene panning right by 2 px per frame."""
    gen = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(1, 3, 5, 7, generator=gen), size=(height, width), mode="bilinear")
    return torch.cat([torch.roll(base, 2 * i, dims=3) for i in range(count)]).permute(0, 2, 3, 1).contiguous()


def nchw(frame: torch.Tensor) -> torch.Tensor:
    return frame.permute(2, 0, 1).unsqueeze(0)


@pytest.fixture(scope="module")
def net():
    # The smallest full-size version keeps these tests fast.
    return load_ifnet(rebuild_weights(expected_layout("4.15.lite")))


def test_length_originals_and_timesteps(net):
    frames = smooth_video(3, 24, 40)
    out = interpolate_video(net, frames, 3)
    assert out.shape == (7, 24, 40, 3) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert torch.equal(out[::3], frames)  # originals copied bit-exactly
    for pair in range(2):
        for k in (1, 2):
            expected = interpolate_pair(net, nchw(frames[pair]), nchw(frames[pair + 1]), k / 3).clamp(0, 1)
            assert torch.allclose(out[pair * 3 + k], expected[0].permute(1, 2, 0), atol=BATCH_ATOL, rtol=0)
    # The two new frames of a pair really differ, so swapped timesteps would fail the check above.
    assert (out[1] - out[2]).abs().max() > 1e-3
    assert out.min() >= 0 and out.max() <= 1


def test_batch_size_does_not_change_results(net):
    frames = smooth_video(5, 24, 40, seed=1)
    one = interpolate_video(net, frames, 2, batch_size=1)
    three = interpolate_video(net, frames, 2, batch_size=3)
    assert torch.allclose(one, three, atol=BATCH_ATOL, rtol=0)


def test_multiplier_one_returns_a_copy(net):
    frames = smooth_video(2, 8, 8)
    out = interpolate_video(net, frames, 1)
    assert torch.equal(out, frames) and out.data_ptr() != frames.data_ptr()


def test_scene_cut_repeats_the_earlier_frame(net):
    frames = smooth_video(4, 24, 40, seed=2)
    frames[2:] = 1.0 - frames[2:]  # a hard cut between frames 1 and 2
    scores = scene_scores(frames)
    assert scores[1] > 0.1 > max(scores[0], scores[2])
    assert detect_scene_cuts(frames, 0.1).tolist() == [False, True, False]
    out = interpolate_video(net, frames, 3, scene_cut_threshold=0.1)
    assert torch.equal(out[4], frames[1]) and torch.equal(out[5], frames[1])
    plain = interpolate_video(net, frames, 3)
    assert torch.equal(out[:4], plain[:4]) and torch.equal(out[6:], plain[6:])
    assert not torch.equal(plain[4], frames[1])


def test_scene_score_range():
    black, white = torch.zeros(1, 16, 16, 3), torch.ones(1, 16, 16, 3)
    assert scene_scores(torch.cat([black, black])).item() == 0.0
    assert scene_scores(torch.cat([black, white])).item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="0..1"):
        detect_scene_cuts(torch.cat([black, white]), 1.5)


def test_progress_and_cancel(net):
    frames = smooth_video(5, 24, 40, seed=3)
    steps: list[tuple[int, int]] = []
    interpolate_video(net, frames, 2, batch_size=3, hooks=LoopHooks(progress=lambda d, t: steps.append((d, t))))
    assert steps == [(3, 4), (4, 4)]

    calls = []

    def cancel_on_second_batch() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        interpolate_video(net, frames, 2, batch_size=1, hooks=LoopHooks(check_cancel=cancel_on_second_batch))
    assert len(calls) == 2
    # Nothing is left behind: the net is untouched and a second run gives the full result.
    assert not net.training
    again = interpolate_video(net, frames, 2, batch_size=1)
    assert torch.allclose(again, interpolate_video(net, frames, 2, batch_size=4), atol=BATCH_ATOL, rtol=0)


def test_odd_size(net):
    frames = smooth_video(3, 67, 101, seed=4)
    out = interpolate_video(net, frames, 2)
    assert out.shape == (5, 67, 101, 3) and torch.isfinite(out).all()
    assert torch.equal(out[::2], frames)


def test_input_errors(net):
    frames = smooth_video(3, 8, 8)
    with pytest.raises(ValueError, match="at least 2 frames, got 1"):
        interpolate_video(net, frames[:1], 2)
    bad = frames.clone()
    bad[1, 2, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        interpolate_video(net, bad, 2)
    with pytest.raises(ValueError, match=r"\[F,H,W,3\].*\[3, 3, 8, 8\]"):
        interpolate_video(net, frames.permute(0, 3, 1, 2), 2)
    with pytest.raises(ValueError, match=r"\[F,H,W,3\].*\[8, 8, 3\]"):
        interpolate_video(net, frames[0], 2)
    with pytest.raises(ValueError, match="multiplier must be an integer >= 1"):
        interpolate_video(net, frames, 0)
    with pytest.raises(ValueError, match="ensemble is not supported"):
        interpolate_video(load_ifnet(rebuild_weights(expected_layout("4.22.lite"))), frames, 2, ensemble=True)


def test_dtype_argument_casts_the_net():
    net = load_ifnet(rebuild_weights(expected_layout("4.15.lite")))
    frames = smooth_video(3, 24, 40, seed=5)
    reference = interpolate_video(net, frames, 2)
    out = interpolate_video(net, frames, 2, dtype=torch.float16, device="cpu")
    assert next(net.parameters()).dtype == torch.float16
    assert out.dtype == torch.float32 and torch.equal(out[::2], frames)
    assert (out - reference).abs().max().item() < 3e-2
