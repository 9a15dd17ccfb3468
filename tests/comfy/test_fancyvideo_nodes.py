"""FancyVideo nodes in-process on the tiny SD1.5 / FancyVideo / CV-VAE files: schemas, loaders, Apply, Image to Video,
the base-model check and bad input."""
from __future__ import annotations

import importlib
import re
import types

import pytest
import torch

from tests.comfy.test_fancyvideo_nodes_tiny_models import tiny_base, tiny_checkpoint  # noqa: F401 (fixtures)
from tests.support import tiny_sd

pytestmark = pytest.mark.comfy

NODE_IDS = [
    "FrameLoomFancyVideoLoader", "FrameLoomFancyVideoSampler", "FrameLoomFancyVideoApply",
    "FrameLoomFancyVideoImageToVideo", "FrameLoomFancyVideoVideoToVideo", "FrameLoomResAdapterApply", "FrameLoomCVVAELoader", "FrameLoomCVVAEEncode", "FrameLoomCVVAEDecode",
]


@pytest.fixture(scope="session")
def fv_nodes(frameloom, tiny_base):
    """The node classes, with FrameLoom's model folders pointing at the tiny files."""
    import folder_paths

    from FrameLoom.nodes.paths import register_model_folders

    register_model_folders()
    saved = {name: folder_paths.folder_names_and_paths[name] for name in ("frameloom_fancyvideo", "frameloom_cvvae")}
    for name, sub in (("frameloom_fancyvideo", "fancyvideo"), ("frameloom_cvvae", "cvvae")):
        folder_paths.folder_names_and_paths[name] = ([str(tiny_base / "models" / "frameloom" / sub)], saved[name][1])
    folder_paths.filename_list_cache.clear()
    yield importlib.import_module("FrameLoom.nodes.fancyvideo.nodes")
    folder_paths.folder_names_and_paths.update(saved)
    folder_paths.filename_list_cache.clear()


@pytest.fixture(scope="session")
def kit(fv_nodes, tiny_checkpoint):
    """Models and prompts shared by the node tests (never modified: nodes patch clones)."""
    model, clip, vae = tiny_checkpoint
    yield tiny_sd.once("fancyvideo_node_kit", lambda: {
        "model": model, "vae": vae,
        "positive": clip.encode_from_tokens_scheduled(clip.tokenize("a red fox in the snow")),
        "negative": clip.encode_from_tokens_scheduled(clip.tokenize("blurry")),
        "fancy": fv_nodes.FrameLoomFancyVideoLoader.execute(tiny_sd.FANCYVIDEO_FILE).result[0],
        "cvvae": fv_nodes.FrameLoomCVVAELoader.execute(tiny_sd.CVVAE_FILE, "fp32").result[0],
    })
    tiny_sd.forget("fancyvideo_node_kit")


def test_schemas(fv_nodes):
    schemas = {n.define_schema().node_id: n.define_schema() for n in fv_nodes.NODES}
    assert list(schemas) == NODE_IDS
    for node_id, schema in schemas.items():
        assert schema.category == "FrameLoom/fancyvideo" and schema.display_name.endswith("(FrameLoom)")
        assert len(schema.description) > 80, node_id
        assert all(i.tooltip for i in schema.inputs), node_id
        # honest labels: CTGM is never offered as an option
        assert not any("ctgm" in i.id.lower() for i in schema.inputs), node_id
    loader = schemas["FrameLoomFancyVideoLoader"]
    assert loader.inputs[0].options == [tiny_sd.BAD_FANCYVIDEO_FILE, tiny_sd.FANCYVIDEO_FILE]
    assert "no CTGM" in loader.description
    sampler = {i.id: i for i in schemas["FrameLoomFancyVideoSampler"].inputs}
    assert (sampler["width"].default, sampler["latent_frames"].default, sampler["steps"].default) == (768, 16, 50)
    assert (sampler["sampler_name"].default, sampler["scheduler"].default, sampler["cfg"].default) == ("ddim", "ddim_uniform", 7.5)
    assert sampler["image"].optional and sampler["cvvae"].optional
    i2v = {i.id: i for i in schemas["FrameLoomFancyVideoImageToVideo"].inputs}
    assert i2v["vae"].get_io_type() == "FRAMELOOM_CVVAE,VAE"


def test_loader_refuses_other_files(fv_nodes):
    from FrameLoom.modules.common import CheckpointError

    with pytest.raises(CheckpointError, match="not_a_fancyvideo_model.safetensors.*plain AnimateDiff motion module"):
        fv_nodes.FrameLoomFancyVideoLoader.execute(tiny_sd.BAD_FANCYVIDEO_FILE)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        fv_nodes.FrameLoomFancyVideoLoader.execute("missing.pt")


def test_cvvae_loader_refuses_other_files(fv_nodes, tiny_base, monkeypatch):
    import folder_paths

    from FrameLoom.modules.common import CheckpointError

    models = tiny_base / "models"
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "frameloom_cvvae", ([str(models / "checkpoints")], {".safetensors"}))
    with pytest.raises(CheckpointError, match=f"{tiny_sd.SD15_FILE}.*not FancyVideo's CV-VAE"):
        fv_nodes.FrameLoomCVVAELoader.execute(tiny_sd.SD15_FILE, "fp32")


def test_loaded_models_are_wrapped_for_comfy(kit):
    import comfy.model_patcher

    from FrameLoom.modules.fancyvideo.cvvae import CVVAE

    assert isinstance(kit["cvvae"].patcher, comfy.model_patcher.ModelPatcher)
    assert isinstance(kit["cvvae"].model, CVVAE) and kit["cvvae"].dtype == torch.float32
    # the motion model is built once per base model setup and shared by every Apply
    assert kit["fancy"].model_for(kit["model"]) is kit["fancy"].model_for(kit["model"])


