"""RAFT-large in our PyTorch: both published key layouts, strict loading, and the forward pass with random weights.

No RAFT weights can be downloaded here, so these tests use seeded random tensors in the official layouts. The
layouts are checked against facts of the published models (torchvision lists 5,257,536 parameters for
raft_large; known key names and shapes of raft-things.pth and the torchvision files), and every key of both
layouts must map onto our model. Random weights give meaningless flow: only shapes, finiteness, padding and the
equivalence of the two layouts are asserted here.
"""
from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import save_file

from modules.common import CheckpointError
from modules.flow import (
    LAYOUTS,
    RAFT,
    RaftFlow,
    detect_layout,
    flow_pairs,
    load_raft,
    load_raft_file,
    official_layout,
    our_layout,
    pad_to_multiple,
    raft_flow,
    random_official_state,
    rename_key,
    synthetic_clip,
)
from modules.flow.raft_corr import CorrPyramid
from modules.flow.raft_update import convex_upsample

TORCHVISION_RAFT_LARGE_PARAMS = 5_257_536  # Raft_Large_Weights meta "num_params"


def as_torchvision(princeton: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same weights under torchvision's names, matched through our names."""
    by_ours = {rename_key(k, "princeton"): v for k, v in princeton.items()}
    return {k: by_ours[rename_key(k, "torchvision")] for k in official_layout("torchvision")}


@pytest.fixture(scope="module")
def princeton_state():
    return random_official_state("princeton")


@pytest.fixture(scope="module")
def model(princeton_state):
    return load_raft({f"module.{k}": v for k, v in princeton_state.items()})


def _params(layout: dict) -> int:
    return sum(math.prod(s) for k, s in layout.items() if k.rsplit(".", 1)[-1] in ("weight", "bias"))


def test_layouts_match_the_published_models():
    tv, pr = official_layout("torchvision"), official_layout("princeton")
    assert _params(tv) == TORCHVISION_RAFT_LARGE_PARAMS
    assert sum(p.numel() for p in RAFT().parameters()) == TORCHVISION_RAFT_LARGE_PARAMS
    # norm3 duplicates downsample.1 in princeton-vl's files (2 blocks × 5 tensors of the context encoder).
    assert len(pr) == len(tv) + 10 and sum(".norm3." in k for k in pr) == 10
    assert tv["update_block.motion_encoder.convcorr1.0.weight"] == (256, 324, 1, 1)  # 4 levels × 9² lookups
    assert tv["mask_predictor.conv.weight"] == (576, 256, 1, 1)
    assert pr["update_block.mask.2.weight"] == (576, 256, 1, 1)
    assert pr["update_block.gru.convq2.weight"] == (128, 384, 5, 1)
    assert pr["cnet.layer3.0.downsample.1.running_var"] == (128,)
    assert "fnet.norm1.weight" not in pr and "feature_encoder.convnormrelu.1.weight" not in tv  # instance norm


@pytest.mark.parametrize("layout", LAYOUTS)
def test_key_mapping_is_exhaustive(layout):
    official = official_layout(layout)
    ours = our_layout()
    renamed: dict[str, tuple[int, ...]] = {}
    for key, shape in official.items():
        name = rename_key(key, layout)
        assert name is not None, f"{key} has no rule"
        assert renamed.setdefault(name, shape) == shape
    assert renamed == ours  # every official key lands on one of ours with its shape, and every one of ours is fed


def test_both_layouts_load_the_same_network(princeton_state, model):
    other = load_raft(as_torchvision(princeton_state))
    assert detect_layout(as_torchvision(princeton_state)) == "torchvision"
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert not model.training and next(model.parameters()).dtype == torch.float32


def test_forward_pass_shapes_and_padding(model):
    gen = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 3, 60, 84, generator=gen), torch.rand(2, 3, 60, 84, generator=gen)
    with torch.inference_mode():
        flow = raft_flow(model, a, b, iters=3)
        # Padding is edge replication split evenly, and the flow is cropped back to the input size.
        padded, pad = pad_to_multiple(a)
        assert padded.shape[-2:] == (64, 88) and pad == (2, 2, 2, 2)
        direct = model(2 * padded - 1, 2 * pad_to_multiple(b)[0] - 1, iters=3)[..., 2:62, 2:86]
    assert flow.shape == (2, 2, 60, 84) and torch.isfinite(flow).all()
    assert torch.equal(flow, direct)
    assert flow.abs().max() > 0  # the update operator really ran


