"""FlowVid warp, occlusion, gray fill and latent mask against flowvid_warp_occlusion.safetensors (bit-exact)."""
import pytest
import torch
from safetensors.torch import load_file

from modules.flowvid import (
    consistency_occlusion,
    gray_fill,
    inbounds_mask,
    mask_to_latent,
    warp_backward,
    warp_condition,
)


@pytest.fixture(scope="module")
def vec(vectors_dir):
    return load_file(str(vectors_dir / "flowvid_warp_occlusion.safetensors"))


def assert_exact(actual, expected):
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max().item() == 0.0


def test_warp_and_inbounds(vec):
    assert_exact(warp_backward(vec["in.I1_edited"], vec["in.flow_bwd_i_to_1"]), vec["out.warped_raw"])
    assert_exact(inbounds_mask(vec["in.flow_bwd_i_to_1"]), vec["out.warped_inbounds"])


def test_occlusion(vec):
    occ_fwd, occ_bwd = consistency_occlusion(vec["in.flow_fwd_1_to_i"], vec["in.flow_bwd_i_to_1"])
    assert_exact(occ_fwd, vec["out.occ_fwd"])
    assert_exact(occ_bwd, vec["out.occ_bwd"])
    assert 0 < occ_bwd.sum() < occ_bwd.numel()  # the scene really has occlusions to find


def test_gray_fill_and_latent_masks(vec):
    occ = vec["out.occ_bwd"]
    assert_exact(gray_fill(vec["out.warped_raw"], occ), vec["out.warped_gray_filled"])
    assert_exact(mask_to_latent(occ, mode="nearest"), vec["out.occ_latent_nearest"])
    assert_exact(mask_to_latent(occ), vec["out.occ_latent_maxpool8"])  # max-pool is the default
    assert not torch.equal(vec["out.occ_latent_nearest"], vec["out.occ_latent_maxpool8"])


def test_warp_condition_composes_the_pieces(vec):
    cond = warp_condition(vec["in.I1_edited"], vec["in.flow_fwd_1_to_i"], vec["in.flow_bwd_i_to_1"])
    # In this scene every out-of-bounds pixel is also occluded, so graying them too changes nothing.
    assert_exact(cond.warped, vec["out.warped_gray_filled"])
    assert_exact(cond.mask, vec["out.occ_bwd"])
    assert_exact(cond.latent_mask, vec["out.occ_latent_maxpool8"])


def test_one_image_is_warped_by_every_flow(vec):
    flows = torch.cat([vec["in.flow_bwd_i_to_1"], torch.zeros_like(vec["in.flow_bwd_i_to_1"])])
    out = warp_backward(vec["in.I1_edited"], flows)
    assert_exact(out[:1], vec["out.warped_raw"])
    assert_exact(out[1:], vec["in.I1_edited"])  # zero flow is the identity with align_corners=True


def test_integer_shift_moves_pixels():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    flow = torch.zeros(1, 2, 4, 4)
    flow[:, 0] = 1.0  # sample one column to the right
    out = warp_backward(image, flow)
    assert torch.equal(out[0, 0, :, :3], image[0, 0, :, 1:])
    assert torch.equal(out[0, 0, :, 3], torch.zeros(4))
    assert torch.equal(inbounds_mask(flow)[0, :, 3], torch.zeros(4))


def test_bad_input(vec):
    flow = vec["in.flow_bwd_i_to_1"]
    with pytest.raises(ValueError, match=r"\(batch, 2, H, W\)"):
        warp_backward(vec["in.I1_edited"], flow[:, :1])
    with pytest.raises(ValueError, match="flow's size"):
        warp_backward(vec["in.I1_edited"][..., :16], flow)
    with pytest.raises(ValueError, match="multiple of 8"):
        mask_to_latent(torch.zeros(1, 30, 32))
    with pytest.raises(ValueError, match="resize mode"):
        mask_to_latent(torch.zeros(1, 32, 32), mode="bilinear")


def test_half_precision_image_keeps_the_dtype(vec):
    out = warp_backward(vec["in.I1_edited"].half(), vec["in.flow_bwd_i_to_1"])
    assert out.dtype == torch.float16
    assert (out.float() - vec["out.warped_raw"]).abs().max() <= 1e-3
