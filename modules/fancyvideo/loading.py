"""Read FancyVideo checkpoints into a typed container, and build the motion model from it.

Two formats are recognised from their keys, whatever the file extension:
* official DeepSpeed `mp_rank_00_model_states.pt`: `['module']` holds the whole UNet state dict (keys may carry a
  `module.` prefix). Only keys containing `motion_modules.`, `conv_in.weight`, `fps_embedding.` or
  `motion_embedding.` are kept, as the official loader does; `conv_in.bias` and the SD1.5 layers come from the user's
  base model instead.
* Kosinkadink's AnimateDiff-Evolved conversion `FancyVideo_v1.safetensors`: the same names (motion modules, conv_in,
  fps/motion embeddings) plus a marker tensor named `FancyVideo`.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Mapping, Optional

import torch
from torch import nn

from ..common import CheckpointError, compare_layout, load_state_dict
from ..common.pickle_convert import prefer_converted
from .keymap import EMBEDDING_PREFIXES, TRAINED_KEY_MARKERS, key_group, motion_module_of, motion_module_sort_key
from .motion_model import FancyVideoMotionModel
from .motion_module import DEFAULT_MAX_LEN, DEFAULT_NORM_GROUPS, motion_module_shapes, sinusoidal_positions

logger = logging.getLogger("FrameLoom.fancyvideo")

ADE_MARKER = "FancyVideo"
FORMAT_DEEPSPEED = "official"
FORMAT_ADE = "animatediff-evolved"
IMAGE_CHANNELS = 9  # noisy latent 4 + image latent 4 + mask 1
LATENT_CHANNELS = 4


@dataclass
class FancyVideoWeights:
    """FancyVideo's trained tensors, under the official names."""

    motion: dict[str, torch.Tensor]
    conv_in_weight: torch.Tensor
    embeddings: dict[str, torch.Tensor] = field(default_factory=dict)
    pe_length: int = DEFAULT_MAX_LEN
    source_format: str = FORMAT_DEEPSPEED
    has_ctgm: bool = False

    @property
    def module_channels(self) -> dict[str, int]:
        """{'down_blocks.0.motion_modules.0': channels, ...} in UNet execution order."""
        names = {motion_module_of(k)[0] for k in self.motion}
        ordered = sorted(names, key=motion_module_sort_key)
        return {n: self.motion[f"{n}.temporal_transformer.proj_in.weight"].shape[1] for n in ordered}

    @property
    def has_fps(self) -> bool:
        return "fps_embedding.linear.weight" in self.embeddings

    @property
    def has_motion_score(self) -> bool:
        return "motion_embedding.linear.weight" in self.embeddings

    @property
    def embedding_dims(self) -> Optional[tuple[int, int]]:
        for name in ("fps_embedding.linear.weight", "motion_embedding.linear.weight"):
            if name in self.embeddings:
                out_features, in_features = self.embeddings[name].shape
                return in_features, out_features
        return None

    def build_motion_model(
        self,
        *,
        ops: ModuleType | Any = nn,
        dtype: Optional[torch.dtype] = None,
        device: Any = None,
        norm_groups: int = DEFAULT_NORM_GROUPS,
    ) -> FancyVideoMotionModel:
        """The motion modules and embeddings with these weights loaded (strict). `ops` may be ComfyUI's op classes."""
        model = FancyVideoMotionModel(
            self.module_channels,
            embedding_dims=self.embedding_dims,
            with_fps=self.has_fps,
            with_motion=self.has_motion_score,
            norm_groups=norm_groups,
            max_len=self.pe_length,
            ops=ops,
            device="meta",
        )
        state = {**self.motion, **self.embeddings}
        own = model.state_dict()
        for name, buffer in own.items():
            if name.endswith("pos_encoder.pe") and name not in state:
                state[name] = sinusoidal_positions(buffer.shape[1], buffer.shape[2])
        # Positional encodings stay float32; weights take the requested dtype. assign=True avoids a second copy.
        converted = {
            k: v.to(device=device, dtype=torch.float32 if k.endswith(".pe") else (dtype or v.dtype)) for k, v in state.items()
        }
        model.load_state_dict(converted, strict=True, assign=True)
        return model.requires_grad_(False).eval()


def _describe(state: Mapping[str, torch.Tensor], limit: int = 4) -> str:
    groups = Counter(key_group(k) for k in state)
    names = ", ".join(sorted(state)[:limit])
    return f"{len(state)} tensors ({', '.join(f'{n} {g}' for g, n in groups.items())}), e.g. {names}"


