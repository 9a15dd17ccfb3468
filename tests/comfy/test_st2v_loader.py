"""StreamingT2V Loader: a tiny checkpoint in the official key layout inside a Lightning container loads (its config
read from the tensor shapes, bundled VAE/text/image encoders skipped), the full-size layout implies the released
config, and other models' files get errors that say what they are and what was expected."""
from __future__ import annotations

import importlib
import json
import logging

import pytest
import torch
from safetensors.torch import save_file

from tests.support.tiny_models import random_state

pytestmark = pytest.mark.comfy

BUNDLED = {"vae.encoder.conv_in.weight": (8, 3, 3, 3), "text_encoder.final.weight": (4, 4), "image_encoder.proj": (4, 2)}


def tiny_config():
    from FrameLoom.modules.streamingt2v import StreamingT2VConfig, UNet3DConfig

    # Widths of 64 keep the released non-shape settings valid (32 norm groups, merger heads of 64).
    unet = UNet3DConfig(
        block_out_channels=(64, 64, 64, 64), layers_per_block=1, cross_attention_dim=32, attention_head_dim=32
    )
    return StreamingT2VConfig(unet=unet, cond_channels=(8, 8, 8, 8), resampler_inner_dim=16)


@pytest.fixture(scope="module")
def loader(frameloom):
    return importlib.import_module("FrameLoom.nodes.streamingt2v.loader")


@pytest.fixture(scope="module")
def tiny_state(frameloom):
    from FrameLoom.modules.streamingt2v import StreamingT2V

    with torch.device("meta"):
        net = StreamingT2V(tiny_config())
    layout = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    # tests.support's weight rule cannot draw 0-d tensors (the APM alphas); give them values that switch APM on.
    scalars = {k: torch.tensor(0.5 + i / 16) for i, k in enumerate(k for k, s in layout.items() if not s)}
    return {**random_state({k: s for k, s in layout.items() if s}, seed=5), **scalars}


@pytest.fixture()
def lightning_ckpt(tmp_path, tiny_state):
    state = dict(tiny_state)
    state.update({k: torch.zeros(shape) for k, shape in BUNDLED.items()})
    path = tmp_path / "streaming_t2v.ckpt"
    torch.save({"state_dict": state, "epoch": 3, "global_step": 1200, "pytorch-lightning_version": "2.0.9"}, str(path))
    return path


def test_lightning_checkpoint_loads_with_inferred_config(loader, lightning_ckpt, tiny_state, caplog):
    with caplog.at_level(logging.INFO, logger="FrameLoom.streamingt2v"):
        net = loader.load_streaming_t2v(str(lightning_ckpt))
    assert net.config == tiny_config()
    loaded = net.state_dict()
    assert sorted(loaded) == sorted(tiny_state)
    assert all(torch.equal(loaded[k], tiny_state[k]) for k in tiny_state)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert "ignoring 3 tensors of the bundled VAE" in caplog.text
    half = loader.load_streaming_t2v(str(lightning_ckpt), torch.float16)
    assert {p.dtype for p in half.parameters()} == {torch.float16}


def test_full_size_layout_implies_the_released_config(frameloom, reference_dir):
    from FrameLoom.modules.streamingt2v import StreamingT2VConfig
    from FrameLoom.modules.streamingt2v.layout import infer_config

    keys = json.loads((reference_dir / "streamingt2v_ms_keys.json").read_text())["keys"]
    assert infer_config({k: torch.empty(v, device="meta") for k, v in keys.items()}) == StreamingT2VConfig()


@pytest.mark.parametrize(
    "state, message",
    [
        ({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4)}, "Stable Diffusion-style checkpoint"),
        ({"unet.conv_in.weight": torch.zeros(4), "controlnet.conv_in.weight": torch.zeros(4)}, "VidXTend repack"),
        ({"block0.conv0.0.0.weight": torch.zeros(4)}, r"not a StreamingT2V checkpoint: 'base_model\.conv_in\.weight'"),
    ],
)
def test_other_models_files_are_explained(loader, tmp_path, state, message):
    from FrameLoom.modules.common import CheckpointError

    path = tmp_path / "other.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=message):
        loader.load_streaming_t2v(str(path))


def test_incomplete_checkpoint_names_what_is_missing(loader, tmp_path, tiny_state):
    from FrameLoom.modules.common import CheckpointError

    state = {k: v for k, v in tiny_state.items() if k != "unet.conv_in.bias"}
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match="1 missing: unet.conv_in.bias"):
        loader.load_streaming_t2v(str(path))


def test_loader_node_outputs_the_model_both_ways(frameloom, lightning_ckpt, monkeypatch):
    import folder_paths

    from FrameLoom.nodes.paths import register_model_folders
    from FrameLoom.nodes.streamingt2v.model import StreamingT2VModel, is_streaming_t2v
    from FrameLoom.nodes.streamingt2v.node import FrameLoomStreamingT2VLoader

    register_model_folders()
    monkeypatch.setitem(
        folder_paths.folder_names_and_paths, "frameloom_streamingt2v",
        ([str(lightning_ckpt.parent)], set(folder_paths.supported_pt_extensions)),
    )  # fmt: skip
    schema = FrameLoomStreamingT2VLoader.define_schema()
    assert schema.inputs[0].options == ["streaming_t2v.ckpt"]
    typed, model = FrameLoomStreamingT2VLoader.execute("streaming_t2v.ckpt", "fp32").result
    assert isinstance(typed, StreamingT2VModel) and typed.patcher is model and typed.dtype == torch.float32
    assert is_streaming_t2v(model) and model.model.diffusion_model.net.config == tiny_config()


def test_every_node_is_described(frameloom):
    from FrameLoom.nodes.streamingt2v import NODES

    ids = []
    for node in NODES:
        schema = node.define_schema()
        ids.append(schema.node_id)
        assert schema.category.startswith("FrameLoom/") and schema.description
        assert all(i.tooltip for i in schema.inputs) and all(o.tooltip for o in schema.outputs), schema.node_id
    assert ids == ["FrameLoomStreamingT2VLoader", "FrameLoomStreamingT2VExtend", "FrameLoomRandomizedBlending"]
    extend_model = NODES[1].define_schema().inputs[0]
    assert extend_model.get_io_type() == "STREAMINGT2V_MODEL,MODEL"
