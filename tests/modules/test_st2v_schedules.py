"""Enhancer and StreamingSVD schedules against st2v_schedules.safetensors (README §5.8, 1e-6 relative)."""
import pytest
import torch
from safetensors.torch import load_file

from modules.streamingt2v.schedules import (
    ays_sigmas,
    linear_guider_scale,
    logsnr_cosine_interp_sigmas,
    msvid2vidxl_sampling_sigmas,
    sampling_timesteps,
    sigma_to_t,
    t_to_sigma,
)

RTOL = 1e-6


@pytest.fixture(scope="module")
def vec(vectors_dir):
    return load_file(str(vectors_dir / "st2v_schedules.safetensors"))


def assert_close_rel(actual, expected):
    assert actual.shape == expected.shape
    assert torch.equal(torch.isnan(actual), torch.isnan(expected))
    keep = ~torch.isnan(expected)
    a, e = actual[keep].double(), expected[keep].double()
    assert ((a - e).abs() <= RTOL * e.abs()).all(), ((a - e).abs() / e.abs().clamp_min(1e-30)).max()


@pytest.fixture(scope="module")
def train_sigmas():
    return logsnr_cosine_interp_sigmas()


def test_train_sigmas(vec, train_sigmas):
    assert_close_rel(train_sigmas, vec["msvid2vidxl.train_sigmas_1000"])
    assert train_sigmas[-1].item() == 1.0  # zero terminal SNR


def test_sampling_sigmas_and_t(vec, train_sigmas):
    sigmas, t = msvid2vidxl_sampling_sigmas(train_sigmas, steps=30, t_max=599)
    assert_close_rel(sigmas, vec["msvid2vidxl.sampling_sigmas_tmax599_30steps_trailing"])
    assert_close_rel(t, vec["msvid2vidxl.sampling_t_continuous"])
    assert sigmas[-1].item() == 0.0 and torch.isnan(t[-1])
    # t and sigma are two views of the same point of the schedule.
    assert_close_rel(sigma_to_t(train_sigmas, sigmas[:-1]), vec["msvid2vidxl.sampling_t_continuous"][:-1])


def test_terminal_sigma_is_infinite(train_sigmas):
    assert torch.isinf(t_to_sigma(train_sigmas, torch.tensor([999.0]))).all()
    assert sigma_to_t(train_sigmas, torch.tensor([float("inf")])).item() == 999


def test_discard_penultimate_step_keeps_step_count(train_sigmas):
    kept, _ = msvid2vidxl_sampling_sigmas(train_sigmas, steps=30, discard_penultimate_step=False)
    dropped, _ = msvid2vidxl_sampling_sigmas(train_sigmas, steps=30)
    assert len(kept) == len(dropped) == 31
    assert len(sampling_timesteps(10, 599, discretization="linspace", discard_penultimate_step=False)) == 10
    with pytest.raises(ValueError, match="discretization"):
        sampling_timesteps(10, 599, discretization="karras")


def test_streamingsvd_sigmas_and_guider(vec):
    assert_close_rel(ays_sigmas(30).float(), vec["streamingsvd.ays_sigmas_30_plus_zero"])
    assert_close_rel(linear_guider_scale(25, 1.5, 3.0), vec["streamingsvd.linear_guider_scale_25"])
    with pytest.raises(ValueError, match="at least 2 steps"):
        ays_sigmas(1)
