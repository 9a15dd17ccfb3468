"""The one-box FancyVideo Sampler on the tiny models: I2V equals the modular graph (Apply + Image to Video + stock
KSampler), T2V equals first-frame image then I2V, progress and Cancel, bad input; and its default sampler/scheduler
reproduce the official 50-step DDIM (vectors/fancyvideo_scheduler.safetensors)."""
from __future__ import annotations

import contextlib

import pytest
import torch
from safetensors.torch import load_file

from tests.comfy.test_fancyvideo_nodes import fv_nodes, kit  # noqa: F401 (fixtures)
from tests.comfy.test_fancyvideo_nodes_tiny_models import tiny_base, tiny_checkpoint  # noqa: F401 (fixtures)

pytestmark = pytest.mark.comfy

TOL = 1e-6
SIZE = dict(width=64, height=64, latent_frames=2)
RUN = dict(fps=25.0, motion_score=3.0, seed=5, steps=2, cfg=2.0, sampler_name="ddim", scheduler="ddim_uniform")


def box(fv_nodes, kit, image=None, with_cvvae=True, **overrides):
    settings = {**SIZE, **RUN, **overrides}
    cvvae = kit["cvvae"] if with_cvvae else None
    out = fv_nodes.FrameLoomFancyVideoSampler.execute(
        kit["model"], kit["fancy"], kit["positive"], kit["negative"], kit["vae"], **settings, image=image, cvvae=cvvae
    )
    latent, reference = out.result
    return latent["samples"], reference


def ksampler(model, positive, negative, latent, settings=RUN):
    """What the stock KSampler node does (common_ksampler)."""
    import comfy.sample

    noise = comfy.sample.prepare_noise(latent, settings["seed"])
    return comfy.sample.sample(model, noise, settings["steps"], settings["cfg"], settings["sampler_name"],
                               settings["scheduler"], positive, negative, latent, disable_pbar=True, seed=settings["seed"])


@pytest.fixture(scope="module")
def image():
    return torch.rand(1, 48, 80, 3, generator=torch.Generator().manual_seed(9))


@pytest.mark.parametrize("with_cvvae", [True, False])
def test_image_to_video_box_equals_the_modular_graph(fv_nodes, kit, image, with_cvvae):
    from FrameLoom.nodes.fancyvideo.video_vae import fit_image

    samples, reference = box(fv_nodes, kit, image, with_cvvae)
    model = fv_nodes.FrameLoomFancyVideoApply.execute(kit["model"], kit["fancy"], RUN["fps"], RUN["motion_score"]).result[0]
    vae = kit["cvvae"] if with_cvvae else kit["vae"]
    positive, negative, latent = fv_nodes.FrameLoomFancyVideoImageToVideo.execute(
        kit["positive"], kit["negative"], vae, image, **SIZE).result
    modular = ksampler(model, positive, negative, latent["samples"])
    assert samples.shape == (2, 4, 8, 8) and torch.isfinite(samples).all()
    assert (samples - modular).abs().max() <= TOL
    assert torch.equal(reference, fit_image(image, 64, 64))


def test_fps_and_motion_score_reach_the_model(fv_nodes, kit, image):
    samples, _ = box(fv_nodes, kit, image)
    assert (box(fv_nodes, kit, image, fps=8.0)[0] - samples).abs().max() > 1e-4
    assert (box(fv_nodes, kit, image, motion_score=9.0)[0] - samples).abs().max() > 1e-4


def test_text_to_video_is_first_frame_then_image_to_video(fv_nodes, kit):
    import comfy.model_sampling

    from FrameLoom.nodes.fancyvideo import PATCH_KEY
    from FrameLoom.nodes.fancyvideo.generate import first_frame_model

    samples, first = box(fv_nodes, kit)
    image_model = first_frame_model(kit["model"], kit["fancy"])
    settings = image_model.get_attachment(PATCH_KEY)
    assert (settings.fps, settings.motion_score, settings.compute_motion) == (None, None, False)
    assert isinstance(image_model.get_model_object("model_sampling"), comfy.model_sampling.EPS)
    assert not isinstance(image_model.get_model_object("model_sampling"), comfy.model_sampling.V_PREDICTION)
    one_frame = ksampler(image_model, kit["positive"], kit["negative"], torch.zeros(1, 4, 8, 8))
    assert (first - kit["vae"].decode(one_frame)).abs().max() <= TOL
    assert (samples - box(fv_nodes, kit, image=first)[0]).abs().max() <= TOL


