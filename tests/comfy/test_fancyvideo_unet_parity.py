"""FancyVideo on ComfyUI's own SD1.5 UNet against fancyvideo_tiny_unet.safetensors (README §4.2).

The tiny official UNet3D's weights are split the way a user's setup splits them: the SD1.5 layers (and conv_in's first
4 channels and bias, which the official pipeline takes from the base model) are loaded into ComfyUI's UNet through
the key map; motion modules, the 9-channel conv_in and the fps/motion embeddings go through the FancyVideo loader.
Then apply_fancyvideo patches a clone and the stock CFGGuider drives one model evaluation per case (cond and uncond
batched, image channels from the conditioning), exactly the path KSampler takes. A DIFFUSION_MODEL wrapper records
the raw UNet output (v or eps), which is what the reference stores.

Test-only adaptation: the tiny reference uses norm_num_groups 8 (32 groups on 32 channels would erase the per-channel
time/fps/motion shift), while ComfyUI's UNet hard-codes 32 GroupNorm groups, so the tiny UNet's GroupNorms are set
to 8 groups here. The motion modules keep 32 groups, hard-coded in the official motion module too.
"""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

TOL = 1e-5
VECTOR = "fancyvideo_tiny_unet.safetensors"


@pytest.fixture(scope="module")
def fv(frameloom):
    import importlib

    return importlib.import_module("FrameLoom.nodes.fancyvideo")


@pytest.fixture(scope="module")
def vec(vectors_dir):
    path = vectors_dir / VECTOR
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    return load_file(str(path)), json.loads(meta["unet_config"]), int(meta["timestep"])


@pytest.fixture(scope="module")
def official(vec):
    return {k[2:]: v.float() for k, v in vec[0].items() if k.startswith("w.")}


def build_base_model(fv, config, official, comfy_runtime, dtype=torch.float32):
    """ComfyUI SD15-shaped UNet at the tiny width with the reference's SD1.5 layers, in a ModelPatcher."""
    import comfy.model_patcher
    import comfy.supported_models

    model = comfy.supported_models.SD15(fv.comfy_unet_config(config, dtype=dtype)).get_model({})
    for module in model.diffusion_model.modules():
        if isinstance(module, torch.nn.GroupNorm):
            module.num_groups = config["norm_num_groups"]  # test-only, see the module docstring
    state = fv.spatial_state_for_comfy(official, model.model_config.unet_config)
    state["input_blocks.0.0.weight"] = official["conv_in.weight"][:, :4]
    state["input_blocks.0.0.bias"] = official["conv_in.bias"]
    model.diffusion_model.load_state_dict(state, strict=True)
    device = comfy_runtime.get_torch_device()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=comfy_runtime.unet_offload_device())


@pytest.fixture(scope="module")
def base_model(fv, vec, official, comfy_runtime):
    return build_base_model(fv, vec[1], official, comfy_runtime)


@pytest.fixture(scope="module")
def weights(frameloom, official):
    from FrameLoom.modules.fancyvideo.loading import fancyvideo_weights_from_state_dict

    return fancyvideo_weights_from_state_dict(official)


@pytest.fixture(scope="module")
def fancy_model(fv, weights, base_model):
    """Built once and reused across patches, as a loader node would."""
    return fv.build_fancyvideo_model(
        weights, dtype=torch.float32, load_device=base_model.load_device, offload_device=base_model.offload_device
    )


def evaluate(patched, sample: torch.Tensor, text: torch.Tensor, timestep: int) -> dict[int, torch.Tensor]:
    """One CFG evaluation through CFGGuider; {0: cond output, 1: uncond output}, each [F, 4, h, w].

    The image channels go in through fancyvideo_image_conditioning: the reference holds the scaled image latent at
    frame 0 (mask 1 there, zeros elsewhere), so the helper gets it back in ComfyUI's unscaled LATENT convention.
    """
    import comfy.patcher_extension
    import comfy.samplers
    from FrameLoom.nodes.fancyvideo import fancyvideo_image_conditioning

    captured = []

    def capture(executor, *args, **kwargs):
        out = executor(*args, **kwargs)
        captured.append((out.detach().clone(), list(args[5]["cond_or_uncond"])))
        return out

    patched = patched.clone()
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_capture", capture)
    sigma = patched.get_model_object("model_sampling").sigma(torch.tensor([float(timestep)]))
    latent = sample[0, :4].permute(1, 0, 2, 3).contiguous()  # both reference batch items carry the same sample
    frames = latent.shape[0]
    image = sample[0, 4:8, 0:1].permute(1, 0, 2, 3) / patched.model.latent_format.scale_factor
    positive = fancyvideo_image_conditioning([[text[0:1], {}]], patched, image, frames)
    negative = fancyvideo_image_conditioning([[text[1:2], {}]], patched, image, frames)
    concat = positive[0][1]["noise_concat"]
    assert (concat - sample[0, 4:].permute(1, 0, 2, 3)).abs().max() <= 1e-6
    x_in = latent * (sigma**2 + 1).sqrt()  # model_sampling.calculate_input divides this back to `latent`

    def one_evaluation(model, x, sigmas, extra_args=None, callback=None, disable=None):
        model(x_in, sigmas[0] * x.new_ones([x.shape[0]]), **extra_args)
        return x

    guider = comfy.samplers.CFGGuider(patched)
    guider.set_conds(positive, negative)
    guider.set_cfg(2.0)  # not 1.0, which would skip the uncond branch
    zeros = torch.zeros_like(latent)
    guider.sample(zeros, zeros, comfy.samplers.KSAMPLER(one_evaluation), torch.cat([sigma, torch.zeros(1)]), seed=0, disable_pbar=True)
    outputs = {}
    for out, order in captured:
        outputs.update(zip(order, out.chunk(len(order))))
    assert sorted(outputs) == [0, 1]
    return outputs


