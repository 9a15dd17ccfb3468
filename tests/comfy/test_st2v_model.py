"""The StreamingT2V denoiser as a ComfyUI model: the ModelScope schedule, and one guided evaluation through ComfyUI's
own sampling path (CFGGuider -> calc_cond_batch -> BaseModel.apply_model -> our diffusion model) against the
official whole-denoiser vector st2v_tiny_full_forward (README §5.6).

Tolerances as in tests/modules/test_st2v_full_forward.py: the per-branch noise predictions 1e-5, the CFG output 5e-5
(u + 7.5·(c − u) multiplies the reference's own float32 rounding). ε is recovered from ComfyUI's x0 as
(x − x0)/σ, which adds at most a few float32 ULPs.
"""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from tests.modules.test_st2v_full_forward import FILES, tiny_config

pytestmark = pytest.mark.comfy

TOL = 1e-5
TOL_CFG = 5e-5
TIMESTEP = 801


def read_vector(vectors_dir) -> tuple[dict, dict]:
    data = {}
    for name in FILES:
        data.update(load_file(str(vectors_dir / name)))
    with safe_open(str(vectors_dir / FILES[0]), "pt") as f:
        config = json.loads(f.metadata()["config"])
    return data, config


def vector_net(data: dict, config: dict):
    """The official tiny StreamingT2V (channels 32, context 32) with the vector's weights, float32, eval."""
    from FrameLoom.modules.streamingt2v import StreamingT2V, load_streaming_t2v_weights

    net = StreamingT2V(tiny_config(config)).eval().requires_grad_(False)
    load_streaming_t2v_weights(net, {k[2:]: v.float() for k, v in data.items() if k.startswith("w.")})
    return net



@pytest.fixture(scope="module")
def st2v(frameloom):
    return importlib.import_module("FrameLoom.nodes.streamingt2v.model")


@pytest.fixture(scope="module")
def vector(vectors_dir):
    return read_vector(vectors_dir)


@pytest.fixture(scope="module")
def patcher(st2v, vector):
    return st2v.wrap_streaming_t2v(vector_net(*vector))


def test_schedule_is_modelscope_ddim(patcher):
    import comfy.model_base
    import comfy.samplers

    model = patcher.model
    assert model.model_type == comfy.model_base.ModelType.EPS
    # diffusers DDIMScheduler(beta_schedule="scaled_linear", 0.00085 -> 0.012, 1000 steps), in float64.
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas)
    sigmas = np.sqrt((1.0 - alphas_cumprod) / alphas_cumprod)
    np.testing.assert_allclose(model.model_sampling.sigmas.double().numpy(), sigmas, rtol=1e-6)
    # ddim_uniform at 50 steps visits DDIMScheduler's timesteps (steps_offset 1): 981, 961, ..., 1, then sigma 0.
    schedule = comfy.samplers.calculate_sigmas(model.model_sampling, "ddim_uniform", 50)
    assert schedule[-1] == 0 and len(schedule) == 51
    assert model.model_sampling.timestep(schedule[:-1]).tolist() == list(range(981, 0, -20))


def _conditioning(data: dict, branch: str) -> list:
    text = "in.prompt_embeds" if branch == "cond" else "in.negative_prompt_embeds"
    embeds = "in.clip_image_embeds" if branch == "cond" else "in.clip_image_embeds_uncond"
    return [[data[text], {"st2v_anchor_embeds": data[embeds][None], "st2v_cond_frames": data["in.cond_frames"]}]]


def _one_evaluation(patcher, data: dict, cfg: float) -> dict:
    """Run ComfyUI's sampler machinery for exactly one model evaluation at t = 801 and capture x0 per branch."""
    import comfy.samplers

    model = patcher.model
    sigma = model.model_sampling.sigma(torch.tensor([float(TIMESTEP)]))
    # ComfyUI feeds the model x/sqrt(σ²+1): choose x so that the model input is the vector's latents.
    x = data["in.latents"][0].transpose(0, 1) * (sigma**2 + 1) ** 0.5
    captured = {}

    def post_cfg(args):
        captured.update(cond=args["cond_denoised"], uncond=args["uncond_denoised"], cfg=args["denoised"])
        return args["denoised"]

    def single_step(model_k, noise, sigmas, extra_args=None, callback=None, disable=None):
        return model_k(x, sigmas[0] * x.new_ones(x.shape[0]), **extra_args)

    clone = patcher.clone()
    clone.set_model_sampler_post_cfg_function(post_cfg)
    with torch.no_grad():
        comfy.samplers.sample(
            clone, torch.zeros_like(x), _conditioning(data, "cond"), _conditioning(data, "uncond"), cfg, "cpu",
            comfy.samplers.KSAMPLER(single_step), torch.cat([sigma, sigma.new_zeros(1)]),
            model_options=clone.model_options, latent_image=torch.zeros_like(x),
        )  # fmt: skip
    return {k: ((x - v) / sigma).transpose(0, 1)[None] for k, v in captured.items()}


def test_one_step_through_comfy_reproduces_the_official_denoiser(patcher, vector):
    data, config = vector
    eps = _one_evaluation(patcher, data, config["guidance_scale"])
    uncond_ref, cond_ref = data["out.noise_pred"].chunk(2)
    assert (eps["uncond"] - uncond_ref).abs().max().item() <= TOL
    assert (eps["cond"] - cond_ref).abs().max().item() <= TOL
    assert (eps["cfg"] - data["out.noise_pred_cfg"]).abs().max().item() <= TOL_CFG


def test_missing_conditioning_and_wrong_layout_are_explained(st2v, patcher, vector):
    data, _ = vector
    denoiser = patcher.model.diffusion_model
    x = torch.zeros(16, 4, 8, 8)
    t = torch.full((16,), float(TIMESTEP))
    context = data["in.prompt_embeds"].expand(16, -1, -1)
    with pytest.raises(ValueError, match="anchor image embedding.*StreamingT2V Extend"):
        denoiser(x, t, context=context)
    with pytest.raises(ValueError, match=r"16-frame chunks.*got latents \[12, 4, 8, 8\]"):
        denoiser(x[:12], t[:12], context=context[:12], st2v_anchor_embeds=data["in.clip_image_embeds"][None])
    with pytest.raises(ValueError, match="77 text tokens"):
        denoiser(x, t, context=context[:, :70], st2v_anchor_embeds=data["in.clip_image_embeds"][None])
    per_video = st2v.CONDPerVideo(torch.zeros(1, 3))
    assert per_video.process_cond(batch_size=32).cond.shape == (2, 3)
    with pytest.raises(ValueError, match="16-frame chunks"):
        per_video.process_cond(batch_size=20)
