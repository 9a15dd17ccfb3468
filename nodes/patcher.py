"""Our own networks (IFNet, CV-VAE, ...) wrapped in a ModelPatcher so ComfyUI loads, offloads and unloads them."""
from __future__ import annotations

import torch

import comfy.model_management as mm
import comfy.model_patcher

PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def pick_dtype(precision: str, device: torch.device | None = None) -> torch.dtype:
    """Resolve a precision widget value; 'auto' takes fp16 where ComfyUI says the device runs it well, else fp32."""
    if precision == "fp32":
        return torch.float32
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if precision != "auto":
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    device = device or mm.get_torch_device()
    return torch.float16 if mm.should_use_fp16(device, prioritize_performance=True) else torch.float32


def wrap_module(module: torch.nn.Module) -> comfy.model_patcher.ModelPatcher:
    """A ModelPatcher around `module`, kept on the offload device until a node asks for it."""
    return comfy.model_patcher.ModelPatcher(
        module, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device()
    )


def load_on_device(patcher: comfy.model_patcher.ModelPatcher, extra_memory: int = 0) -> torch.nn.Module:
    """Ask ComfyUI to place the network on its device (freeing other models if needed) and return the module."""
    mm.load_models_gpu([patcher], memory_required=extra_memory)
    return patcher.model
