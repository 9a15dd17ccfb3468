"""Canny hints for FlowVid-style spatial conditioning (kornia)."""
import pytest
import torch

from modules.flowvid import canny_hint


def square(size: int = 32, lo: int = 8, hi: int = 24) -> torch.Tensor:
    image = torch.zeros(1, size, size, 3)
    image[:, lo:hi, lo:hi] = 1.0
    return image


def test_edges_lie_on_the_square_outline_only():
    edges = canny_hint(square())[0, :, :, 0]
    assert edges.sum() > 40
    rows, cols = edges.nonzero(as_tuple=True)
    on_outline = ((rows - 7.5).abs() <= 1) | ((rows - 23.5).abs() <= 1) | ((cols - 7.5).abs() <= 1) | (
        (cols - 23.5).abs() <= 1)
    assert on_outline.all()
    assert edges[12:20, 12:20].sum() == 0 and edges[:4].sum() == 0


def test_flat_frames_have_no_edges_and_chunks_do_not_matter():
    frames = torch.cat([torch.full((1, 32, 32, 3), 0.3), square(), square(lo=4, hi=20)])
    whole = canny_hint(frames)
    assert whole[0].sum() == 0
    assert torch.equal(canny_hint(frames, chunk=1), whole)
    assert whole.shape == (3, 32, 32, 3) and torch.equal(whole[..., 0], whole[..., 2])


def test_bad_thresholds_and_shapes_are_refused():
    with pytest.raises(ValueError, match="0 <= low < high"):
        canny_hint(square(), low=0.3, high=0.2)
    with pytest.raises(ValueError, match="IMAGE batch"):
        canny_hint(torch.zeros(32, 32, 3))
