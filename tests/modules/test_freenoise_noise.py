"""FreeNoise noise rescheduling against vectors/freenoise_noise_schedule.json (exact integer index maps)."""
from __future__ import annotations

import json
import random

import pytest
import torch

from modules.freenoise import apply_index_map, reschedule_noise, shuffle_index_map

CASE_IDS = [f"F{f}_seed{s}" for f in (64, 40, 30) for s in (0, 123)]


@pytest.fixture(scope="module")
def cases(vectors_dir):
    data = json.loads((vectors_dir / "freenoise_noise_schedule.json").read_text())
    by_id = {f"F{c['num_frames']}_seed{c['seed']}": c for c in data["cases"]}
    assert sorted(by_id) == sorted(CASE_IDS)
    return by_id


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_official_map_matches_vector(cases, case_id):
    case = cases[case_id]
    got = shuffle_index_map(case["num_frames"], case["window"], case["stride"], mode="official", seed=case["seed"])
    assert got == case["official_random_shuffle"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_diffusers_noise_matches_vector(cases, case_id):
    case = cases[case_id]
    frames, seed = case["num_frames"], case["seed"]
    shape = (1, 4, frames, 64, 64)  # the 512x512 latent the vector was drawn for
    noise, index_map = reschedule_noise(shape, seed, "diffusers", frame_dim=2)
    assert index_map == case["diffusers_shuffle_context"]
    base = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))
    assert torch.equal(noise, base[:, :, index_map])
    # The same map from seed + noise shape alone (the draw is replayed).
    assert shuffle_index_map(frames, mode="diffusers", seed=seed, noise_shape=shape) == index_map


def test_diffusers_map_depends_on_noise_shape(cases):
    case = cases["F64_seed0"]
    other = shuffle_index_map(64, mode="diffusers", seed=0, noise_shape=(1, 4, 64, 32, 32))
    assert other != case["diffusers_shuffle_context"]


def test_official_mode_leaves_global_random_alone():
    random.seed(7)
    before = random.getstate()
    shuffle_index_map(40, mode="official", seed=0)
    assert random.getstate() == before


@pytest.mark.parametrize("mode", ["official", "diffusers"])
@pytest.mark.parametrize("frames,stride", [(30, 4), (37, 3), (50, 8)])
def test_groups_are_permutations_of_the_first_window(mode, frames, stride):
    gen = torch.Generator("cpu").manual_seed(1)
    index_map = shuffle_index_map(frames, 16, stride, mode=mode, seed=5, generator=gen)
    assert index_map[:16] == list(range(16))
    assert all(0 <= i < 16 for i in index_map)
    for fi in range(16, frames, stride):
        group = index_map[fi:fi + stride]
        source = index_map[fi - 16:fi - 16 + stride]
        assert set(group) <= set(source) and len(set(group)) == len(group)


@pytest.mark.parametrize("mode", ["official", "diffusers"])
def test_no_shuffle_within_one_window(mode):
    noise, index_map = reschedule_noise((1, 4, 12, 2, 2), 3, mode)
    assert index_map == list(range(12))
    assert torch.equal(noise, torch.randn((1, 4, 12, 2, 2), generator=torch.Generator().manual_seed(3)))


def test_apply_index_map_any_layout():
    # ComfyUI latents put frames first: [F, C, H, W].
    noise = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 4, 2, 2)
    out = apply_index_map(noise, [0, 1, 0, 2, 1], frame_dim=0)
    assert out[:, 0, 0, 0].tolist() == [0.0, 1.0, 0.0, 2.0, 1.0]
    channels_last = noise.permute(1, 2, 3, 0)
    assert torch.equal(apply_index_map(channels_last, [0, 1, 0, 2, 1], frame_dim=-1), out.permute(1, 2, 3, 0))


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="unknown noise shuffle mode 'numpy'"):
        shuffle_index_map(20, mode="numpy", seed=0)
    with pytest.raises(ValueError, match="stride must be .* between 1 and context_length \\(16\\)"):
        shuffle_index_map(40, 16, 20, mode="official", seed=0)
    with pytest.raises(ValueError, match="generator that drew the base noise"):
        shuffle_index_map(40, mode="diffusers", seed=0)
    with pytest.raises(ValueError, match="needs a seed"):
        shuffle_index_map(40, mode="official")
    with pytest.raises(ValueError, match="index map has 3 entries but the noise has 5 frames"):
        apply_index_map(torch.zeros(5, 2), [0, 1, 2], frame_dim=0)
    with pytest.raises(ValueError, match="must lie in 0..4"):
        apply_index_map(torch.zeros(5, 2), [0, 1, 2, 3, 5], frame_dim=0)
