"""FlowVid Eq. 5 colour calibration against flowvid_color_calibration.safetensors (1e-6)."""
import pytest
import torch
from safetensors.torch import load_file

from modules.flowvid import calibrate_colors


@pytest.fixture(scope="module")
def vec(vectors_dir):
    return load_file(str(vectors_dir / "flowvid_color_calibration.safetensors"))


def test_matches_reference(vec):
    out = calibrate_colors(vec["in.frames"], vec["in.first_frame_edited"])
    assert out.shape == vec["out.calibrated"].shape
    assert (out - vec["out.calibrated"]).abs().max() <= 1e-6


def test_statistics_match_reference_frame(vec):
    ref = vec["in.first_frame_edited"]
    out = calibrate_colors(vec["in.frames"], ref[0])  # (C, H, W) reference accepted too
    assert torch.allclose(out.mean(dim=(2, 3)), ref.mean(dim=(2, 3)).expand(3, -1), atol=1e-6)
    assert torch.allclose(out.std(dim=(2, 3)), ref.std(dim=(2, 3)).expand(3, -1), atol=1e-6)


def test_zero_variance_channel_becomes_reference_mean_without_nan(vec):
    frames = vec["in.frames"].clone()
    frames[1, 2] = 0.3  # one flat channel
    out = calibrate_colors(frames, vec["in.first_frame_edited"])
    assert torch.isfinite(out).all()
    assert torch.allclose(out[1, 2], vec["in.first_frame_edited"][0, 2].mean().expand(8, 8))
    assert (out[0] - vec["out.calibrated"][0]).abs().max() <= 1e-6  # other frames unaffected


def test_bad_input(vec):
    with pytest.raises(ValueError, match="same C, H, W"):
        calibrate_colors(vec["in.frames"], vec["in.first_frame_edited"][..., :4])
    with pytest.raises(ValueError, match="at least 2 pixels"):
        calibrate_colors(torch.rand(2, 3, 1, 1), torch.rand(1, 3, 1, 1))
