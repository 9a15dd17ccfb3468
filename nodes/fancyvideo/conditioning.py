"""I2V / extend / backtrack image conditioning through ComfyUI's conditioning, so the stock KSampler carries it.

The 5 extra channels (image latent, mask) ride in each conditioning entry under "noise_concat": ComfyUI's BaseModel
turns that key into c_concat (resized to the latent batch, sliced by context windows along with the frames) and
apply_model concatenates it to the noisy latent before the UNet, whose conv_in the FancyVideo patch makes 9-channel.
Set it on both positive and negative: the official pipeline feeds the same image channels to both CFG branches.
"""
from __future__ import annotations

import torch

import comfy.model_patcher
import node_helpers

from ...modules.fancyvideo.conditioning import image_condition

CONCAT_KEY = "noise_concat"


def fancyvideo_image_conditioning(
    conditioning: list,
    model_patcher: comfy.model_patcher.ModelPatcher,
    latent_samples: torch.Tensor,
    num_frames: int,
    start: int = 0,
) -> list:
    """A copy of `conditioning` carrying the image channels for `num_frames` latent frames.

    latent_samples: ComfyUI LATENT samples [n, 4, h, w] of the reference frame(s) as a VAE encodes them (unscaled);
    the model's latent format scales them (x0.18215 for SD1.5). They go to frames start..start+n-1.
    """
    scaled = model_patcher.model.process_latent_in(latent_samples.float())
    concat = image_condition(scaled, num_frames, start)
    return node_helpers.conditioning_set_values(conditioning, {CONCAT_KEY: concat})
