"""StreamingT2V Extend end to end in-process: the official tiny denoiser (vector weights), a tiny random comfy VAE and
CLIP vision model, 32×32 frames, 2 steps per chunk.

Checked: exact output lengths (24, 56), the input clip kept, frames 8..15 of every decoded chunk appended, each
chunk's CAM input = the last 8 frames made before it, the anchor / gray embeddings in the two CFG branches, seeds
(same seed -> same video, extending a result again = one longer run), progress over chunks × steps, Cancel then
re-queue resuming from the cache without recomputing finished chunks, cache removal, and input errors.
"""
from __future__ import annotations

import importlib
import json
import os

import pytest
import torch

from tests.comfy.test_st2v_model import read_vector, vector_net  # noqa: F401 (fixture)
from tests.support.tiny_models import random_state

pytestmark = pytest.mark.comfy

SIZE = 32
STEPS = 2
SEED = 3


def tiny_vae():
    import comfy.sd
    from comfy.ldm.models.autoencoder import AutoencoderKL

    ddconfig = {
        "double_z": True, "z_channels": 4, "resolution": SIZE, "in_channels": 3, "out_ch": 3, "ch": 32,
        "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0,
    }  # fmt: skip
    config = {"params": {"ddconfig": ddconfig, "embed_dim": 4}}
    layout = {k: tuple(v.shape) for k, v in AutoencoderKL(**config["params"]).state_dict().items()}
    return comfy.sd.VAE(sd=random_state(layout, seed=1), config=config)


def tiny_clip_vision(tmp_dir, width: int):
    """A real comfy ClipVisionModel (2 layers, 32-pixel input, `width`-d projection) with random weights."""
    import comfy.clip_vision

    config = {
        "hidden_size": 32, "image_size": SIZE, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2,
        "patch_size": 16, "projection_dim": width, "num_channels": 3, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
        "model_type": "clip_vision_model",
    }  # fmt: skip
    path = tmp_dir / "clip_vision_tiny.json"
    path.write_text(json.dumps(config))
    model = comfy.clip_vision.ClipVisionModel(str(path))
    model.load_sd(random_state({k: tuple(v.shape) for k, v in model.get_sd().items()}, seed=2))
    return model


class RecordingVAE:
    """Passes through to a comfy VAE and keeps every decoded chunk."""

    def __init__(self, vae) -> None:
        self.vae = vae
        self.first_stage_model = vae.first_stage_model
        self.decoded: list[torch.Tensor] = []

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        out = self.vae.decode(samples)
        self.decoded.append(out.clone())
        return out


