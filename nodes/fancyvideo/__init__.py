"""FancyVideo on ComfyUI's own SD1.5 UNet: the ModelPatcher glue (no node classes here).

apply_fancyvideo(model, weights, fps=..., motion_score=...) -> MODEL clone with motion modules, fps/motion embeddings,
9-channel conv_in and the zero-SNR v-prediction model_sampling; fancyvideo_image_conditioning(...) attaches the I2V
image channels to a CONDITIONING; apply_resadapter(...) adds ResAdapter v2 as weight patches. NODES: the node classes
(loaders, Apply, Image to Video, Extend/Backtrack, ResAdapter Apply, CV-VAE Encode/Decode, the one-box Sampler).
"""
from .apply import PATCH_KEY, FancyVideoSettings, apply_fancyvideo
from .conditioning import fancyvideo_image_conditioning
from .keymap import comfy_unet_config, spatial_keymap, spatial_state_for_comfy
from .motion_patcher import FancyVideoModel, build_fancyvideo_model
from .nodes import NODES
from .resadapter import apply_resadapter
from .sampling import fancyvideo_model_sampling
from .unet_patch import ATTEND_OPTION

__all__ = [
    "ATTEND_OPTION",
    "FancyVideoModel",
    "FancyVideoSettings",
    "NODES",
    "PATCH_KEY",
    "apply_fancyvideo",
    "apply_resadapter",
    "build_fancyvideo_model",
    "comfy_unet_config",
    "fancyvideo_image_conditioning",
    "fancyvideo_model_sampling",
    "spatial_keymap",
    "spatial_state_for_comfy",
]
