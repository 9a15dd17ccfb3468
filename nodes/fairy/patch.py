"""Fairy-style anchor attention installed on a ComfyUI MODEL (a clone; the incoming patcher is never touched).

Every self-attention (attn1) of the UNet's transformer blocks gets an `attn1` replacement:
* "anchor" mode: the K anchor frames of the batch attend to each other's keys/values, and each layer's anchor K/V
  is stored in the AnchorCache under (layer, step, CFG branch);
* "frames" mode: every frame attends to [own K/V, cached anchor K/V] of the same (layer, step, branch).

Step index = the number of the model evaluation inside one sampling run (0, 1, 2, ...), counted by a PREDICT_NOISE
wrapper and reset by an OUTER_SAMPLE wrapper. Counting evaluations rather than matching sigmas against the schedule
also works for samplers that evaluate the model more than once per step or at sigmas outside the schedule (Heun,
DPM-2, SDE samplers): the anchor pass and the frame passes run the same sampler on the same sigmas, so their n-th
evaluations always correspond. For one-evaluation-per-step samplers (Euler ancestral) it equals the sampler step.
"""
from __future__ import annotations

import logging
from typing import Optional

import torch
from einops import rearrange

import comfy.patcher_extension
from comfy.ldm.modules.attention import SpatialTransformer
from comfy.model_patcher import ModelPatcher

from ...modules.fairy import AnchorCache, anchor_pass_attention, frame_attention

logger = logging.getLogger("FrameLoom.fairy")

MODES = ("anchor", "frames")
PATCH_KEY = "frameloom_fairy_anchor_attention"

Layer = tuple[str, int, int]


def self_attention_layers(diffusion_model: torch.nn.Module) -> list[Layer]:
    """(block kind, block number, transformer index) of every self-attention, as ComfyUI names them in
    transformer_options ("block" and "block_index"), in execution order."""
    stages = (
        ("input", getattr(diffusion_model, "input_blocks", None)),
        ("middle", [diffusion_model.middle_block] if getattr(diffusion_model, "middle_block", None) else []),
        ("output", getattr(diffusion_model, "output_blocks", None)),
    )
    if stages[0][1] is None or stages[2][1] is None:
        raise ValueError(
            "Fairy-style anchor attention needs a UNet with input/middle/output blocks (SD1.x, SD2.x, SDXL); "
            f"found {type(diffusion_model).__name__}"
        )
    layers = []
    for kind, blocks in stages:
        for number, block in enumerate(blocks):
            for module in block:
                if not isinstance(module, SpatialTransformer):
                    continue
                for index, transformer in enumerate(module.transformer_blocks):
                    # A block with disable_self_attn uses attn1 as cross-attention: not a frame's self-attention.
                    if not getattr(transformer, "disable_self_attn", False):
                        layers.append((kind, number, index))
    if not layers:
        raise ValueError(f"{type(diffusion_model).__name__} has no self-attention layers to patch")
    return layers


class EvaluationCounter:
    """Which model evaluation of the current sampling run is executing; shared by all layers of one patch."""

    def __init__(self) -> None:
        self.step: Optional[int] = None

    def outer_sample(self, executor, *args, **kwargs):
        self.step = None
        try:
            return executor(*args, **kwargs)
        finally:
            self.step = None

    def predict_noise(self, executor, *args, **kwargs):
        self.step = 0 if self.step is None else self.step + 1
        return executor(*args, **kwargs)

    def __deepcopy__(self, memo: dict) -> "EvaluationCounter":
        return self  # run state, shared on purpose (see AnchorAttention.__deepcopy__)


class AnchorAttention:
    """The attn1 replacement for one self-attention layer: q, k, v arrive projected, (batch, tokens, heads·dim)."""

    def __init__(self, layer: Layer, cache: AnchorCache, mode: str, counter: EvaluationCounter) -> None:
        self.layer = layer
        self.cache = cache
        self.mode = mode
        self.counter = counter

    def __deepcopy__(self, memo: dict) -> "AnchorAttention":
        # ModelPatcher.clone() deep-copies model_options; the cache must stay one object shared by the anchor pass
        # and every frame pass (and by clones of the patched model), so the patch is never copied.
        return self

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra_options: dict) -> torch.Tensor:
        step = self.counter.step
        if step is None:
            raise RuntimeError(
                f"Fairy-style attention at {self.layer} ran outside a sampling run; sample this MODEL with a ComfyUI "
                "sampler/guider (the patch counts model evaluations through its PREDICT_NOISE wrapper)"
            )
        branches = [int(b) for b in extra_options["cond_or_uncond"]]
        if len(set(branches)) != len(branches):
            raise ValueError(
                f"Fairy-style attention needs one conditioning entry per CFG branch, but this batch holds branches "
                f"{branches}; use one prompt per branch (Conditioning Concat instead of Conditioning Combine)"
            )
        if q.shape[0] % len(branches):
            raise ValueError(f"batch of {q.shape[0]} rows does not split into {len(branches)} CFG branches")
        heads = int(extra_options["n_heads"])
        compute_dtype = torch.float32 if extra_options.get("attn_precision") == torch.float32 else q.dtype
        out = []
        for branch, (qc, kc, vc) in zip(branches, zip(*(t.chunk(len(branches)) for t in (q, k, v)))):
            qh, kh, vh = (rearrange(t.to(compute_dtype), "b n (h d) -> b h n d", h=heads) for t in (qc, kc, vc))
            if self.mode == "anchor":
                self.cache.put(self.layer, step, branch, kh, vh)
                oh = anchor_pass_attention(qh, kh, vh)
            else:
                k_anchor, v_anchor = self.cache.get(self.layer, step, branch, device=q.device)
                oh = frame_attention(qh, kh, vh, k_anchor, v_anchor)
            out.append(rearrange(oh, "b h n d -> b n (h d)").to(q.dtype))
        return torch.cat(out)


def apply_anchor_attention(model_patcher: ModelPatcher, cache: AnchorCache, mode: str) -> ModelPatcher:
    """A clone of `model_patcher` (a ComfyUI ModelPatcher) whose self-attentions run Fairy's anchor attention.

    mode "anchor": sample the anchor frames as one batch with it (fills `cache`); mode "frames": sample any other
    frames with it, in any grouping, using the same sampler, steps, sigmas and CFG (reads `cache`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
    if not (callable(getattr(cache, "put", None)) and callable(getattr(cache, "get", None))):
        raise ValueError(f"cache must be a modules.fairy.AnchorCache, got {type(cache).__name__}")
    patched = model_patcher.clone()
    layers = self_attention_layers(patched.get_model_object("diffusion_model"))
    counter = EvaluationCounter()
    existing = patched.model_options.get("transformer_options", {}).get("patches_replace", {}).get("attn1", {})
    for layer in layers:
        current = existing.get(layer)
        if current is not None and not isinstance(current, AnchorAttention):
            logger.warning("attn1 replacement at %s from another node is replaced by Fairy-style attention", layer)
        patched.set_model_attn1_replace(AnchorAttention(layer, cache, mode, counter), *layer)
    wrappers = comfy.patcher_extension.WrappersMP
    for kind, wrapper in ((wrappers.OUTER_SAMPLE, counter.outer_sample), (wrappers.PREDICT_NOISE, counter.predict_noise)):
        patched.remove_wrappers_with_key(kind, PATCH_KEY)  # re-patching a patched model replaces, never stacks
        patched.add_wrapper_with_key(kind, PATCH_KEY, wrapper)
    logger.debug("Fairy-style %s attention on %d self-attention layers", mode, len(layers))
    return patched
