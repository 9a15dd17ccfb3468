"""The randomized-blending MODEL patch inside real ComfyUI sampling runs, with a fake video model whose x0 prediction
for a chunk is that chunk's index: the assembled x0 of every step must be modules.streamingt2v.blending.frame_to_chunk
for the offsets drawn, and in "official" mode exactly the official sampler's maps (st2v_randomized_blending.json).

A test wrapper inside the patch answers each chunk call (reading the chunk's frame indices from a per-frame
condition, which the patch must cut along with the latent); one outside records what the patch returns.
"""
from __future__ import annotations

import importlib
import json
import logging

import pytest
import torch

pytestmark = pytest.mark.comfy

H = W = 2


class FakeUNet(torch.nn.Module):
    dtype = torch.float32

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, *args, **kwargs):
        raise AssertionError("the test's inner wrapper answers every model call")


class ChunkIndexModel:
    """Inner APPLY_MODEL wrapper: x0 of a chunk = its index; checks that the chunk's frames and conditions agree."""

    def __init__(self, starts: list[int], chunk: int, five_d: bool) -> None:
        self.starts, self.chunk, self.five_d = starts, chunk, five_d

    def __call__(self, executor, x, t, c_concat, c_crossattn, control, transformer_options, **kwargs):
        branches = len(transformer_options["cond_or_uncond"])
        frames = c_concat[:, 0, :, 0, 0] if self.five_d else c_concat[:, 0, 0, 0].reshape(branches, -1)
        start = int(frames[0, 0])
        assert frames.tolist() == [list(range(start, start + self.chunk))] * len(frames)
        assert (x.shape[2] if self.five_d else x.shape[0] // branches) == self.chunk
        return torch.full_like(x, float(self.starts.index(start)))


class Recorder:
    """Outer APPLY_MODEL wrapper: the patch's assembled x0 per call, as per-branch frame maps."""

    def __init__(self, five_d: bool) -> None:
        self.five_d, self.maps = five_d, []

    def __call__(self, executor, x, t, c_concat, c_crossattn, control, transformer_options, **kwargs):
        out = executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)
        branches = transformer_options["cond_or_uncond"]
        per_branch = out[:, 0, :, 0, 0] if self.five_d else out[:, 0, 0, 0].reshape(len(branches), -1)
        self.maps += [(branch, [int(v) for v in row]) for branch, row in zip(branches, per_branch)]
        return out


@pytest.fixture(scope="module")
def blending(frameloom):
    return importlib.import_module("FrameLoom.nodes.streamingt2v.blending")


def fake_video_model():
    import comfy.model_base
    import comfy.model_patcher

    from FrameLoom.nodes.streamingt2v.model import StreamingT2VModelConfig

    model = comfy.model_base.BaseModel(StreamingT2VModelConfig({"disable_unet_model_creation": True}))
    model.diffusion_model = FakeUNet()
    return comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))


def sample_blended(blending, frames: int, options, steps: int, five_d: bool = False, cfg: float = 1.0, split_cfg=False):
    """Sample a `frames`-frame latent with the patch; returns (latent out, recorded maps, inner model's starts)."""
    import comfy.sample

    from FrameLoom.modules.streamingt2v import chunk_starts, ms_trim_length

    kept = ms_trim_length(frames, options.chunk_size, options.overlap).trim_length
    starts = chunk_starts(kept, options.chunk_size, options.overlap)
    recorder = Recorder(five_d)
    model = fake_video_model()
    model.add_wrapper_with_key("apply_model", "test_recorder", recorder)
    model = blending.apply_randomized_blending(model, options)
    model.add_wrapper_with_key("apply_model", "test_chunk_index", ChunkIndexModel(starts, options.chunk_size, five_d))
    index = torch.arange(frames, dtype=torch.float32)
    if five_d:
        latent, tag = torch.zeros(1, 4, frames, H, W), index.view(1, 1, -1, 1, 1).expand(1, 1, frames, H, W)
    else:
        latent, tag = torch.zeros(frames, 4, H, W), index.view(-1, 1, 1, 1).expand(frames, 1, H, W)
    # Text contexts of 4 and 20 tokens cannot be batched together: ComfyUI then evaluates cond and uncond apart.
    negative_tokens = 20 if split_cfg else 4
    positive = [[torch.zeros(1, 4, 8), {"noise_concat": tag.clone()}]]
    negative = [[torch.zeros(1, negative_tokens, 8), {"noise_concat": tag.clone()}]]
    out = comfy.sample.sample(
        model, torch.zeros_like(latent), steps, cfg, "euler", "normal", positive, negative, latent, seed=0
    )
    return out, recorder.maps, starts