def test_apply_patches_a_clone(fv_nodes, kit):
    from FrameLoom.nodes.fancyvideo import PATCH_KEY

    model = kit["model"]
    patched = fv_nodes.FrameLoomFancyVideoApply.execute(model, kit["fancy"], fps=12.0, motion_score=5.0).result[0]
    settings = patched.get_attachment(PATCH_KEY)
    assert (settings.fps, settings.motion_score, settings.compute_motion, settings.sampling) == (12.0, 5.0, True, "v_zsnr")
    assert model.get_attachment(PATCH_KEY) is None and patched is not model
    assert patched.get_model_object("model_sampling").sigmas[-1] > 1000  # zero terminal SNR
    with pytest.raises(ValueError, match="already applied"):
        fv_nodes.FrameLoomFancyVideoApply.execute(patched, kit["fancy"], fps=25.0, motion_score=3.0)


@pytest.mark.parametrize("family, config, found", [
    ("SDXL", dict(context_dim=2048, model_channels=320, adm_in_channels=2816, in_channels=4), "SDXL (context_dim 2048, model_channels 320, in_channels 4)"),
    ("SD15_instructpix2pix", dict(context_dim=768, model_channels=320, in_channels=8), "SD15_instructpix2pix (context_dim 768, model_channels 320, in_channels 8)"),
])
def test_non_sd15_base_models_are_refused(fv_nodes, kit, family, config, found):
    import comfy.supported_models

    base = types.SimpleNamespace(model=types.SimpleNamespace(model_config=getattr(comfy.supported_models, family)(config)))
    with pytest.raises(ValueError, match=rf"needs an SD1\.5 checkpoint.*this MODEL is {re.escape(found)}\."):
        fv_nodes.FrameLoomFancyVideoApply.execute(base, kit["fancy"], fps=25.0, motion_score=3.0)


def stripes(height: int, width: int) -> torch.Tensor:
    """IMAGE [1, H, W, 3]: red left quarter, green middle half, blue right quarter."""
    image = torch.zeros(1, height, width, 3)
    quarter = width // 4
    image[:, :, :quarter, 0] = 1.0
    image[:, :, quarter:width - quarter, 1] = 1.0
    image[:, :, width - quarter:, 2] = 1.0
    return image


@pytest.mark.parametrize("height, width", [(64, 128), (32, 64)])
def test_reference_is_scaled_to_cover_then_centre_cropped(frameloom, height, width):
    from FrameLoom.nodes.fancyvideo.video_vae import fit_image

    fitted = fit_image(stripes(height, width), 64, 64)
    assert fitted.shape == (1, 64, 64, 3)
    assert torch.allclose(fitted, torch.tensor([0.0, 1.0, 0.0]).expand(1, 64, 64, 3), atol=1e-6)
    same = torch.rand(2, 48, 40, 4)
    assert torch.equal(fit_image(same, 40, 48), same[:1, :, :, :3])


def image_channels(conditioning: list) -> torch.Tensor:
    return conditioning[0][1]["noise_concat"]


@pytest.mark.parametrize("which", ["vae", "cvvae"])
def test_image_to_video_conditioning(fv_nodes, kit, which):
    from FrameLoom.nodes.fancyvideo.video_vae import encode_reference, fit_image

    image = torch.rand(1, 48, 80, 3, generator=torch.Generator().manual_seed(3))
    positive, negative, latent = fv_nodes.FrameLoomFancyVideoImageToVideo.execute(
        kit["positive"], kit["negative"], kit[which], image, width=64, height=48, latent_frames=3
    ).result
    assert torch.equal(latent["samples"], torch.zeros(3, 4, 6, 8))
    concat = image_channels(positive)
    assert torch.equal(concat, image_channels(negative)) and concat.shape == (3, 5, 6, 8)
    expected = encode_reference(kit[which], fit_image(image, 64, 48)) * 0.18215
    assert (concat[0, :4] - expected[0]).abs().max() <= 1e-6 and expected.abs().max() > 0.01
    assert torch.equal(concat[:, 4], torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 6, 8))
    assert not concat[1:, :4].any()
    assert torch.equal(positive[0][0], kit["positive"][0][0])  # the text part is untouched
    assert "noise_concat" not in kit["positive"][0][1]  # inputs are not modified


def test_cvvae_reference_is_the_posterior_mean_of_a_one_frame_video(kit):
    from FrameLoom.nodes.fancyvideo.video_vae import encode_reference, images_to_video

    image = torch.rand(1, 16, 24, 3, generator=torch.Generator().manual_seed(4))
    moments = kit["cvvae"].model.encode_moments(images_to_video(image))
    assert torch.equal(encode_reference(kit["cvvae"], image), moments[:, :4, 0])


def test_bad_sizes_and_frames_are_explained(fv_nodes, kit):
    i2v = fv_nodes.FrameLoomFancyVideoImageToVideo.execute
    image = torch.rand(1, 64, 64, 3)
    with pytest.raises(ValueError, match=r"multiples of 8: width 100 \(use 96 or 104\)"):
        i2v(kit["positive"], kit["negative"], kit["vae"], image, width=100, height=64, latent_frames=2)
    with pytest.raises(ValueError, match="latent_frames must be at least 1"):
        i2v(kit["positive"], kit["negative"], kit["vae"], image, width=64, height=64, latent_frames=0)
    with pytest.raises(ValueError, match=r"expected an IMAGE batch \[frames, height, width, 3\]"):
        i2v(kit["positive"], kit["negative"], kit["vae"], image[0], width=64, height=64, latent_frames=2)
