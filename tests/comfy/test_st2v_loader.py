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
    assert extend_model.get_io_type() == "FRAMELOOM_STREAMINGT2V_MODEL,MODEL"


# --- VidXTend repack (benjamin-paine/vidxtend): one safetensors file or a diffusers folder -----------------------------
@pytest.fixture()
def vidxtend_dir(tmp_path, tiny_state, lightning_ckpt):
    """A model folder holding the official file, the VidXTend single file and a VidXTend folder of the same weights."""
    from tests.support.tiny_st2v import write_vidxtend_file, write_vidxtend_folder

    root = tmp_path / "streamingt2v"
    root.mkdir()
    lightning_ckpt.rename(root / "streaming_t2v.ckpt")
    write_vidxtend_file(root / "vidxtend.safetensors", tiny_state, fp16=False)
    write_vidxtend_folder(root / "repacks" / "vidxtend", tiny_state, fp16=False)
    return root


def denoise(net):
    """One CFG denoiser evaluation with the CAM branch on (16 latent frames of 8x8, 8 conditioning frames)."""
    gen = torch.Generator().manual_seed(1)
    d = net.config.unet.cross_attention_dim
    args = (torch.randn(1, 4, 16, 8, 8, generator=gen), torch.tensor([500]), torch.randn(1, 77, d, generator=gen),
            torch.randn(1, 77, d, generator=gen), torch.randn(1, d, generator=gen), torch.randn(1, d, generator=gen),
            torch.rand(1, 8, 3, 64, 64, generator=gen) * 2 - 1)  # fmt: skip
    with torch.no_grad():
        return net(*args).noise_pred_cfg


def test_vidxtend_file_and_folder_load_the_official_network(loader, vidxtend_dir, tiny_state, caplog):
    official = loader.load_streaming_t2v(str(vidxtend_dir / "streaming_t2v.ckpt"))
    with caplog.at_level(logging.INFO, logger="FrameLoom.streamingt2v"):
        single = loader.load_streaming_t2v(str(vidxtend_dir / "vidxtend.safetensors"))
    assert "ignoring 2 tensors of the bundled VAE" in caplog.text  # its vae.* and text_encoder.* parts
    folder = loader.load_streaming_t2v(str(vidxtend_dir / "repacks" / "vidxtend"))
    reference = official.state_dict()
    expected = denoise(official)
    for net in (single, folder):
        assert net.config == official.config == tiny_config()
        loaded = net.state_dict()
        assert sorted(loaded) == sorted(reference)
        assert all(torch.equal(loaded[k], reference[k]) for k in reference)
        assert torch.equal(denoise(net), expected)


def test_vidxtend_folder_in_fp16_reads_the_fp16_parts(loader, tmp_path, tiny_state, caplog):
    from tests.support.tiny_st2v import write_vidxtend_folder

    folder = write_vidxtend_folder(tmp_path / "vidxtend", tiny_state, fp16=True)
    with caplog.at_level(logging.INFO, logger="FrameLoom.streamingt2v"):
        net = loader.load_streaming_t2v(str(folder), torch.float16)
    assert "reading unet/diffusion_pytorch_model.fp16.safetensors" in caplog.text
    loaded = net.state_dict()
    assert {v.dtype for v in loaded.values()} == {torch.float16}
    assert all(torch.equal(loaded[k], v.half()) for k, v in tiny_state.items())