@pytest.mark.parametrize("case", ["ms_vid2vid_24_8_N56", "ms_vid2vid_56_32_N80", "ms_vid2vid_24_8_N24"])
def test_official_mode_reproduces_the_official_maps(blending, vectors_dir, case):
    ref = json.loads((vectors_dir / "st2v_randomized_blending.json").read_text())["modelscope_branch_model_fn_cases"][case]
    options = blending.BlendingOptions(ref["chunk_size"], ref["overlap_size"], ref["python_random_seed"], "official")
    steps = len(ref["frame_to_chunk_per_step"])
    out, maps, starts = sample_blended(blending, ref["n_frames"], options, steps)
    assert starts == ref["chunk_starts"] and out.shape[0] == ref["n_frames"]
    if len(starts) > 1:
        assert [m for _, m in maps] == ref["frame_to_chunk_per_step"]


@pytest.mark.parametrize("five_d", [False, True])
def test_torch_mode_assembles_frame_to_chunk_of_the_drawn_offsets(blending, five_d):
    from FrameLoom.modules.streamingt2v import OffsetSampler, frame_to_chunk

    options = blending.BlendingOptions(chunk_size=8, overlap=4, seed=21)
    _, maps, starts = sample_blended(blending, 20, options, steps=3, five_d=five_d)
    draws = OffsetSampler(21)
    expected = [frame_to_chunk(starts, draws.draw(len(starts), 4), 8, 20) for _ in range(3)]
    assert [m for _, m in maps] == expected
    assert len({tuple(m) for m in expected}) > 1  # the cut moves between steps


@pytest.mark.parametrize("split_cfg", [False, True])
def test_cond_and_uncond_share_each_steps_cut(blending, split_cfg):
    from FrameLoom.modules.streamingt2v import OffsetSampler, frame_to_chunk

    options = blending.BlendingOptions(chunk_size=8, overlap=4, seed=5)
    _, maps, starts = sample_blended(blending, 20, options, steps=3, cfg=7.5, split_cfg=split_cfg)
    draws = OffsetSampler(5)
    expected = [frame_to_chunk(starts, draws.draw(len(starts), 4), 8, 20) for _ in range(3)]
    assert sorted(branch for branch, _ in maps) == [0, 0, 0, 1, 1, 1]
    for branch in (0, 1):
        assert [m for b, m in maps if b == branch] == expected


def test_latent_is_trimmed_to_whole_chunks(blending, caplog):
    options = blending.BlendingOptions()  # chunk 24, overlap 8 as upstream: 60 frames -> 3 chunks, 56 frames
    with caplog.at_level(logging.WARNING, logger="FrameLoom.streamingt2v"):
        out, maps, _ = sample_blended(blending, 60, options, steps=2)
    assert out.shape[0] == 56 and all(len(m) == 56 for _, m in maps)
    assert "trims the latent from 60 to 56 frames" in caplog.text


def test_node_and_bad_settings(blending, frameloom):
    from FrameLoom.nodes.streamingt2v.node import FrameLoomRandomizedBlending

    base = fake_video_model()
    (patched,) = FrameLoomRandomizedBlending.execute(base, 24, 8, 0, "torch").result
    assert patched is not base and list(patched.wrappers["apply_model"]) == [blending.PATCH_KEY]
    assert not base.wrappers  # the incoming model is never modified
    (twice,) = FrameLoomRandomizedBlending.execute(patched, 16, 4, 0, "torch").result
    assert len(twice.wrappers["apply_model"][blending.PATCH_KEY]) == 1  # re-patching replaces
    with pytest.raises(ValueError, match="0 <= overlap < chunk_size"):
        blending.BlendingOptions(chunk_size=8, overlap=8)
    with pytest.raises(ValueError, match="RNG mode"):
        blending.BlendingOptions(rng_mode="global")
    with pytest.raises(ValueError, match="fewer than one chunk of 24"):
        sample_blended(blending, 20, blending.BlendingOptions(), steps=1)
