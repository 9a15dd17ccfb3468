"""CV-VAE Loader / Encode / Decode nodes against vectors/fancyvideo_cvvae_tiny.safetensors (official CVVAEModel).

The nodes speak ComfyUI's formats: IMAGE [T, H, W, 3] in 0..1 in, LATENT [L, 4, h, w] in VAE space. The reference
video is [-1, 1] (fp16 values, so (v + 1) / 2 is exact in fp32), its latents UNet-space (x 0.18215), its decoded
video raw; FancyVideo's (x/2 + 0.5).clamp(0, 1) turns that into frames.
"""
from __future__ import annotations

import contextlib
import importlib

import pytest
import torch
from safetensors.torch import load_file, save_file


pytestmark = pytest.mark.comfy

TOL = 1e-5
SCALE = 0.18215
VECTOR = "fancyvideo_cvvae_tiny.safetensors"


@pytest.fixture(scope="module")
def vec(vectors_dir):
    return load_file(str(vectors_dir / VECTOR))


@pytest.fixture(scope="module")
def nodes(frameloom, vec, tmp_path_factory):
    """The CV-VAE nodes, with the reference weights (float8 values, exact in fp32) as a file in the CV-VAE folder."""
    import folder_paths

    from FrameLoom.nodes.paths import register_model_folders

    folder = tmp_path_factory.mktemp("cvvae")
    save_file({k[2:]: v.float() for k, v in vec.items() if k.startswith("w.")}, str(folder / "cvvae_tiny.safetensors"))
    register_model_folders()
    saved = folder_paths.folder_names_and_paths["frameloom_cvvae"]
    folder_paths.folder_names_and_paths["frameloom_cvvae"] = ([str(folder)], saved[1])
    folder_paths.filename_list_cache.clear()
    yield importlib.import_module("FrameLoom.nodes.fancyvideo.node_cvvae")
    folder_paths.folder_names_and_paths["frameloom_cvvae"] = saved
    folder_paths.filename_list_cache.clear()


@pytest.fixture(scope="module")
def cvvae(nodes):
    loader = importlib.import_module("FrameLoom.nodes.fancyvideo.node_loaders").FrameLoomCVVAELoader
    return loader.execute("cvvae_tiny.safetensors", "fp32").result[0]


def as_image(video: torch.Tensor) -> torch.Tensor:
    return ((video.float() + 1) / 2)[0].movedim(0, -1)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


@contextlib.contextmanager
def progress_log():
    """Records (value, total) of every ComfyUI progress-bar update."""
    import comfy.utils

    seen: list[tuple[int, int]] = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: seen.append((value, total)))
    try:
        yield seen
    finally:
        comfy.utils.set_progress_bar_global_hook(None)


@pytest.mark.parametrize("case, chunks", [("v21", 2), ("v1", 1)])
def test_encode_node_matches_the_reference_mean(nodes, cvvae, vec, case, chunks):
    with progress_log() as seen:
        latent = nodes.FrameLoomCVVAEEncode.execute(cvvae, as_image(vec[f"enc.{case}.video"])).result[0]["samples"]
    reference = vec[f"enc.{case}.moments"][0, :4].movedim(1, 0)
    assert max_diff(latent, reference) <= TOL
    assert seen == [(i, chunks) for i in range(1, chunks + 1)]


@pytest.mark.parametrize("case, chunks", [("l6", 2), ("l1", 1)])
def test_decode_node_matches_the_reference_frames(nodes, cvvae, vec, case, chunks):
    samples = ((1 / SCALE) * vec[f"dec.{case}.latents"])[0].movedim(1, 0)
    with progress_log() as seen:
        images = nodes.FrameLoomCVVAEDecode.execute(cvvae, {"samples": samples}).result[0]
    reference = (vec[f"dec.{case}.video"][0].movedim(0, -1) / 2 + 0.5).clamp(0, 1)
    assert images.dtype == torch.float32 and images.device.type == "cpu"
    assert max_diff(images, reference) <= TOL
    assert seen == [(i, chunks) for i in range(1, chunks + 1)]
    # a [1, 4, L, h, w] video latent is read the same way
    five_d = nodes.FrameLoomCVVAEDecode.execute(cvvae, {"samples": samples.movedim(0, 1)[None]}).result[0]
    assert torch.equal(five_d, images)


def test_frame_counts_the_vae_cannot_reproduce_are_refused(nodes, cvvae, vec):
    frames = as_image(vec["enc.v14_16x16.video"])
    with pytest.raises(ValueError, match=r"encodes 4k\+1 frames .* got 14\. Use 13 or 17 frames"):
        nodes.FrameLoomCVVAEEncode.execute(cvvae, frames)
    with pytest.raises(ValueError, match=r"height and width must be multiples of 8"):
        nodes.FrameLoomCVVAEEncode.execute(cvvae, torch.rand(5, 20, 16, 3))
    with pytest.raises(ValueError, match=r"4-channel video LATENT"):
        nodes.FrameLoomCVVAEDecode.execute(cvvae, {"samples": torch.zeros(2, 16, 4, 4)})


def test_cancel_stops_before_the_next_chunk(nodes, cvvae, vec, comfy_runtime):
    mm = comfy_runtime
    samples = ((1 / SCALE) * vec["dec.l6.latents"])[0].movedim(1, 0)
    seen: list[int] = []

    def press_cancel(value, total, preview, node_id=None):
        seen.append(value)
        mm.interrupt_current_processing(True)

    import comfy.utils

    comfy.utils.set_progress_bar_global_hook(press_cancel)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            nodes.FrameLoomCVVAEDecode.execute(cvvae, {"samples": samples})
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
        mm.interrupt_current_processing(False)
    assert seen == [1]  # the first of two chunks finished, the second never started
