"""Loading RAFT-large weights from either published layout, strictly, with reports that say what is wrong."""
from __future__ import annotations

import functools
import logging
import os
from typing import Mapping

import torch

from ..common import CheckpointError, compare_layout, load_state_dict, strip_prefix
from .raft import RAFT
from .raft_layouts import LAYOUTS, OPTIONAL_SUFFIX, fill_aliases, official_layout, rename_key

logger = logging.getLogger("FrameLoom.flow")

MODEL_FOLDER_HINT = os.path.join("models", "frameloom", "flow")
KNOWN_FILES = (
    "raft-things.pth or raft-sintel.pth (princeton-vl/RAFT, BSD-3-Clause)",
    "raft_large_C_T_SKHT_V2-ff5fadd5.pth (torchvision's RAFT-large weights, BSD-3-Clause)",
)
_MARKERS = {
    "princeton": ("fnet.", "cnet.", "update_block.encoder."),
    "torchvision": ("feature_encoder.", "context_encoder."),
}


def detect_layout(state: Mapping[str, torch.Tensor]) -> str:
    """'princeton' or 'torchvision' from the key names (after stripping 'module.')."""
    for layout in LAYOUTS:
        if any(key.startswith(_MARKERS[layout]) for key in state):
            return layout
    sample = ", ".join(sorted(state)[:5]) or "none"
    raise CheckpointError(
        "this is not a RAFT checkpoint: expected keys starting with 'fnet.'/'cnet.' (princeton-vl/RAFT, optionally "
        "under 'module.') or 'feature_encoder.'/'context_encoder.' (torchvision); "
        f"found {len(state)} keys such as {sample}"
    )


@functools.lru_cache(maxsize=None)
def _our_layout() -> tuple[tuple[str, tuple[int, ...]], ...]:
    with torch.device("meta"):
        return tuple((k, tuple(v.shape)) for k, v in RAFT().state_dict().items())


def our_layout() -> dict[str, tuple[int, ...]]:
    """{name: shape} of our RAFT's state dict."""
    return dict(_our_layout())


def _required(layout: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    return {k: v for k, v in layout.items() if not k.endswith(OPTIONAL_SUFFIX)}


def _small_hint(state: Mapping[str, torch.Tensor]) -> str:
    stem = state.get("fnet.conv1.weight", state.get("feature_encoder.convnormrelu.0.weight"))
    if stem is not None and stem.shape[0] != 64:
        return " It looks like RAFT-small, which is not supported: use a RAFT-large file."
    return ""


def to_our_names(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """A checked, renamed state dict for our RAFT, and the layout it came in. Raises CheckpointError on any mismatch."""
    state = strip_prefix(state, "module.")  # DataParallel's prefix; stray unprefixed keys stay and get reported
    layout = detect_layout(state)
    state = fill_aliases(state, layout)
    report = compare_layout(_required(state), _required(official_layout(layout)))
    if not report.ok:
        raise CheckpointError(
            f"not a RAFT-large checkpoint in the {layout} layout: {report.format()}.{_small_hint(state)}"
        )
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = rename_key(key, layout)
        if name is None:  # unreachable when the layout check passed; kept so a gap in the rules cannot pass silently
            raise CheckpointError(f"no mapping for RAFT key '{key}' ({layout} layout)")
        if name in renamed and not torch.equal(renamed[name], value):
            raise CheckpointError(
                f"'{key}' and the tensor already read for '{name}' should be one module registered twice "
                "(norm3 / downsample.1 in princeton-vl/RAFT) but differ: the file is inconsistent"
            )
        renamed[name] = value
    return renamed, layout


def load_raft(state: Mapping[str, torch.Tensor]) -> RAFT:
    """RAFT-large in eval mode, float32, on the CPU, from a state dict in either published layout."""
    renamed, layout = to_our_names(state)
    expected = our_layout()
    report = compare_layout(_required(renamed), _required(expected))
    if not report.ok:  # a wrong rename rule, never a user error
        raise CheckpointError(f"internal RAFT key mapping ({layout} layout) is incomplete: {report.format()}")
    tensors = {}
    for key, shape in expected.items():
        value = renamed.get(key)
        if value is None:  # an optional batch-norm counter: unused at inference
            value = torch.zeros(shape, dtype=torch.long)
        tensors[key] = value.float() if value.is_floating_point() else value
    with torch.device("meta"):
        model = RAFT()
    model.load_state_dict(tensors, strict=True, assign=True)
    logger.info("loaded RAFT-large (%s layout)", layout)
    return model.eval()


def load_raft_file(path: str | os.PathLike) -> RAFT:
    """load_raft from a file (safetensors, or a pickle read with weights_only); a missing file says where to put one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"RAFT weights not found at '{path}'. Put a RAFT-large file into ComfyUI's {MODEL_FOLDER_HINT}/ folder: "
            f"{'; or '.join(KNOWN_FILES)}. DIS needs no file."
        )
    try:
        return load_raft(load_state_dict(path))
    except CheckpointError as exc:
        raise CheckpointError(f"'{os.path.basename(path)}': {exc}") from exc