@contextlib.contextmanager
def progress_hook(hook):
    import comfy.utils

    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        yield
    finally:
        comfy.utils.set_progress_bar_global_hook(None)


def test_progress_covers_both_passes(fv_nodes, kit):
    seen = []
    with progress_hook(lambda value, total, preview, node_id=None: seen.append((value, total))):
        box(fv_nodes, kit)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cancel_stops_sampling(fv_nodes, kit, comfy_runtime):
    mm = comfy_runtime
    seen = []

    def press_cancel(value, total, preview, node_id=None):
        seen.append(value)
        mm.interrupt_current_processing(True)

    try:
        with progress_hook(press_cancel), pytest.raises(mm.InterruptProcessingException):
            box(fv_nodes, kit, steps=20)
    finally:
        mm.interrupt_current_processing(False)
    assert seen == [1]


def test_bad_input_is_explained(fv_nodes, kit, image):
    with pytest.raises(ValueError, match="at most 32 .*got 33"):
        box(fv_nodes, kit, image, latent_frames=33)
    with pytest.raises(ValueError, match=r"height 60 \(use 56 or 64\)"):
        box(fv_nodes, kit, image, height=60)
    with pytest.raises(ValueError, match="unknown sampler 'ddim_a'"):
        box(fv_nodes, kit, image, sampler_name="ddim_a")
    patched = fv_nodes.FrameLoomFancyVideoApply.execute(kit["model"], kit["fancy"], 25.0, 3.0).result[0]
    with pytest.raises(ValueError, match="already applied"):
        fv_nodes.FrameLoomFancyVideoSampler.execute(patched, kit["fancy"], kit["positive"], kit["negative"], kit["vae"],
                                                    **SIZE, **RUN, image=image)


@pytest.mark.parametrize("step", [0, 25, 49])
def test_default_sampler_and_scheduler_are_the_official_ddim(fv_nodes, kit, vectors_dir, step):
    """ComfyUI's 'ddim' sampler is Euler on the k-diffusion ODE, which equals deterministic DDIM; 'ddim_uniform' on the
    FancyVideo schedule gives the official timesteps 981, 961, ..., 1, then sigma 0 (alpha-bar 1, set_alpha_to_one)."""
    import comfy.k_diffusion.sampling
    import comfy.samplers

    vec = load_file(str(vectors_dir / "fancyvideo_scheduler.safetensors"))
    model = fv_nodes.FrameLoomFancyVideoApply.execute(kit["model"], kit["fancy"], 25.0, 3.0).result[0]
    sampling = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(sampling, RUN["scheduler"], 50)
    assert torch.equal(sampling.timestep(sigmas[:-1]).round().long(), vec["timesteps_50"]) and sigmas[-1] == 0
    assert comfy.samplers.sampler_object(RUN["sampler_name"]).sampler_function is comfy.k_diffusion.sampling.sample_euler

    sigma, after = sigmas[step].double(), sigmas[step + 1].double()
    v = vec["model_output"].double()
    x = vec["x"].double() * (sigma**2 + 1).sqrt()  # k-diffusion scale: calculate_input() divides this back

    def denoiser(x_in, s, **_):
        return sampling.calculate_denoised(s.view(-1), v, x_in)

    stepped = comfy.k_diffusion.sampling.sample_euler(denoiser, x, torch.stack([sigma, after]), disable=True)
    previous = stepped / (after**2 + 1).sqrt()
    # 1e-5, not the file's 1e-6: ComfyUI keeps its sigma table in float32 (measured 4e-7, 5e-7, 1.8e-6 at 0, 25, 49)
    assert (previous - vec[f"vpred_prev_sample_step{step}"].double()).abs().max() <= 1e-5
