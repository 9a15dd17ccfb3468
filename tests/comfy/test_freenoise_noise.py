"""FreeNoise noise rescheduling as an OUTER_SAMPLE wrapper, through real ComfyUI sampler calls.

The sampler's base noise is comfy.sample.prepare_noise(latent, seed); a SAMPLER_SAMPLE wrapper records the noise the
sampler function finally receives (and skips the UNet, which these checks do not need).
"""
from __future__ import annotations

import json

import pytest
import torch

from tests.support import freenoise_models as tiny

pytestmark = pytest.mark.comfy


@pytest.fixture(scope="module")
def fancy(frameloom, comfy_runtime, vectors_dir):
    return tiny.fancyvideo_model(comfy_runtime, vectors_dir)


@pytest.fixture(scope="module")
def clip(frameloom, comfy_runtime):
    return tiny.tiny_clip()


@pytest.fixture(scope="module")
def conds(clip):
    return tiny.text_conditioning(clip, "a camel walking"), tiny.text_conditioning(clip, "")


@pytest.fixture(scope="module")
def cases(vectors_dir):
    data = json.loads((vectors_dir / "freenoise_noise_schedule.json").read_text())
    return {(c["num_frames"], c["seed"]): c for c in data["cases"]}


def sampled_noise(
    model, conds, latent: torch.Tensor, seed: int, sampler_name: str = "euler"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(base noise, noise the sampler function receives) in a stock KSampler run (comfy.sample.sample) of `model`."""
    import comfy.patcher_extension
    import comfy.sample

    recorded = []

    def record(executor, guider, sigmas, extra_args, callback, noise, *args, **kwargs):
        recorded.append(noise.detach().cpu().clone())
        return torch.zeros_like(noise)

    model = model.clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE, "test_record", record)
    base = comfy.sample.prepare_noise(latent, seed)
    comfy.sample.sample(model, base, 2, 2.0, sampler_name, "normal", conds[0], conds[1], latent, seed=seed)
    assert len(recorded) == 1
    return base, recorded[0]


def freenoise(model, **settings):
    from FrameLoom.nodes.freenoise import FreeNoiseSettings, apply_freenoise

    return apply_freenoise(model, FreeNoiseSettings(**settings))


@pytest.mark.parametrize("mode", ["official", "diffusers"])
@pytest.mark.parametrize("seed", [0, 123])
def test_rescheduled_noise_matches_reference_maps(fancy, conds, cases, mode, seed):
    # A [40, 4, 64, 64] latent has the element count of the reference's (1, 4, 40, 64, 64) diffusers draw, so both
    # conventions must give the vector's exact index maps.
    from FrameLoom.modules.freenoise import apply_index_map

    case = cases[(40, seed)]
    expected = case["official_random_shuffle" if mode == "official" else "diffusers_shuffle_context"]
    latent = torch.zeros(40, 4, 64, 64)
    base, got = sampled_noise(freenoise(fancy, noise_mode=mode), conds, latent, seed)
    assert torch.equal(got, apply_index_map(base, expected, frame_dim=0))
    assert expected != list(range(40))  # the reference really shuffles


@pytest.mark.parametrize("mode", ["official", "diffusers"])
def test_any_sampler_and_length_gets_the_shuffle(fancy, conds, mode):
    from FrameLoom.modules.freenoise import apply_index_map, shuffle_index_map

    latent = torch.zeros(30, 4, 8, 8)  # (30 - 16) % 4 != 0: truncated last group
    base, got = sampled_noise(freenoise(fancy, noise_mode=mode), conds, latent, 7, sampler_name="dpmpp_2m")
    kwargs = {"seed": 7} if mode == "official" else {"seed": 7, "noise_shape": tuple(latent.shape)}
    index_map = shuffle_index_map(30, 16, 4, mode=mode, **kwargs)
    assert torch.equal(got, apply_index_map(base, index_map, frame_dim=0))
    assert all(i < 16 for i in index_map)  # every frame copies one of the first window's frames


def test_shuffle_seed_overrides_the_sampler_seed(fancy, conds):
    from FrameLoom.modules.freenoise import apply_index_map, shuffle_index_map

    latent = torch.zeros(40, 4, 8, 8)
    base, got = sampled_noise(freenoise(fancy, shuffle_seed=5), conds, latent, 9)
    assert torch.equal(got, apply_index_map(base, shuffle_index_map(40, mode="official", seed=5), frame_dim=0))
    assert not torch.equal(got, apply_index_map(base, shuffle_index_map(40, mode="official", seed=9), frame_dim=0))


def test_window_and_stride_follow_the_settings(fancy, conds):
    from FrameLoom.modules.freenoise import apply_index_map, shuffle_index_map

    latent = torch.zeros(32, 4, 8, 8)
    base, got = sampled_noise(freenoise(fancy, context_length=8, stride=2), conds, latent, 3)
    assert torch.equal(got, apply_index_map(base, shuffle_index_map(32, 8, 2, mode="official", seed=3), frame_dim=0))


def test_short_videos_and_mode_off_keep_the_noise(fancy, conds):
    base, got = sampled_noise(freenoise(fancy), conds, torch.zeros(16, 4, 8, 8), 1)
    assert torch.equal(got, base)  # one window: plain
    base, got = sampled_noise(freenoise(fancy, noise_mode="off"), conds, torch.zeros(40, 4, 8, 8), 1)
    assert torch.equal(got, base)


def test_several_videos_in_one_batch_are_rescheduled_apart(frameloom, comfy_runtime, vectors_dir, conds):
    from FrameLoom.modules.freenoise import shuffle_index_map

    model = freenoise(tiny.fancyvideo_model(comfy_runtime, vectors_dir, num_frames=24))
    base, got = sampled_noise(model, conds, torch.zeros(48, 4, 8, 8), 2)
    index_map = shuffle_index_map(24, mode="official", seed=2)
    for video in range(2):
        assert torch.equal(got[24 * video: 24 * (video + 1)], base[24 * video: 24 * (video + 1)][index_map])


def test_without_freenoise_the_noise_is_untouched(fancy, conds):
    base, got = sampled_noise(fancy, conds, torch.zeros(40, 4, 8, 8), 1)
    assert torch.equal(got, base)


def test_prompt_schedule_of_another_length_is_refused(frameloom, fancy, clip, conds):
    from FrameLoom.nodes.freenoise import encode_prompt_schedule

    schedule = encode_prompt_schedule(clip, '"0": "a camel", "20": "a horse"', 24)
    with pytest.raises(ValueError, match="made for 24 frames, but the latent video has 40"):
        sampled_noise(freenoise(fancy), (schedule, conds[1]), torch.zeros(40, 4, 8, 8), 0)


def test_noise_of_other_layouts_is_refused(frameloom):
    from FrameLoom.nodes.freenoise.noise_wrapper import NoiseRescheduler

    with pytest.raises(ValueError, match=r"\[frames, channels, height, width\]"):
        NoiseRescheduler("official", 16, 4).reschedule(torch.zeros(1, 4, 40, 8, 8), 0)
    with pytest.raises(ValueError, match="does not split into videos of 24"):
        NoiseRescheduler("official", 16, 4, video_frames=24).reschedule(torch.zeros(40, 4, 8, 8), 0)