def test_vidxtend_errors_name_the_missing_part(loader, tmp_path, tiny_state):
    from FrameLoom.modules.common import CheckpointError
    from FrameLoom.modules.streamingt2v.vidxtend import official_to_vidxtend
    from tests.support.tiny_st2v import write_vidxtend_file, write_vidxtend_folder

    no_cam = {k: v for k, v in official_to_vidxtend(tiny_state).items() if not k.startswith("controlnet.")}
    save_file(no_cam, str(tmp_path / "vidxtend.safetensors"))
    with pytest.raises(CheckpointError, match=r"'vidxtend\.safetensors': .*incomplete: no controlnet\.\* tensors"):
        loader.load_streaming_t2v(str(tmp_path / "vidxtend.safetensors"))
    folder = write_vidxtend_folder(tmp_path / "vidxtend", tiny_state)
    (folder / "controlnet" / "diffusion_pytorch_model.fp16.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"lacks the controlnet weights \(the CAM branch\)"):
        loader.load_streaming_t2v(str(folder))
    broken = {k: v for k, v in tiny_state.items() if k != "unet.conv_in.bias"}
    with pytest.raises(CheckpointError, match=r"1 missing: unet\.conv_in\.bias.*its controlnet\.\* is unet\.\*"):
        loader.load_streaming_t2v(str(write_vidxtend_file(tmp_path / "broken.safetensors", broken)))


def test_loader_node_lists_and_loads_vidxtend_folders(frameloom, vidxtend_dir, monkeypatch):
    import folder_paths

    from FrameLoom.modules.common import CheckpointError
    from FrameLoom.nodes.paths import register_model_folders
    from FrameLoom.nodes.streamingt2v.node import FrameLoomStreamingT2VLoader

    register_model_folders()
    monkeypatch.setitem(
        folder_paths.folder_names_and_paths, "frameloom_streamingt2v",
        ([str(vidxtend_dir)], set(folder_paths.supported_pt_extensions)),
    )  # fmt: skip
    # the part files inside the folder (unet/..., vae/...) are not offered on their own
    options = FrameLoomStreamingT2VLoader.define_schema().inputs[0].options
    assert options == ["streaming_t2v.ckpt", "vidxtend.safetensors", "repacks/vidxtend/"]
    typed, model = FrameLoomStreamingT2VLoader.execute("repacks/vidxtend/", "fp16").result
    assert typed.dtype == torch.float16 and model.model.diffusion_model.net.config == tiny_config()
    with pytest.raises(CheckpointError, match=r"VidXTend folder '\.\./' not found"):
        FrameLoomStreamingT2VLoader.execute("../", "fp32")


# --- text encoder: ComfyUI's CLIP must give what ms-1.7b's text encoder gives -------------------------------------------
def test_comfy_clip_uses_the_ms17b_text_layer(comfy_runtime):
    """ms-1.7b's text_encoder (damo-vilab/text-to-video-ms-1.7b text_encoder/config.json) is a transformers
    CLIPTextModel with 23 of OpenCLIP-H's 24 layers, and the official StreamingModelscope pipeline takes
    `text_encoder(ids)[0]`: the output of layer 23 after the final LayerNorm, no attention mask, padding with '!' (id 0).
    CLIPLoader (type stable_diffusion) on the OpenCLIP file must produce the same, not the 24th layer."""
    import comfy.sd

    from tests.support.tiny_st2v import open_clip_state_dict

    state = open_clip_state_dict()
    gen = torch.Generator().manual_seed(0)
    # The stand-in's layers are identities; an MLP output bias makes a layer add a constant to every token.
    first, last = torch.randn(1024, generator=gen), torch.randn(1024, generator=gen)
    state["transformer.resblocks.0.mlp.c_proj.bias"] = first
    state["transformer.resblocks.23.mlp.c_proj.bias"] = last
    clip = comfy.sd.load_text_encoder_state_dicts([dict(state)], clip_type=comfy.sd.CLIPType.STABLE_DIFFUSION)
    encoder = clip.cond_stage_model.clip_h
    assert (encoder.layer, encoder.layer_idx, encoder.layer_norm_hidden_state) == ("hidden", -2, True)

    tokens = clip.tokenize("a sailboat on a lake")
    ids = torch.tensor([t for t, _ in tokens["h"][0]])
    assert ids.shape == (77,) and ids[0] == 49406 and (ids[(ids == 49407).nonzero()[0, 0] + 1:] == 0).all()
    cond = clip.encode_from_tokens(tokens).float()[0]

    # ComfyUI keeps text encoder weights in fp16 on the CPU: round the inputs the same way
    embed, pos, first, last = (t.half().float() for t in (state["token_embedding.weight"][ids],
                                                          state["positional_embedding"], first, last))  # fmt: skip
    official = torch.nn.functional.layer_norm(embed + pos + first, (1024,), eps=1e-5)  # ln_final: weight 1, bias 0
    last_layer = torch.nn.functional.layer_norm(embed + pos + first + last, (1024,), eps=1e-5)
    assert (cond - official).abs().max() < 1e-5
    assert (cond - last_layer).abs().max() > 0.1  # the check can tell the 23rd layer from the 24th