class ModelCalls:
    """APPLY_MODEL wrapper on a clone: records each call's conditioning and can press Cancel at a given call."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.cancel_at: int | None = None

    def __call__(self, executor, x, t, c_concat, c_crossattn, control, transformer_options, **kwargs):
        import comfy.model_management as mm

        self.calls.append({**kwargs, "branches": list(transformer_options["cond_or_uncond"])})
        if self.cancel_at == len(self.calls):
            mm.interrupt_current_processing(True)  # what the Cancel button does; the next step callback raises
        return executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)

    def attach(self, patcher):
        clone = patcher.clone()
        clone.add_wrapper_with_key("apply_model", "test_st2v_calls", self)
        return clone


@pytest.fixture(scope="module")
def extend(frameloom):
    return importlib.import_module("FrameLoom.nodes.streamingt2v.extend")


@pytest.fixture(scope="module")
def kit(frameloom, vectors_dir, tmp_path_factory):
    from FrameLoom.nodes.streamingt2v.model import wrap_streaming_t2v

    gen = torch.Generator().manual_seed(11)
    return {
        "model": wrap_streaming_t2v(vector_net(*read_vector(vectors_dir))),
        "vae": tiny_vae(),
        "clip_vision": tiny_clip_vision(tmp_path_factory.mktemp("clip_vision"), 32),
        "positive": [[torch.randn(1, 77, 32, generator=gen), {}]],
        "negative": [[torch.randn(1, 77, 32, generator=gen), {}]],
        "clip": torch.rand(16, SIZE, SIZE, 3, generator=gen),
    }


def run(extend, kit, total: int, clip=None, seed: int = SEED, model=None, vae=None, cache=None):
    clip = kit["clip"] if clip is None else clip
    anchor = extend.anchor_embeddings(kit["clip_vision"], None, clip[:1])
    settings = extend.ExtendSettings(total_frames=total, seed=seed, steps=STEPS, size=SIZE)
    return extend.extend_video(
        model or kit["model"], kit["positive"], kit["negative"], vae or kit["vae"], clip, anchor, settings, cache
    )


@pytest.fixture(scope="module")
def long_run(extend, kit):
    """56 frames (5 new chunks) with every decoded chunk and model call recorded."""
    calls, vae = ModelCalls(), RecordingVAE(kit["vae"])
    out = run(extend, kit, 56, model=calls.attach(kit["model"]), vae=vae)
    return out, vae.decoded, calls.calls


def test_exact_lengths_and_kept_frames(extend, kit, long_run):
    out, decoded, _ = long_run
    assert out.shape == (56, SIZE, SIZE, 3) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert torch.equal(out[:16], kit["clip"])
    assert len(decoded) == 5
    for run_index, chunk in enumerate(decoded, start=1):
        start = 16 + 8 * (run_index - 1)
        assert chunk.shape == (16, SIZE, SIZE, 3)
        assert torch.equal(out[start : start + 8], chunk[8:16].float())
    assert run(extend, kit, 24).shape == (24, SIZE, SIZE, 3)


def test_each_chunk_is_conditioned_on_the_last_8_frames_and_the_anchor(kit, long_run):
    out, _, calls = long_run
    anchor = kit["clip_vision"].encode_image(kit["clip"][:1], crop=False)["image_embeds"]
    gray = kit["clip_vision"].encode_image(torch.full((1, SIZE, SIZE, 3), 0.5), crop=False)["image_embeds"]
    runs_seen = []
    for call in calls:
        cam, embeds = call["st2v_cond_frames"], call["st2v_anchor_embeds"]
        previous = [out[8 * r : 8 * r + 8].movedim(-1, 1) * 2 - 1 for r in range(6)]
        matches = [r for r in range(1, 6) if torch.allclose(cam[0], previous[r], atol=1e-6)]
        assert len(matches) == 1 and all(torch.equal(v, cam[0]) for v in cam)  # both CFG branches see the same frames
        runs_seen.append(matches[0])
        for branch, row in zip(call["branches"], embeds):
            assert torch.allclose(row[0], (anchor if branch == 0 else gray)[0], atol=1e-6)
    assert sorted(set(runs_seen)) == [1, 2, 3, 4, 5] and runs_seen == sorted(runs_seen)


def test_seeds_reproduce_and_a_result_extends_seamlessly(extend, kit, long_run):
    from FrameLoom.modules.streamingt2v.autoregression import chunk_seed

    out56 = long_run[0]
    first = run(extend, kit, 24)
    assert torch.equal(first, out56[:24])  # same seed: chunk 1 is the same whatever the total length
    assert not torch.allclose(run(extend, kit, 24, seed=SEED + 1)[16:], first[16:], atol=1e-3)
    # Continuing the 24-frame result to 56 makes exactly the frames of the one-shot 56-frame run.
    assert torch.equal(run(extend, kit, 56, clip=first), out56)
    seeds = [chunk_seed(SEED, r) for r in range(1, 6)]
    assert len(set(seeds)) == 5 and seeds == [chunk_seed(SEED, r) for r in range(1, 6)]
    assert chunk_seed(SEED + 1, 1) not in seeds and all(0 <= s < 2**63 for s in seeds)


def test_cancel_then_requeue_resumes_from_the_cache(frameloom, kit, tmp_path, monkeypatch):
    import comfy.model_management as mm
    import comfy.utils
    import folder_paths

    from FrameLoom.nodes.streamingt2v.model import StreamingT2VModel
    from FrameLoom.nodes.streamingt2v.node import FrameLoomStreamingT2VExtend

    monkeypatch.setattr(folder_paths, "temp_directory", str(tmp_path))
    progress = []
    hook = lambda value, total, preview, node_id=None: progress.append((value, total))  # noqa: E731
    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", hook)
    calls = ModelCalls()
    model = calls.attach(kit["model"])
    inputs = dict(
        model=StreamingT2VModel(model, torch.float32, "tiny"), positive=kit["positive"], negative=kit["negative"],
        vae=kit["vae"], images=kit["clip"], total_frames=40, seed=SEED, steps=STEPS, cfg=7.5,
        sampler_name="euler_ancestral", scheduler="ddim_uniform", clip_vision=kit["clip_vision"], size=SIZE,
    )  # fmt: skip
    cache_root = tmp_path / "frameloom_streamingt2v"

    reference = FrameLoomStreamingT2VExtend.execute(**inputs).result[0]
    assert reference.shape == (40, SIZE, SIZE, 3)
    assert progress[-1] == (3 * STEPS, 3 * STEPS) and [v for v, _ in progress] == sorted(v for v, _ in progress)
    assert not any(cache_root.iterdir())  # the finished run removed its cache
    per_chunk = len(calls.calls) // 3

    calls.calls.clear()
    calls.cancel_at = per_chunk + 1  # Cancel during the second new chunk
    with pytest.raises(mm.InterruptProcessingException):
        FrameLoomStreamingT2VExtend.execute(**inputs)
    (folder,) = cache_root.iterdir()
    assert sorted(os.listdir(folder)) == ["run_00001.safetensors"]

    calls.calls.clear()
    calls.cancel_at = None
    resumed = FrameLoomStreamingT2VExtend.execute(**inputs).result[0]
    assert len(calls.calls) == 2 * per_chunk  # chunk 1 came from the cache
    run1_frames = reference[8:16].movedim(-1, 1) * 2 - 1
    assert not any(torch.allclose(c["st2v_cond_frames"][0], run1_frames, atol=1e-6) for c in calls.calls)
    assert torch.equal(resumed, reference)
    assert not any(cache_root.iterdir())


def test_bad_inputs_are_explained(extend, kit):
    with pytest.raises(ValueError, match="at least 16 frames; the input has 15"):
        run(extend, kit, 24, clip=kit["clip"][:15])
    with pytest.raises(ValueError, match="cannot make exactly 60 frames.*use 56 or 64"):
        run(extend, kit, 60)
    clip20 = torch.cat([kit["clip"], kit["clip"][:4]])
    with pytest.raises(ValueError, match="has 20 frames.*trim it to its first 16 frames"):
        run(extend, kit, 24, clip=clip20)
    with pytest.raises(ValueError, match="needs a CLIP_VISION model"):
        extend.anchor_embeddings(None, None, kit["clip"][:1])
    narrow = extend.AnchorEmbeds(torch.zeros(1, 1, 16), torch.zeros(1, 1, 16))
    settings = extend.ExtendSettings(total_frames=24, steps=STEPS, size=SIZE)
    with pytest.raises(ValueError, match="needs 32-d pooled embeddings"):
        extend.extend_video(kit["model"], kit["positive"], kit["negative"], kit["vae"], kit["clip"], narrow, settings)
    with pytest.raises(ValueError, match="unknown sampler 'ddim_eta1'"):
        extend.ExtendSettings(sampler_name="ddim_eta1")


def test_node_takes_either_model_type_and_fits_the_clip(frameloom, kit, tmp_path, monkeypatch):
    import folder_paths

    from FrameLoom.nodes.streamingt2v.node import FrameLoomStreamingT2VExtend
    from tests.comfy.test_st2v_blending_patch import fake_video_model

    monkeypatch.setattr(folder_paths, "temp_directory", str(tmp_path))
    wide = torch.rand(16, 40, 56, 3, generator=torch.Generator().manual_seed(4))
    inputs = dict(
        positive=kit["positive"], negative=kit["negative"], vae=kit["vae"], clip_vision=kit["clip_vision"],
        images=wide, total_frames=16, seed=0, steps=1, cfg=7.5, sampler_name="euler_ancestral",
        scheduler="ddim_uniform", size=SIZE,
    )  # fmt: skip
    (out,) = FrameLoomStreamingT2VExtend.execute(model=kit["model"], **inputs).result  # a plain MODEL
    assert out.shape == (16, SIZE, SIZE, 3) and 0.0 <= out.min() and out.max() <= 1.0
    # Centre crop to 40×40 (columns 8..47), then area-resize to 32×32.
    cropped = {**inputs, "images": wide[:, :, 8:48]}
    assert torch.equal(out, FrameLoomStreamingT2VExtend.execute(model=kit["model"], **cropped).result[0])
    with pytest.raises(ValueError, match="needs the model from 'StreamingT2V Loader"):
        FrameLoomStreamingT2VExtend.execute(model=fake_video_model(), **inputs)