def max_diff(outputs: dict[int, torch.Tensor], reference: torch.Tensor) -> float:
    return max((outputs[b] - reference[b].permute(1, 0, 2, 3)).abs().max().item() for b in (0, 1))


CASES = {
    "out_fps25_motion3": ("in_sample_9ch", dict(fps=25.0, motion_score=3.0)),
    "out_no_fps_no_motion": ("in_sample_9ch", dict(fps=None, motion_score=None)),
    "out_1frame_compute_motion_false": (
        "in_sample_1frame", dict(fps=None, motion_score=None, compute_motion=False, sampling="eps")
    ),
}


@pytest.mark.comfy
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_reference(fv, vec, base_model, fancy_model, case):
    tensors, _, timestep = vec
    sample_key, options = CASES[case]
    patched = fv.apply_fancyvideo(base_model, fancy_model, **options)
    outputs = evaluate(patched, tensors[sample_key], tensors["in_text"], timestep)
    assert max_diff(outputs, tensors[case]) <= TOL


@pytest.mark.comfy
def test_half_precision_model(fv, vec, official, weights, comfy_runtime):
    # An fp16 UNet gets an fp16 motion model; casts (PE, sinusoids, conv_in) must follow. fp16-level tolerance.
    tensors, config, timestep = vec
    base = build_base_model(fv, config, official, comfy_runtime, dtype=torch.float16)
    patched = fv.apply_fancyvideo(base, weights)
    motion = patched.get_additional_models_with_key(fv.PATCH_KEY)[0].model
    assert {p.dtype for p in motion.parameters()} == {torch.float16}
    outputs = evaluate(patched, tensors["in_sample_9ch"], tensors["in_text"], timestep)
    assert outputs[0].dtype == torch.float16
    assert max_diff({k: v.float() for k, v in outputs.items()}, tensors["out_fps25_motion3"]) <= 2e-2


@pytest.mark.comfy
def test_cases_are_distinguishable(vec):
    # The fps/motion terms move the output far more than the tolerance, so the parity test really checks them.
    tensors = vec[0]
    assert (tensors["out_fps25_motion3"] - tensors["out_no_fps_no_motion"]).abs().max() > 1000 * TOL


@pytest.mark.comfy
def test_base_model_is_left_untouched(fv, vec, base_model, weights, comfy_runtime):
    from comfy.ldm.modules.diffusionmodules.openaimodel import TimestepEmbedSequential

    tensors, _, timestep = vec
    evaluate(fv.apply_fancyvideo(base_model, weights), tensors["in_sample_9ch"], tensors["in_text"], timestep)
    comfy_runtime.unload_all_models()
    unet = base_model.model.diffusion_model
    assert unet.input_blocks[0][0].weight.shape[1] == 4
    slots = [n for n, _ in unet.named_modules() if n.endswith("frameloom_motion")]
    assert slots == []
    assert all(type(b) is TimestepEmbedSequential for b in list(unet.input_blocks) + list(unet.output_blocks))
    assert base_model.get_attachment(fv.PATCH_KEY) is None


@pytest.mark.comfy
def test_temporal_attend_hook_runs_every_block(fv, vec, base_model, weights, comfy_runtime):
    tensors, _, timestep = vec
    calls, loaded = [], set()

    def attend(block, x):
        calls.append(tuple(x.shape))
        loaded.update(type(m.model.model).__name__ for m in comfy_runtime.current_loaded_models)
        return block.attend(x)

    patched = fv.apply_fancyvideo(base_model, weights)
    patched.model_options["transformer_options"][fv.ATTEND_OPTION] = attend
    outputs = evaluate(patched, tensors["in_sample_9ch"], tensors["in_text"], timestep)
    modules = len(weights.module_channels)
    assert len(calls) in (modules, 2 * modules)  # cond and uncond run as one batch or apart
    assert {shape[1] for shape in calls} == {16}
    assert {"FancyVideoMotionModel", "BaseModel"} <= loaded  # ComfyUI loaded the motion weights with the UNet
    assert max_diff(outputs, tensors["out_fps25_motion3"]) <= TOL

    patched.model_options["transformer_options"][fv.ATTEND_OPTION] = lambda block, x: x  # attention switched off
    outputs = evaluate(patched, tensors["in_sample_9ch"], tensors["in_text"], timestep)
    assert max_diff(outputs, tensors["out_fps25_motion3"]) > 1000 * TOL
