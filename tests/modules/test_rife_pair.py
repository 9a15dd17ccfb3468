"""interpolate_pair: the versions without vectors, odd sizes and padding, timesteps, precision, the warp, errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from modules.rife import expected_layout, interpolate_pair, interpolate_pair_detailed, load_ifnet, pad_multiple
from modules.rife.warp import warp
from tests.support.rife_weights import read_key_dump, rebuild_weights

NO_VECTOR_VERSIONS = ("4.14.lite", "4.15.lite", "4.22.lite", "4.25.lite", "4.26.heavy")


def smooth_pair(height: int, width: int, shift: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random image and a horizontally shifted copy: a pair with real, small motion."""
    gen = torch.Generator().manual_seed(seed)
    img0 = F.interpolate(torch.rand(1, 3, 6, 9, generator=gen), size=(height, width), mode="bilinear")
    return img0, torch.roll(img0, shift, dims=3)


@pytest.fixture(scope="module")
def net_4_25():
    return load_ifnet(rebuild_weights(expected_layout("4.25")))


@pytest.mark.parametrize("version", NO_VECTOR_VERSIONS)
def test_versions_without_vectors(reference_dir, version):
    keys = read_key_dump(reference_dir)[version]["keys"]
    assert expected_layout(version) == {k: tuple(s) for k, s in keys.items()}
    net = load_ifnet(rebuild_weights(keys))
    assert net.version == version
    img0, img1 = smooth_pair(45, 70)
    out = interpolate_pair_detailed(net, img0, img1, 0.5)
    assert out.frame.shape == (1, 3, 45, 70) and out.flow.shape == (1, 4, 45, 70)
    assert out.mask_logits.shape == (1, 1, 45, 70)
    assert torch.isfinite(out.frame).all() and torch.isfinite(out.flow).all()
    assert out.frame.dtype == torch.float32


def test_padding_multiple(net_4_25):
    assert pad_multiple(net_4_25, 1.0) == 64 and pad_multiple(net_4_25, 0.5) == 128 and pad_multiple(net_4_25, 2.0) == 64


def test_odd_size_is_padded_bottom_right_and_cropped(net_4_25):
    img0, img1 = smooth_pair(67, 101)
    out = interpolate_pair(net_4_25, img0, img1, 0.5)
    assert out.shape == (1, 3, 67, 101) and torch.isfinite(out).all()
    # Same result as zero-padding to 128x128 by hand (the official video script's padding) and cropping.
    padded = [F.pad(x, (0, 128 - 101, 0, 128 - 67)) for x in (img0, img1)]
    manual = interpolate_pair(net_4_25, *padded, 0.5)[:, :, :67, :101]
    assert torch.equal(out, manual)


def test_per_sample_timesteps_match_float_calls(net_4_25):
    img0, img1 = smooth_pair(64, 64)
    batched = interpolate_pair(net_4_25, img0.expand(2, -1, -1, -1), img1.expand(2, -1, -1, -1), torch.tensor([0.25, 0.75]))
    for i, t in enumerate((0.25, 0.75)):
        single = interpolate_pair(net_4_25, img0, img1, t)
        assert torch.allclose(batched[i:i + 1], single, atol=1e-6, rtol=0)
    assert (batched[0] - batched[1]).abs().max() > 1e-3  # the timestep really changes the frame


def test_ensemble_refused_for_versions_without_it(net_4_25):
    img0, img1 = smooth_pair(64, 64)
    with pytest.raises(ValueError, match="ensemble is not supported by RIFE 4.25"):
        interpolate_pair(net_4_25, img0, img1, 0.5, ensemble=True)


def test_bad_inputs(net_4_25):
    img0, img1 = smooth_pair(64, 64)
    with pytest.raises(ValueError, match=r"\[N,3,H,W\].*\[3, 64, 64\]"):
        interpolate_pair(net_4_25, img0[0], img1[0], 0.5)
    with pytest.raises(ValueError, match="same shape"):
        interpolate_pair(net_4_25, img0, img1[:, :, :32], 0.5)
    with pytest.raises(ValueError, match="scale must be one of"):
        interpolate_pair(net_4_25, img0, img1, 0.5, scale=0.3)
    with pytest.raises(ValueError, match="one per sample"):
        interpolate_pair(net_4_25, img0, img1, torch.tensor([0.2, 0.4, 0.6]))


@pytest.mark.parametrize("dtype, atol", [(torch.float16, 3e-2), (torch.bfloat16, 6e-2)])
def test_half_precision_net(dtype, atol):
    net = load_ifnet(rebuild_weights(expected_layout("4.15.lite")))
    img0, img1 = smooth_pair(45, 70)
    reference = interpolate_pair(net, img0, img1, 0.5)
    net.to(dtype)
    out = interpolate_pair(net, img0, img1, 0.5)
    assert out.dtype == torch.float32 and out.shape == reference.shape
    assert (out - reference).abs().max().item() < atol


def test_warp_integer_shift_and_border():
    image = torch.arange(2 * 5 * 7, dtype=torch.float32).view(1, 2, 5, 7)
    flow = torch.zeros(1, 2, 5, 7)
    flow[:, 0] = 1.0  # sample one pixel to the right
    out = warp(image, flow)
    assert torch.allclose(out[..., :-1], image[..., 1:], atol=1e-4)
    assert torch.allclose(out[..., -1], image[..., -1], atol=1e-4)  # border padding repeats the edge
    flow = torch.zeros(1, 2, 5, 7)
    flow[:, 1] = -2.0  # two pixels up
    assert torch.allclose(warp(image, flow)[..., 2:, :], image[..., :-2, :], atol=1e-4)


def test_warp_runs_in_float32():
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 9, 11, generator=gen).half()
    flow = (torch.rand(1, 2, 9, 11, generator=gen) * 4 - 2).half()
    out = warp(image, flow)
    assert out.dtype == torch.float16
    assert torch.equal(out, warp(image.float(), flow.float()).half())
