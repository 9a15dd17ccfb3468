"""StreamingT2V in ComfyUI: loader, the denoiser as a ComfyUI model, the Extend chunk loop, randomized blending."""
from .node import NODES

__all__ = ["NODES"]
