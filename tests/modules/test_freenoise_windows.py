"""FreeNoise context windows, window weights and the generic window fusion."""
from __future__ import annotations

import pytest
import torch

from modules.freenoise import context_windows, fuse_windows, tail_length, validate_context, window_weights


def test_window_weights():
    assert window_weights(16, "pyramid") == [1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1]
    assert window_weights(5, "pyramid") == [1, 2, 3, 2, 1]
    assert window_weights(4, "flat") == [1, 1, 1, 1]
    assert window_weights(16, "delayed_reverse_sawtooth") == [0.01] * 7 + [8, 8, 7, 6, 5, 4, 3, 2, 1]
    assert window_weights(5, "delayed_reverse_sawtooth") == [0.01, 0.01, 3, 2, 1]
    assert window_weights(1, "pyramid") == [1]
    with pytest.raises(ValueError, match="unknown weighting 'gauss'; expected one of pyramid, flat"):
        window_weights(16, "gauss")


@pytest.mark.parametrize(
    "frames,stride,expected,tail",
    [
        (24, 4, [(0, 16), (4, 20), (8, 24)], 0),
        (22, 4, [(0, 16), (4, 20), (6, 22)], 2),
        (17, 4, [(0, 16), (1, 17)], 1),
        (16, 4, [(0, 16)], 0),
        (10, 4, [(0, 10)], 0),
        (40, 8, [(0, 16), (8, 24), (16, 32), (24, 40)], 0),
    ],
)
def test_context_windows(frames, stride, expected, tail):
    assert context_windows(frames, 16, stride) == expected
    assert tail_length(frames, 16, stride) == tail


def test_validate_context():
    validate_context(32, 32)
    with pytest.raises(ValueError, match="context_length 33 exceeds the motion module's positional-embedding length 32"):
        validate_context(33, 32)
    with pytest.raises(ValueError, match="positive whole number"):
        validate_context(0, 32)


def _recording(calls):
    def fn(chunk):
        calls.append(chunk[0, :, 0].tolist())
        return chunk * 2.0

    return fn


def test_fn_sees_each_window_as_a_short_sequence():
    x = torch.arange(22.0).view(1, 22, 1).expand(2, 22, 3)
    calls = []
    fuse_windows(_recording(calls), x, context_length=16, stride=4)
    assert calls == [list(range(0, 16)), list(range(4, 20)), list(range(6, 22))]


@pytest.mark.parametrize("weighting", ["pyramid", "flat", "delayed_reverse_sawtooth"])
@pytest.mark.parametrize("frames,stride", [(24, 4), (22, 4), (23, 4), (37, 8)])
def test_normalized_fusion_is_a_weighted_mean(weighting, frames, stride):
    # Windows that agree must fuse to that agreement: out = 2x for fn = 2*chunk.
    x = torch.randn(2, frames, 3, generator=torch.Generator().manual_seed(0))
    out = fuse_windows(lambda c: c * 2.0, x, context_length=16, stride=stride, weighting=weighting)
    torch.testing.assert_close(out, x * 2.0, rtol=1e-6, atol=1e-6)


def test_diffusers_tail_rule_is_the_quirk():
    # 22 frames: the tail window covers frames 20-21 alone with weights w[-2:] = (2, 1) but both weight sums get
    # w[14] = 2, so frame 21 comes out at half its value.
    x = torch.ones(1, 22, 1)
    out = fuse_windows(lambda c: c, x, context_length=16, stride=4, weighting="pyramid", tail_rule="diffusers")
    torch.testing.assert_close(out[0, :21, 0], torch.ones(21), rtol=1e-6, atol=1e-6)
    assert out[0, 21, 0].item() == pytest.approx(0.5, abs=1e-7)
    with pytest.raises(ValueError, match="unknown tail_rule 'zero'"):
        fuse_windows(lambda c: c, x, tail_rule="zero")


def test_fewer_frames_than_one_window_is_one_call():
    x = torch.randn(2, 12, 3)
    calls = []
    out = fuse_windows(_recording(calls), x, context_length=16, stride=4)
    assert len(calls) == 1 and len(calls[0]) == 12
    assert torch.equal(out, x * 2.0)


def test_any_frame_dim_and_dtype():
    x = torch.randn(24, 5, generator=torch.Generator().manual_seed(2))
    # cumsum mixes frames, so the result depends on which windows fn saw.
    along_0 = fuse_windows(lambda c: c.cumsum(0), x, frame_dim=0)
    along_1 = fuse_windows(lambda c: c.cumsum(1), x.unsqueeze(0), frame_dim=1)
    torch.testing.assert_close(along_0, along_1[0], rtol=0, atol=1e-6)
    assert not torch.allclose(along_0, x.cumsum(0), atol=1e-3)
    half = fuse_windows(lambda c: c.cumsum(1), x.unsqueeze(0).to(torch.bfloat16), frame_dim=-2)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), along_1, rtol=0.05, atol=0.1)


def test_fn_must_keep_the_frame_count():
    with pytest.raises(ValueError, match="must keep the frame count: it got 16 frames"):
        fuse_windows(lambda c: c[:, :8], torch.zeros(1, 24, 2))
