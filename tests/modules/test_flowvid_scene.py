"""Scene-cut guard: a cut is found by colour histogram or by flow consistency and reported with its frame index."""
import pytest
import torch

from modules.flowvid import SceneCutError, flow_cuts, histogram_cuts, histogram_distances, require_single_scene


def shot(seed: int, tint: torch.Tensor, frames: int = 4) -> torch.Tensor:
    """A textured shot panning one pixel per frame."""
    g = torch.Generator().manual_seed(seed)
    texture = (torch.rand(3, 32, 40, generator=g) * 0.3 + tint.view(3, 1, 1)).clamp(0, 1)
    return torch.stack([texture[:, :, i : i + 32] for i in range(frames)])


@pytest.fixture(scope="module")
def video():
    return torch.cat([shot(0, torch.tensor([0.1, 0.2, 0.5])), shot(1, torch.tensor([0.6, 0.5, 0.1]))])


def test_histogram_distance_is_small_within_a_shot_and_large_at_a_cut(video):
    d = histogram_distances(video)
    assert d.shape == (7,)
    assert d[3] > 0.9 and torch.cat([d[:3], d[4:]]).max() < 0.2
    assert histogram_distances(video[:2].clone().fill_(0.5)).item() == 0.0


def test_histogram_cut_names_the_frame(video):
    cuts = histogram_cuts(video, first_index=100)
    assert [c.frame for c in cuts] == [104]
    with pytest.raises(SceneCutError, match=r"between frames 103 and 104 .*split the video at frame 104"):
        require_single_scene(cuts)


def test_single_shot_passes(video):
    require_single_scene(histogram_cuts(video[:4]))


def test_flow_cut_from_inconsistent_flow():
    # Pairs 0->1 and 2->3: a consistent 1-pixel pan. Pair 1->2: unrelated flows, as an estimator gives across a cut.
    fwd = torch.zeros(3, 2, 16, 16)
    fwd[:, 0] = 1.0
    bwd = -fwd.clone()
    g = torch.Generator().manual_seed(0)
    fwd[1] = torch.randn(2, 16, 16, generator=g) * 6
    bwd[1] = torch.randn(2, 16, 16, generator=g) * 6
    cuts = flow_cuts(fwd, bwd, first_index=10)
    assert [c.frame for c in cuts] == [12] and cuts[0].method == "flow"


def test_bad_input():
    with pytest.raises(ValueError, match="N >= 2"):
        histogram_distances(torch.rand(1, 3, 8, 8))
