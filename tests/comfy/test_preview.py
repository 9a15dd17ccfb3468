"""nodes/preview.py in-process: frame sampling, the size bound, the WebP written to temp, and the UI dict shape."""
from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture()
def preview(frameloom, tmp_path, monkeypatch):
    """The preview module with ComfyUI's temp folder redirected to a fresh directory."""
    import folder_paths

    from FrameLoom.nodes import preview as module

    monkeypatch.setattr(folder_paths, "temp_directory", str(tmp_path))
    return module


def _decoded_frames(path):
    """(size, list of [H,W] grey frames as float tensors, per-frame durations in ms) of an animated WebP."""
    with Image.open(path) as im:
        frames, durations = [], []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(torch.from_numpy(np.asarray(im.convert("L"), dtype=np.float32)))
            durations.append(im.info["duration"])
        return im.size, frames, durations


def test_sample_indices_spread_evenly(preview):
    assert preview.sample_indices(5, 120) == [0, 1, 2, 3, 4]
    picked = preview.sample_indices(1000, 120)
    assert len(picked) == 120 and picked[0] == 0 and picked[-1] == 999
    gaps = {b - a for a, b in zip(picked, picked[1:])}
    assert gaps <= {8, 9}  # 999 / 119 = 8.39
    assert preview.sample_indices(7, 1) == [0]
    with pytest.raises(ValueError, match="at least one frame"):
        preview.sample_indices(0, 120)


def test_timing_keeps_duration_and_caps_the_rate(preview):
    indices, rate = preview.preview_timing(1000, 24.0)
    assert len(indices) == 120 and rate == pytest.approx(24.0 * 120 / 1000)
    indices, rate = preview.preview_timing(40, 96.0)  # 96 fps: browsers would slow such short frames down
    assert rate <= preview.MAX_RATE and len(indices) / rate == pytest.approx(40 / 96.0)
    assert preview.preview_timing(10, 8.0) == (list(range(10)), 8.0)


def test_size_bound_keeps_aspect_and_never_upscales(preview):
    assert preview.preview_size(1080, 1920) == (288, 512)
    assert preview.preview_size(2160, 720) == (512, 171)
    assert preview.preview_size(64, 96) == (64, 96)
    assert preview.preview_size(3, 4000) == (1, 512)


def test_writes_a_sampled_downscaled_webp_and_ui_dict(preview, tmp_path):
    total, height, width = 130, 24, 600
    # frame i is black with a white 4 px bar at x = 4i: the decoded bar positions reveal which frames were kept
    images = torch.zeros(total, height, width, 3)
    for i in range(total):
        images[i, :, 4 * i: 4 * i + 4] = 1.0
    ui = preview.animated_preview(images, 26.0, "FrameLoom_test")

    assert list(ui) == [preview.PREVIEW_KEY]
    (entry,) = ui[preview.PREVIEW_KEY]
    json.dumps(ui)  # goes over the websocket and into /history as is
    assert entry["type"] == "temp" and entry["subfolder"] == "" and entry["format"] == "image/webp"
    assert entry["filename"].startswith("FrameLoom_test_") and entry["filename"].endswith(".webp")
    assert (entry["frame_count"], entry["source_frames"], entry["width"], entry["height"]) == (120, 130, 512, 20)
    assert entry["frame_rate"] == pytest.approx(26.0 * 120 / 130)

    path = tmp_path / entry["filename"]
    assert path.is_file()
    size, frames, durations = _decoded_frames(path)
    assert size == (512, 20) and len(frames) == 120
    bars = torch.stack([f.mean(0).argmax() for f in frames]).float()
    expected = torch.tensor([(4 * i + 2) * 512 / width for i in preview.sample_indices(total, 120)])
    assert (bars - expected).abs().max() <= 2.0
    assert sum(durations) == pytest.approx(1000 * total / 26.0, abs=2)  # same duration as the video
    assert max(durations) - min(durations) <= 1


