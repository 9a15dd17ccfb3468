"""FancyVideo video extending / backtracking on the tiny models: the reference clip's first 16 latents sit at frames
0-15 or 16-31 of 32 with mask 1 (at a non-square size, which the official H/W swap would break), too-short clips are
explained, and the one-box Sampler runs both modes end to end, equal to the modular graph."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.comfy.test_fancyvideo_nodes import fv_nodes, kit  # noqa: F401 (fixtures)
from tests.comfy.test_fancyvideo_nodes_sampler import RUN, ksampler
from tests.comfy.test_fancyvideo_nodes_tiny_models import tiny_base, tiny_checkpoint  # noqa: F401 (fixtures)

pytestmark = pytest.mark.comfy

TOL = 1e-6
WIDTH, HEIGHT = 48, 32  # non-square: latents 4 x 6
SCALE = 0.18215


@pytest.fixture(scope="module")
def clip():
    """69 frames (4k+1, so the whole clip also goes through cvvae_encode) of another size and aspect ratio."""
    return torch.rand(69, 40, 72, 3, generator=torch.Generator().manual_seed(11))


def v2v(fv_nodes, kit, vae, video, mode):
    return fv_nodes.FrameLoomFancyVideoVideoToVideo.execute(
        kit["positive"], kit["negative"], kit[vae], video, mode, WIDTH, HEIGHT).result


@pytest.fixture(scope="module")
def official_latents(kit, clip):
    """The official recipe, independently: fit every frame, encode the WHOLE clip, keep latents 0-15, x0.18215."""
    from FrameLoom.nodes.fancyvideo.video_vae import cvvae_encode, fit_frames

    frames = fit_frames(clip, WIDTH, HEIGHT)
    return {"cvvae": cvvae_encode(kit["cvvae"], frames)[:16] * SCALE,
            "vae": kit["vae"].encode(frames[:16]).float() * SCALE}


@pytest.mark.parametrize("vae", ["cvvae", "vae"])
@pytest.mark.parametrize("mode, start", [("extend", 0), ("backtrack", 16)])
def test_reference_latents_at_their_frames_with_mask(fv_nodes, kit, clip, official_latents, vae, mode, start):
    positive, negative, latent = v2v(fv_nodes, kit, vae, clip, mode)
    assert torch.equal(latent["samples"], torch.zeros(32, 4, HEIGHT // 8, WIDTH // 8))
    concat = positive[0][1]["noise_concat"]
    assert torch.equal(concat, negative[0][1]["noise_concat"])
    assert concat.shape == (32, 5, HEIGHT // 8, WIDTH // 8)  # [.., H, W], not the official [.., W, H]
    held = slice(start, start + 16)
    expected = official_latents[vae]
    assert expected.abs().max() > 0.01
    assert (concat[held, :4] - expected).abs().max() <= TOL
    mask = torch.zeros(32)
    mask[held] = 1.0
    assert torch.equal(concat[:, 4], mask[:, None, None].expand(32, HEIGHT // 8, WIDTH // 8))
    others = torch.ones(32, dtype=torch.bool)
    others[held] = False
    assert not concat[others].any()
    assert "noise_concat" not in kit["positive"][0][1]


def test_too_short_clips_name_the_frame_counts(fv_nodes, kit, clip):
    with pytest.raises(ValueError, match=r"at least 61 frames with the CV-VAE, or 16 with a 2D image VAE.*needs 61; the video has 60"):
        v2v(fv_nodes, kit, "cvvae", clip[:60], "extend")
    with pytest.raises(ValueError, match=r"2D VAE needs 16; the video has 15"):
        v2v(fv_nodes, kit, "vae", clip[:15], "backtrack")
    with pytest.raises(ValueError, match="mode must be one of extend, backtrack"):
        v2v(fv_nodes, kit, "vae", clip, "forward")


def box(fv_nodes, kit, mode, video, with_cvvae=True, fancy=None):
    out = fv_nodes.FrameLoomFancyVideoSampler.execute(
        kit["model"], fancy or kit["fancy"], kit["positive"], kit["negative"], kit["vae"], width=WIDTH, height=HEIGHT,
        latent_frames=16, **RUN, cvvae=kit["cvvae"] if with_cvvae else None, mode=mode, video=video)
    return out.result


def test_sampler_extends_like_the_modular_graph(fv_nodes, kit, clip):
    from FrameLoom.nodes.fancyvideo.video_vae import fit_frames

    latent, frames = box(fv_nodes, kit, "extend", clip)
    samples = latent["samples"]
    assert samples.shape == (32, 4, HEIGHT // 8, WIDTH // 8) and torch.isfinite(samples).all()
    # only the frames that shape latents 0-15 were fitted and encoded: 4 CV-VAE chunks of 16 frames + 1
    assert torch.equal(frames, fit_frames(clip[:65], WIDTH, HEIGHT))
    model = fv_nodes.FrameLoomFancyVideoApply.execute(kit["model"], kit["fancy"], RUN["fps"], RUN["motion_score"]).result[0]
    positive, negative, empty = v2v(fv_nodes, kit, "cvvae", clip, "extend")
    assert (samples - ksampler(model, positive, negative, empty["samples"])).abs().max() <= TOL


def test_sampler_backtracks_with_the_image_vae(fv_nodes, kit, clip):
    latent, frames = box(fv_nodes, kit, "backtrack", clip, with_cvvae=False)
    assert latent["samples"].shape == (32, 4, HEIGHT // 8, WIDTH // 8) and torch.isfinite(latent["samples"]).all()
    assert frames.shape == (16, HEIGHT, WIDTH, 3)  # one frame per latent


def test_sampler_mode_errors(fv_nodes, kit, clip):
    from FrameLoom.nodes.fancyvideo.handles import FancyVideoHandle

    with pytest.raises(ValueError, match="mode 'extend' needs a reference video"):
        box(fv_nodes, kit, "extend", None)
    with pytest.raises(ValueError, match="a video is connected but mode is 't2v/i2v'"):
        box(fv_nodes, kit, "t2v/i2v", clip)
    short = FancyVideoHandle(dataclasses.replace(kit["fancy"].weights, pe_length=16), "vae_3d_61_frames_16.pt")
    with pytest.raises(ValueError, match="cover only 16 .*video_extending / video_backtracking"):
        box(fv_nodes, kit, "backtrack", clip, fancy=short)


def test_sampler_keeps_its_old_widgets_first(fv_nodes):
    """Saved workflows store widget values by position: the new inputs come after all old ones, and are optional."""
    inputs = fv_nodes.FrameLoomFancyVideoSampler.define_schema().inputs
    names = [i.id for i in inputs]
    assert names[-4:] == ["image", "cvvae", "mode", "video"]
    assert names.index("scheduler") < names.index("mode")
    mode = inputs[names.index("mode")]
    assert mode.optional and mode.default == "t2v/i2v" and mode.options == ["t2v/i2v", "extend", "backtrack"]