def detect_format(state: Mapping[str, torch.Tensor]) -> str:
    """FORMAT_ADE or FORMAT_DEEPSPEED; CheckpointError for anything that is not a FancyVideo checkpoint."""
    if ADE_MARKER in state:
        return FORMAT_ADE
    has_motion = any(key_group(k) == "motion" for k in state)
    conv_in = state.get("conv_in.weight")
    if has_motion and conv_in is not None and conv_in.ndim == 4 and conv_in.shape[1] == IMAGE_CHANNELS:
        return FORMAT_DEEPSPEED
    if has_motion and conv_in is not None:
        raise CheckpointError(
            f"FancyVideo conv_in.weight must be [C, {IMAGE_CHANNELS}, 3, 3], found shape {list(conv_in.shape)}"
        )
    if has_motion:
        raise CheckpointError(
            "expected a FancyVideo checkpoint (motion modules plus a 9-channel conv_in and fps/motion embeddings), "
            f"found motion modules without the 9-channel conv_in, which is a plain AnimateDiff motion module: {_describe(state)}"
        )
    raise CheckpointError(
        "expected a FancyVideo checkpoint (mp_rank_00_model_states.pt or FancyVideo_v1.safetensors with "
        f"'<block>.motion_modules.<n>.*' keys), found no motion modules: {_describe(state)}"
    )


def _check_motion_layout(motion: Mapping[str, torch.Tensor], pe_length: int) -> None:
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in motion.items():
        module, rest = motion_module_of(key)
        modules.setdefault(module, {})[rest] = value
    for module, tensors in modules.items():
        proj_in = tensors.get("temporal_transformer.proj_in.weight")
        if proj_in is None or proj_in.ndim != 2:
            raise CheckpointError(f"motion module '{module}' has no 2-D temporal_transformer.proj_in.weight")
        expected = motion_module_shapes(proj_in.shape[1], pe_length)
        if not any(k.endswith("pos_encoder.pe") for k in tensors):
            expected = {k: s for k, s in expected.items() if not k.endswith("pos_encoder.pe")}
        report = compare_layout(tensors, expected)
        if not report.ok:
            raise CheckpointError(f"motion module '{module}' does not have the AnimateDiff-v2 layout: {report.format()}")


def _check_embeddings(embeddings: Mapping[str, torch.Tensor]) -> None:
    for prefix in EMBEDDING_PREFIXES:
        weight = embeddings.get(f"{prefix}linear.weight")
        if weight is None and not any(k.startswith(prefix) for k in embeddings):
            continue
        if weight is None or weight.ndim != 2:
            raise CheckpointError(f"FancyVideo {prefix}linear.weight must be a 2-D matrix, found {_describe(embeddings)}")
        expected = {f"{prefix}linear.weight": tuple(weight.shape), f"{prefix}linear.bias": (weight.shape[0],)}
        report = compare_layout({k: v for k, v in embeddings.items() if k.startswith(prefix)}, expected)
        if not report.ok:
            raise CheckpointError(f"FancyVideo {prefix[:-1]} does not have the expected layout: {report.format()}")


def fancyvideo_weights_from_state_dict(state: Mapping[str, torch.Tensor]) -> FancyVideoWeights:
    """Filter, validate and group a FancyVideo state dict (either format) without copying tensors."""
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    source_format = detect_format(state)
    has_ctgm = any(key_group(k) == "ctgm" for k in state)
    kept = {k: v for k, v in state.items() if any(m in k for m in TRAINED_KEY_MARKERS) and key_group(k) != "ctgm"}
    dropped = len(state) - len(kept) - (ADE_MARKER in state)
    if dropped:
        logger.debug("FancyVideo: ignored %d tensors that the official loader does not use", dropped)
    if has_ctgm:
        logger.warning("FancyVideo: this checkpoint has CTGM tensors; they are experimental and not used")

    conv_in = kept.get("conv_in.weight")
    if conv_in is None or conv_in.ndim != 4 or conv_in.shape[1] != IMAGE_CHANNELS:
        found = "missing" if conv_in is None else f"shape {list(conv_in.shape)}"
        raise CheckpointError(f"FancyVideo conv_in.weight must be [C, {IMAGE_CHANNELS}, 3, 3], found {found}")
    motion = {k: v for k, v in kept.items() if key_group(k) == "motion"}
    embeddings = {k: v for k, v in kept.items() if key_group(k) == "embedding"}
    pe = [v for k, v in motion.items() if k.endswith("pos_encoder.pe")]
    pe_length = pe[0].shape[1] if pe else DEFAULT_MAX_LEN
    if not pe:
        logger.info("FancyVideo: no pos_encoder.pe in the file; using the sinusoidal table of length %d", pe_length)
    _check_motion_layout(motion, pe_length)
    _check_embeddings(embeddings)
    if not embeddings:
        logger.warning("FancyVideo: no fps/motion embeddings in the checkpoint; fps and motion score will be ignored")
    weights = FancyVideoWeights(motion, conv_in, embeddings, pe_length, source_format, has_ctgm)
    logger.info(
        "FancyVideo weights (%s): %d motion modules, pe length %d, fps %s, motion score %s",
        source_format, len(weights.module_channels), pe_length, weights.has_fps, weights.has_motion_score,
    )
    return weights


def load_fancyvideo(path: str | os.PathLike) -> FancyVideoWeights:
    """Read a FancyVideo checkpoint file safely (safetensors, or torch.load with weights_only) and validate it.

    An official .pt that weights_only refuses is read from its one-time conversion <stem>.safetensors beside it."""
    path = prefer_converted(path)
    state = load_state_dict(path)
    try:
        return fancyvideo_weights_from_state_dict(state)
    except CheckpointError as exc:
        raise CheckpointError(f"'{os.path.basename(os.fspath(path))}': {exc}") from exc