def test_second_preview_gets_a_new_file(preview, tmp_path):
    images = torch.rand(3, 8, 8, 3)
    first = preview.animated_preview(images, 8.0, "FrameLoom_test")[preview.PREVIEW_KEY][0]["filename"]
    second = preview.animated_preview(images, 8.0, "FrameLoom_test")[preview.PREVIEW_KEY][0]["filename"]
    assert first != second and {p.name for p in tmp_path.iterdir()} == {first, second}


def test_grey_and_alpha_batches_preview(preview, tmp_path):
    for channels in (1, 4):
        images = torch.full((2, 10, 12, channels), 0.5)
        entry = preview.animated_preview(images, 8.0, "FrameLoom_test")[preview.PREVIEW_KEY][0]
        size, frames, _ = _decoded_frames(tmp_path / entry["filename"])
        assert size == (12, 10) and all((f - 127.5).abs().max() < 3 for f in frames)


def test_huge_batch_is_not_copied(preview, tmp_path):
    # 200k frames of 256x256 would be 157 GB if materialised; expand() makes them cost one frame.
    images = torch.rand(1, 256, 256, 3).expand(200_000, 256, 256, 3)
    start = time.perf_counter()
    entry = preview.animated_preview(images, 24.0, "FrameLoom_test")[preview.PREVIEW_KEY][0]
    assert time.perf_counter() - start < 20
    assert entry["frame_count"] == 120 and entry["source_frames"] == 200_000
    assert (tmp_path / entry["filename"]).is_file()


@pytest.mark.parametrize(
    "images, fps, message",
    [
        (torch.rand(8, 8, 3), 8.0, r"\[frames, H, W, 1\|3\|4\], got \(8, 8, 3\)"),
        (torch.rand(2, 8, 8, 2), 8.0, r"got \(2, 8, 8, 2\)"),
        (torch.rand(0, 8, 8, 3), 8.0, "at least one non-empty frame"),
        ("frames.mp4", 8.0, "got str"),
        (torch.rand(2, 8, 8, 3), 0.0, "positive frame rate, got 0.0"),
        (torch.rand(2, 8, 8, 3), float("nan"), "positive frame rate"),
    ],
)
def test_bad_input_is_refused_clearly(preview, images, fps, message):
    with pytest.raises(ValueError, match=message):
        preview.animated_preview(images, fps, "FrameLoom_test")


def test_failed_encode_gives_no_preview_and_leaves_no_file(preview, tmp_path, monkeypatch, caplog):
    import av

    def broken_encoder(path, *args):
        with open(path, "wb") as fh:
            fh.write(b"RIFF")  # a partial file, as a failing encoder leaves behind
        raise av.FFmpegError(-22, "Invalid argument")

    monkeypatch.setattr(preview, "_encode_webp", broken_encoder)
    with caplog.at_level(logging.WARNING, logger="FrameLoom.preview"):
        assert preview.animated_preview(torch.rand(2, 8, 8, 3), 8.0, "FrameLoom_test") is None
    assert list(tmp_path.iterdir()) == []
    assert "no animated preview for FrameLoom_test" in caplog.text


def test_rife_interpolate_returns_the_preview(preview, tmp_path):
    from FrameLoom.modules.rife import expected_layout, load_ifnet
    from FrameLoom.nodes.patcher import wrap_module
    from FrameLoom.nodes.rife import FrameLoomRIFEInterpolate, RifeModel
    from tests.support.tiny_models import random_state

    net = load_ifnet(random_state(expected_layout("4.7")))
    model = RifeModel(wrap_module(net), net.version, torch.float32, "rife47.safetensors")
    out = FrameLoomRIFEInterpolate.execute(model, torch.rand(3, 32, 48, 3), 2, "1.0", False, 0.0, 2, 12.0)
    images, fps = out.result
    (entry,) = out.ui[preview.PREVIEW_KEY]
    assert (entry["frame_count"], entry["frame_rate"], entry["width"], entry["height"]) == (images.shape[0], fps, 48, 32)
    assert (tmp_path / entry["filename"]).is_file()
