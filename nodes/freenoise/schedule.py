"""Prompts over time as one ComfyUI CONDITIONING whose cross-attention context has one row per frame.

Mechanism (plain ComfyUI, no model patch): a conditioning's cond [F, tokens, C] is turned into c_crossattn, and
CONDCrossAttn.process_cond(batch_size = latent batch) keeps it as is when the latent batch is F (it would narrow or
tile it otherwise); the negative's [1, tokens, C] is repeated to F, and the two are concatenated along the batch for
CFG. So latent frame i attends to row i: every spatial cross-attention of frame i sees frame i's blended prompt.
`pooled_output` gets per-frame rows the same way. The schedule records its frame count under PROMPT_FRAMES_KEY, and
FreeNoise's sampling wrapper refuses a latent of another length instead of letting ComfyUI tile silently.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import torch

from ...modules.freenoise.embeddings import repeat_to_common_tokens
from ...modules.freenoise.prompt_schedule import interpolate_per_frame, parse_prompt_schedule
from .injection import with_motion_injection

logger = logging.getLogger("FrameLoom.freenoise")

PROMPT_FRAMES_KEY = "frameloom_prompt_frames"
_BLENDED = ("cond", "pooled_output")


def _encode(clip: Any, text: str) -> dict[str, torch.Tensor]:
    out = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True, return_dict=True)
    ignored = sorted(k for k in out if k not in _BLENDED)
    if ignored:
        logger.warning("prompt schedule: this text encoder's %s outputs are not blended per frame and are dropped", ignored)
    return out


def encode_prompt_schedule(clip: Any, text: str, num_frames: int, motion_injection: bool = False) -> list:
    """CONDITIONING for `num_frames` latent frames from a keyframe schedule ('"0": "a camel walking", "48": ...').

    Each distinct prompt is encoded once with `clip`; frames between keys get the linear blend of the two
    embeddings, frames before the first / after the last key hold it. motion_injection adds FreeNoise's
    motion injection (injection.py) with the last keyframe's prompt as the target.
    Syntax errors raise modules.freenoise.PromptScheduleError with the line and column.
    """
    entries = parse_prompt_schedule(text, num_frames)
    encoded: dict[str, dict[str, torch.Tensor]] = {}
    for entry in entries:
        if entry.text not in encoded:
            encoded[entry.text] = _encode(clip, entry.text)
    conds = repeat_to_common_tokens([encoded[e.text]["cond"] for e in entries])
    per_frame = interpolate_per_frame({e.frame: c[0] for e, c in zip(entries, conds)}, num_frames)
    options: dict[str, Any] = {PROMPT_FRAMES_KEY: num_frames}
    pooled = [encoded[e.text].get("pooled_output") for e in entries]
    if all(p is not None for p in pooled):
        options["pooled_output"] = interpolate_per_frame({e.frame: p[0] for e, p in zip(entries, pooled)}, num_frames)
    conditioning = [[per_frame, options]]
    logger.info(
        "prompt schedule: %d keyframes (%d distinct prompts) over %d frames", len(entries), len(encoded), num_frames
    )
    if not motion_injection:
        return conditioning
    if len(encoded) == 1:
        logger.info("prompt schedule: one prompt only, motion injection would change nothing; skipped")
        return conditioning
    return with_motion_injection(conditioning, conds[-1])


def check_prompt_frames(conds: Mapping[str, list], num_frames: int) -> None:
    """Refuse per-frame prompt schedules made for another frame count than the latent video has."""
    for branch, entries in conds.items():
        for entry in entries or []:
            made_for = entry.get(PROMPT_FRAMES_KEY) if isinstance(entry, Mapping) else None
            if made_for is not None and made_for != num_frames:
                raise ValueError(
                    f"the {branch} prompt schedule was made for {made_for} frames, but the latent video has "
                    f"{num_frames}; set the schedule's frames to {num_frames}"
                )