def test_estimator_in_flow_pairs(model):
    clip = synthetic_clip(num_frames=3, height=64, width=72)
    forward, backward = flow_pairs(clip.frames, estimator=RaftFlow(model, iters=2))
    assert forward.shape == backward.shape == (3, 2, 64, 72)
    assert torch.isfinite(forward).all() and torch.isfinite(backward).all()
    assert not forward[0].any() and forward[1:].abs().amax() > 0


def test_too_small_frames_are_refused(model):
    with pytest.raises(ValueError, match="at least 64×64"):
        raft_flow(model, torch.rand(1, 3, 48, 96), torch.rand(1, 3, 48, 96))


def test_correlation_lookup_channel_order():
    """Within a level, channel i·9 + j holds the x offset i − 4 and the y offset j − 4 (the official order)."""
    h, w = 8, 8
    fmap1 = torch.eye(h * w).T.reshape(1, h * w, h, w)  # one-hot features: correlation 1 only at the same pixel
    fmap2 = torch.roll(fmap1, shifts=(1, 2), dims=(2, 3))  # content moved by dx = +2, dy = +1
    pyramid = CorrPyramid(fmap1, fmap2, levels=1)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    features = pyramid.lookup(torch.stack([xs, ys])[None])[0]  # (81, h, w) at the zero-flow position
    peak = features[:, 3, 3].argmax().item()
    assert peak == (4 + 2) * 9 + (4 + 1)


def test_convex_upsampling_is_a_convex_combination():
    flow = torch.randn(1, 2, 4, 5)
    constant = torch.ones(1, 2, 4, 5) * torch.tensor([1.5, -2.0]).view(1, 2, 1, 1)
    mask = torch.randn(1, 576, 4, 5)
    up = convex_upsample(constant, mask)
    assert up.shape == (1, 2, 32, 40)
    assert torch.allclose(up[..., 8:24, 8:32], 8 * constant[..., :1, :1].expand(1, 2, 16, 24), atol=1e-5)
    fine = convex_upsample(flow, mask)  # every fine value lies between the coarse neighbourhood's extremes (×8)
    assert fine.max() <= 8 * flow.max() + 1e-5 and fine.min() >= 8 * flow.min() - 1e-5


def test_files_in_both_formats_load(tmp_path, princeton_state):
    pth = tmp_path / "raft-things.pth"
    torch.save({f"module.{k}": v for k, v in princeton_state.items()}, str(pth))
    st = tmp_path / "raft_large.safetensors"
    save_file({k: v.contiguous() for k, v in as_torchvision(princeton_state).items()}, str(st))
    a, b = load_raft_file(pth), load_raft_file(st)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_missing_file_says_where_to_put_it(tmp_path):
    with pytest.raises(CheckpointError, match=r"models/frameloom/flow/.*raft-things\.pth"):
        load_raft_file(tmp_path / "raft-things.pth")


def test_deduplicated_aliases_load(princeton_state, model):
    """safetensors' save_model keeps one name of a shared tensor; either of norm3 / downsample.1 is enough."""
    for dropped in (".norm3.", ".downsample.1."):
        state = {k: v for k, v in princeton_state.items() if dropped not in k}
        assert len(state) == len(princeton_state) - 10
        loaded = load_raft(state)
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_optional_batch_norm_counters(princeton_state):
    state = {k: v for k, v in princeton_state.items() if not k.endswith("num_batches_tracked")}
    assert load_raft(state).context_net.stem.norm.num_batches_tracked.item() == 0


def test_layout_errors_name_the_problem(princeton_state):
    with pytest.raises(CheckpointError, match="not a RAFT checkpoint.*conv_in.weight"):
        load_raft({"conv_in.weight": torch.zeros(4, 3, 3, 3)})
    missing = dict(princeton_state)
    del missing["update_block.mask.2.weight"]
    with pytest.raises(CheckpointError, match="princeton layout: 1 missing: update_block.mask.2.weight"):
        load_raft(missing)
    extra = {**as_torchvision(princeton_state), "extra.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match="torchvision layout: 1 unexpected: extra.weight"):
        load_raft(extra)
    small = dict(princeton_state)
    small["fnet.conv1.weight"] = torch.zeros(32, 3, 7, 7)
    with pytest.raises(CheckpointError, match="wrong shape.*RAFT-small"):
        load_raft(small)
    broken = dict(princeton_state)
    broken["cnet.layer2.0.norm3.weight"] = broken["cnet.layer2.0.norm3.weight"] + 1
    with pytest.raises(CheckpointError, match="registered twice"):
        load_raft(broken)
