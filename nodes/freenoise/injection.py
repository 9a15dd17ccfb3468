"""FreeNoise motion injection as an attn2 patch that travels with the positive CONDITIONING.

The official multi-prompt sampler (modules.freenoise.motion_injection) feeds the spatial cross-attention of the input
and middle blocks the *target* prompt (the last one, for every frame) at the early and late steps, and the per-frame
prompts everywhere else. Here an attn2 patch swaps the context rows of the positive branch for the target prompt
where motion_injection_plan says so: the block comes from transformer_options["block"], the step from the current
sigma within transformer_options["sample_sigmas"], so any sampler, step count and denoise work.

The patch rides on the conditioning as a ComfyUI TransformerOptionsHook with the HookedOnly scope: ComfyUI merges it
into transformer_options only for batches of the conditioning that carries it (the negative prompt never sees it),
and no MODEL patch is needed. A cost of hooks: ComfyUI evaluates the hooked positive and the negative in separate
batches.
"""
from __future__ import annotations

import logging
from typing import Any

import torch

import comfy.hooks

from ...modules.freenoise.motion_injection import TARGET, motion_injection_plan
from ...modules.freenoise.steps import step_index

logger = logging.getLogger("FrameLoom.freenoise")

POSITIVE = 0  # index of the positive branch in transformer_options["cond_or_uncond"]


class MotionInjectionPatch:
    """attn2_patch (n, context, value, extra_options) -> (n, context, value); `target` is [1, tokens, channels]."""

    def __init__(self, target: torch.Tensor) -> None:
        if target.dim() != 3 or target.shape[0] != 1:
            raise ValueError(f"the target prompt embedding must be [1, tokens, channels], got {tuple(target.shape)}")
        self.target = target
        self._warned = False
        self._plan: tuple[Any, list[float], list] = (None, [], [])  # (schedule object, its sigmas, its plan)

    def __deepcopy__(self, memo: dict) -> "MotionInjectionPatch":
        return self  # shared on purpose: conditionings and model options get copied, the embedding need not be

    def _schedule(self, sample_sigmas: Any) -> tuple[list[float], list]:
        """The run's sigmas as floats and its injection plan, cached per schedule object (one device sync per run)."""
        if self._plan[0] is not sample_sigmas:
            sigmas = torch.as_tensor(sample_sigmas).flatten().tolist()
            plan = motion_injection_plan(len(sigmas) - 1) if len(sigmas) >= 2 else []
            self._plan = (sample_sigmas, sigmas, plan)
        return self._plan[1], self._plan[2]

    def source(self, extra_options: dict) -> str:
        """TARGET or PER_FRAME for the block and step this call belongs to."""
        schedule = extra_options.get("sample_sigmas")
        sigmas = extra_options.get("sigmas")
        block = extra_options.get("block")
        if schedule is None or sigmas is None or block is None:
            if not self._warned:
                logger.warning("FreeNoise motion injection: the sampler gives no step or block information; not injecting")
                self._warned = True
            return ""
        schedule, plan = self._schedule(schedule)
        if not plan:
            return ""
        step = step_index(float(torch.as_tensor(sigmas).flatten()[0]), schedule)
        return getattr(plan[step], block[0], "")

    def _inject(self, context: torch.Tensor, branches: list[int]) -> torch.Tensor:
        if context.shape[0] % len(branches):
            raise ValueError(f"cross-attention context of {context.shape[0]} rows does not split into branches {branches}")
        target = self.target.to(device=context.device, dtype=context.dtype)
        tokens = context.shape[1]
        if tokens % target.shape[1]:
            raise ValueError(
                f"the target prompt has {target.shape[1]} tokens and cannot be repeated to the batch's {tokens}; "
                "use prompts of similar length in the schedule and the other conditionings"
            )
        target = target.repeat(1, tokens // target.shape[1], 1)
        chunks = list(context.chunk(len(branches)))
        for i, branch in enumerate(branches):
            if branch == POSITIVE:
                chunks[i] = target.expand(chunks[i].shape[0], -1, -1)
        return torch.cat(chunks)

    def __call__(
        self, n: torch.Tensor, context: torch.Tensor, value: torch.Tensor, extra_options: dict
    ) -> tuple[Any, Any, Any]:
        if self.source(extra_options) != TARGET:
            return n, context, value
        branches = [int(b) for b in extra_options.get("cond_or_uncond", [POSITIVE])]
        if POSITIVE not in branches:
            return n, context, value
        injected = self._inject(context, branches)
        value = injected if value is context else self._inject(value, branches)
        return n, injected, value


def with_motion_injection(conditioning: list, target: torch.Tensor) -> list:
    """A copy of `conditioning` whose entries carry the motion-injection patch as a HookedOnly hook."""
    hook_class = getattr(comfy.hooks, "TransformerOptionsHook", None)
    scope = getattr(getattr(comfy.hooks, "EnumHookScope", None), "HookedOnly", None)
    if hook_class is None or scope is None:
        raise RuntimeError(
            "motion injection needs ComfyUI's conditioning hooks (comfy.hooks.TransformerOptionsHook with the "
            "HookedOnly scope), which this ComfyUI lacks; update ComfyUI or switch motion_injection off"
        )
    hook = hook_class(transformers_dict={"patches": {"attn2_patch": [MotionInjectionPatch(target)]}}, hook_scope=scope)
    group = comfy.hooks.HookGroup()
    group.add(hook)
    return comfy.hooks.set_hooks_for_conditioning(conditioning, group)
