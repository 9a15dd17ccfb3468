"""DIS flow through OpenCV on a synthetic clip with exactly known motion: accuracy, convention, errors."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import torch

from modules.flow import DIS_PRESETS, DisFlow, dis_flow, end_point_error, synthetic_clip, to_gray_uint8
from modules.flowvid import warp_backward

# EPE bound for a clean sub-pixel translation (at most 7.5 px here). A quarter pixel is half of the 0.5 px slack (β)
# of FlowVid's forward-backward check, so flow this good never trips the occlusion mask by itself; a convention error
# (sign, swapped dx/dy, flow in the wrong direction) is off by at least 1.5 px on this clip. Measured (DIS, OpenCV
# 4.14): medium 0.04 px, fast 0.09 px, ultrafast 0.11 px.
TRANSLATION_EPE = 0.25


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(num_frames=6, height=96, width=128, velocity=(1.5, -0.75))


@pytest.mark.parametrize("preset", DIS_PRESETS)
def test_dis_recovers_translation(clip, preset):
    first = clip.frames[:1]
    rest = clip.frames[1:]
    forward = dis_flow(first.expand_as(rest), rest, preset)  # F₀→ᵢ
    backward = dis_flow(rest, first, preset)  # Fᵢ→₀, the reference frame broadcast
    assert forward.shape == backward.shape == (5, 2, 96, 128) and forward.dtype == torch.float32
    assert end_point_error(forward, clip.flow_fwd[1:], clip.valid_fwd[1:]) < TRANSLATION_EPE
    assert end_point_error(backward, clip.flow_bwd[1:], clip.valid_bwd[1:]) < TRANSLATION_EPE


def test_backward_flow_warps_first_frame_onto_each_frame(clip):
    """The convention shared with modules.flowvid: frame 0 sampled at p + Fᵢ→₀(p) is frame i."""
    backward = dis_flow(clip.frames[1:], clip.frames[:1])
    warped = warp_backward(clip.frames[:1], backward)
    valid = clip.valid_bwd[1:, None].expand_as(warped).bool()
    error = (warped - clip.frames[1:]).abs()[valid].mean()
    unwarped = (clip.frames[:1] - clip.frames[1:]).abs()[valid].mean()
    assert error < 0.01 and error < unwarped / 10


def test_float_and_uint8_frames_give_the_same_flow(clip):
    as_uint8 = (clip.frames[:2] * 255).round().to(torch.uint8)
    as_float = as_uint8.float() / 255
    assert torch.equal(dis_flow(as_float[1:2], as_float[:1]), dis_flow(as_uint8[1:2], as_uint8[:1]))


def test_gray_conversion_uses_bt601_luma():
    frame = torch.zeros(3, 16, 16)
    frame[0] = 1.0  # pure red
    assert int(to_gray_uint8(frame)[0, 0]) == round(0.299 * 255)
    assert to_gray_uint8(frame[:1]).dtype.name == "uint8" and int(to_gray_uint8(frame[:1])[0, 0]) == 255


@pytest.mark.parametrize(
    ("frames_a", "frames_b", "match"),
    [
        (torch.rand(2, 3, 32), torch.rand(2, 3, 32), r"\(N, C, H, W\)"),
        (torch.rand(2, 4, 32, 32), torch.rand(2, 4, 32, 32), "C = 1 or 3"),
        (torch.rand(2, 3, 8, 32), torch.rand(2, 3, 8, 32), "at least 16×16"),
        (torch.rand(2, 3, 32, 32).double().long(), torch.rand(2, 3, 32, 32), "float"),
        (torch.rand(3, 3, 32, 32), torch.rand(2, 3, 32, 32), "batch of 1"),
        (torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 40), "same batch or a batch of 1"),
    ],
)
def test_bad_frames_are_refused(frames_a, frames_b, match):
    with pytest.raises(ValueError, match=match):
        dis_flow(frames_a, frames_b)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match="ultrafast, fast, medium"):
        DisFlow("slow")


def test_missing_opencv_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    with pytest.raises(ImportError, match="opencv-python-headless"):
        dis_flow(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))


def test_importing_the_package_does_not_import_opencv():
    code = "import sys, modules.flow; print('cv2' in sys.modules, 'torchvision' in sys.modules)"
    repo_root = pathlib.Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
