"""CV-VAE layout, config, frame arithmetic, input checks, chunk/tile plans and loop hooks."""
from __future__ import annotations

import json
import logging

import pytest
import torch

from modules.common import CheckpointError, LoopHooks
from modules.fancyvideo.cvvae import (
    CVVAE, CVVAEConfig, TileGrid, frames_for_latents, infer_config, latent_frames_for, valid_frame_counts,
)
from modules.fancyvideo.cvvae.tiling import temporal_chunks, tile_starts

TINY = dict(ch=32, ch_mult=[1, 1, 1, 1], num_res_blocks=1)


@pytest.fixture(scope="module")
def tiny_model() -> CVVAE:
    torch.manual_seed(0)
    return CVVAE(CVVAEConfig(**TINY)).eval()


def test_full_size_layout_matches_official(reference_dir):
    dump = json.loads((reference_dir / "fancyvideo_cvvae_keys.json").read_text())
    with torch.device("meta"):
        model = CVVAE(CVVAEConfig())
    state = model.state_dict()
    assert list(state) == list(dump["keys"])  # names, and the official order
    assert {k: list(v.shape) for k, v in state.items()} == dump["keys"]
    assert sum(p.numel() for p in model.parameters()) == 182_446_475 == dump["meta"]["num_params"]
    assert CVVAEConfig.from_metadata(dump["meta"]["config_used"]) == CVVAEConfig()


def test_full_size_config_is_inferred(reference_dir):
    dump = json.loads((reference_dir / "fancyvideo_cvvae_keys.json").read_text())
    state = {k: torch.empty(v, device="meta") for k, v in dump["keys"].items()}
    assert infer_config(state) == CVVAEConfig()


@pytest.mark.parametrize("state,match", [
    ({"encoder.conv_in.weight": torch.zeros(128, 3, 3, 3), "quant_conv.weight": torch.zeros(8, 8, 1, 1)}, "2-D image VAE"),
    ({"encoder.down_blocks.0.resnets.0.conv1.weight": torch.zeros(1)}, "diffusers"),
    ({"input_blocks.0.0.weight": torch.zeros(1), "time_embed.0.weight": torch.zeros(1)}, "UNet"),
    ({"vae.encoder.conv_in.weight": torch.zeros(1)}, "prefix 'vae.'"),
])
def test_wrong_files_are_named(state, match):
    with pytest.raises(CheckpointError, match=match):
        CVVAE.from_state_dict(state)


def test_missing_tensor_is_reported(tiny_model):
    state = dict(tiny_model.state_dict())
    del state["decoder.mid.attn_1.q_t.weight"]
    with pytest.raises(CheckpointError, match="incomplete or modified CV-VAE.*1 missing: decoder.mid.attn_1.q_t.weight"):
        CVVAE.from_state_dict(state)


def test_config_rejects_unsupported_options():
    with pytest.raises(ValueError, match="causal_decoder"):
        CVVAEConfig.from_metadata({"causal_decoder": True})
    with pytest.raises(ValueError, match="multiple of 8"):
        CVVAEConfig(tile_spatial_size=100)
    with pytest.raises(ValueError, match="time_n_compress"):
        CVVAEConfig(time_n_compress=8)


def test_released_tile_geometry():
    config = CVVAEConfig()
    assert config.encode_tiles() == TileGrid(in_tile=576, in_stride=448, out_overlap=16, out_stride=56)
    assert config.decode_tiles() == TileGrid(in_tile=72, in_stride=56, out_overlap=128, out_stride=448)
    assert tile_starts(768, 576, 448) == [0, 448]
    assert tile_starts(1024, 576, 448) == [0, 448]
    assert tile_starts(576, 576, 448) == [0]
    assert tile_starts(96, 72, 56) == [0, 56]


def test_temporal_chunk_plan():
    enc = temporal_chunks(61, 16, 4, latent_frames_for)
    assert [(c.start, c.end, c.skip, c.dst) for c in enc] == [(0, 17, 0, 0), (16, 33, 1, 5), (32, 49, 1, 9), (48, 61, 1, 13)]
    dec = temporal_chunks(16, 4, 16, frames_for_latents)
    assert [(c.start, c.end, c.dst) for c in dec] == [(0, 5, 0), (4, 9, 17), (8, 13, 33), (12, 16, 49)]
    # 18 frames: the official second chunk (frames 16-17) yields only its dropped latent, so it is not run.
    assert [(c.start, c.end) for c in temporal_chunks(18, 16, 4, latent_frames_for)] == [(0, 17)]


@pytest.mark.parametrize("frames,latents", [(61, 16), (125, 32), (1, 1), (62, 16), (64, 16), (65, 17)])
def test_frame_arithmetic(frames, latents):
    assert latent_frames_for(frames) == latents


def test_frame_arithmetic_inverse():
    assert [frames_for_latents(n) for n in (1, 16, 32)] == [1, 61, 125]
    assert valid_frame_counts(21) == [1, 5, 9, 13, 17, 21]
    with pytest.raises(ValueError):
        latent_frames_for(0)


def test_bad_sizes_are_explained(tiny_model):
    with pytest.raises(ValueError, match=r"height 20 \(use 16 or 24\).*multiples of 8"):
        tiny_model.encode_moments(torch.zeros(1, 3, 1, 20, 16))
    with pytest.raises(ValueError, match=r"unsqueeze\(2\)"):
        tiny_model.encode_moments(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="4 channels"):
        tiny_model.decode(torch.zeros(1, 8, 2, 2, 2))


def test_inexact_frame_count_is_logged_and_trailing_chunk_skipped(tiny_model, caplog):
    video = torch.rand(1, 3, 18, 8, 8) * 2 - 1
    calls = []
    with caplog.at_level(logging.INFO, logger="FrameLoom.fancyvideo.cvvae"):
        out = tiny_model.encode_moments(video, hooks=LoopHooks(progress=lambda d, t: calls.append((d, t))))
    assert "last 1 frame(s) are not encoded" in caplog.text
    assert out.shape == (1, 8, 5, 1, 1) and calls == [(1, 1)]
    assert torch.equal(out, tiny_model.encode_moments(video[:, :, :17]))


def test_hooks_per_chunk_and_cancel(tiny_model):
    events = []
    hooks = LoopHooks(progress=lambda d, t: events.append(("step", d, t)), check_cancel=lambda: events.append("cancel?"))
    video = tiny_model.decode(torch.randn(1, 4, 6, 1, 1), hooks=hooks)
    assert video.shape == (1, 3, 21, 8, 8)
    assert events == ["cancel?", ("step", 1, 2), "cancel?", ("step", 2, 2)]

    class Stop(Exception):
        pass

    def cancel_second():
        if any(e == ("step", 1, 2) for e in seen):
            raise Stop

    seen: list = []
    hooks = LoopHooks(progress=lambda d, t: seen.append(("step", d, t)), check_cancel=cancel_second)
    with pytest.raises(Stop):
        tiny_model.encode_moments(torch.zeros(1, 3, 21, 8, 8), hooks=hooks)
    assert seen == [("step", 1, 2)]


def test_output_follows_input_dtype(tiny_model):
    z = torch.randn(1, 4, 1, 2, 2, dtype=torch.float64)
    out = tiny_model.decode(z)
    assert out.dtype == torch.float64 and out.device == z.device
    assert torch.allclose(out.float(), tiny_model.decode(z.float()), atol=1e-5)
