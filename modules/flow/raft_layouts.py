"""The two published RAFT-large key layouts, written out from their source structure, and the renames to ours.

* "princeton": princeton-vl/RAFT (raft-things.pth, raft-sintel.pth, ...), saved from DataParallel, so every key
  starts with 'module.' (stripped before matching). Its residual blocks register the shortcut's norm twice, as
  `norm3` and as `downsample.1`; with batch norm (context encoder) both names carry the same tensors.
* "torchvision": torchvision.models.optical_flow.raft_large weights (raft_large_C_T_SKHT_V2-ff5fadd5.pth, ...),
  with Conv2dNormActivation's '.0' (conv) / '.1' (norm) sub-names and the mask head outside the update block.

Instance norm (feature encoder) has no tensors in either. Batch-norm `num_batches_tracked` counters are optional:
they are unused at inference and some conversions drop them.
"""
from __future__ import annotations

import functools
import math
import re
from typing import Optional

import torch

LAYOUTS = ("princeton", "torchvision")
OPTIONAL_SUFFIX = ".num_batches_tracked"

_STAGES = ((1, 64, 64, 1), (2, 64, 96, 2), (3, 96, 128, 2))  # (index, in, out, stride of the first block)
_CORR = 4 * 9 * 9


def _conv(shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    return {"weight": shape, "bias": (shape[0],)}


def _bn(ch: int) -> dict[str, tuple[int, ...]]:
    return {"weight": (ch,), "bias": (ch,), "running_mean": (ch,), "running_var": (ch,), "num_batches_tracked": ()}


def _put(layout: dict, prefix: str, tensors: dict[str, tuple[int, ...]]) -> None:
    for leaf, shape in tensors.items():
        layout[f"{prefix}.{leaf}"] = tuple(shape)


# Update-operator tensors by role (shared by both layouts), and the two ConvGRU steps' kernels (1×5, then 5×1).
_UPDATE = {
    "corr1": (256, _CORR, 1, 1),
    "corr2": (192, 256, 3, 3),
    "flow1": (128, 2, 7, 7),
    "flow2": (64, 128, 3, 3),
    "fuse": (126, 256, 3, 3),
    "head1": (256, 128, 3, 3),
    "head2": (2, 256, 3, 3),
    "mask1": (256, 128, 3, 3),
    "mask2": (576, 256, 1, 1),
}
_GRU = {1: (128, 384, 1, 5), 2: (128, 384, 5, 1)}

# How each layout names every role. Block names are relative to '<encoder>.layer<i>.<block>'; `gru` is formatted
# with step (1 or 2) and gate (z, r, q); `skip_norm` may list several names for the same module.
_NAMES: dict[str, dict] = {
    "princeton": {
        "encoders": ("fnet", "cnet"),
        "stem": ("conv1", "norm1"),
        "convs": ("conv1", "conv2"),
        "norms": ("norm1", "norm2"),
        "skip_conv": "downsample.0",
        "skip_norm": ("norm3", "downsample.1"),
        "out": "conv2",
        "update": {
            "corr1": "update_block.encoder.convc1",
            "corr2": "update_block.encoder.convc2",
            "flow1": "update_block.encoder.convf1",
            "flow2": "update_block.encoder.convf2",
            "fuse": "update_block.encoder.conv",
            "head1": "update_block.flow_head.conv1",
            "head2": "update_block.flow_head.conv2",
            "mask1": "update_block.mask.0",
            "mask2": "update_block.mask.2",
        },
        "gru": "update_block.gru.conv{gate}{step}",
    },
    "torchvision": {
        "encoders": ("feature_encoder", "context_encoder"),
        "stem": ("convnormrelu.0", "convnormrelu.1"),
        "convs": ("convnormrelu1.0", "convnormrelu2.0"),
        "norms": ("convnormrelu1.1", "convnormrelu2.1"),
        "skip_conv": "downsample.0",
        "skip_norm": ("downsample.1",),
        "out": "conv",
        "update": {
            "corr1": "update_block.motion_encoder.convcorr1.0",
            "corr2": "update_block.motion_encoder.convcorr2.0",
            "flow1": "update_block.motion_encoder.convflow1.0",
            "flow2": "update_block.motion_encoder.convflow2.0",
            "fuse": "update_block.motion_encoder.conv.0",
            "head1": "update_block.flow_head.conv1",
            "head2": "update_block.flow_head.conv2",
            "mask1": "mask_predictor.convrelu.0",
            "mask2": "mask_predictor.conv",
        },
        "gru": "update_block.recurrent_block.convgru{step}.conv{gate}",
    },
}


def _build(names: dict) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    feature, context = names["encoders"]
    for enc, batch in ((feature, False), (context, True)):  # instance norm (feature encoder) has no tensors
        _put(out, f"{enc}.{names['stem'][0]}", _conv((64, 3, 7, 7)))
        if batch:
            _put(out, f"{enc}.{names['stem'][1]}", _bn(64))
        for index, cin, cout, stride in _STAGES:
            for block in (0, 1):
                p = f"{enc}.layer{index}.{block}"
                _put(out, f"{p}.{names['convs'][0]}", _conv((cout, cin if block == 0 else cout, 3, 3)))
                _put(out, f"{p}.{names['convs'][1]}", _conv((cout, cout, 3, 3)))
                if batch:
                    for norm in names["norms"]:
                        _put(out, f"{p}.{norm}", _bn(cout))
                if block == 0 and stride != 1:
                    _put(out, f"{p}.{names['skip_conv']}", _conv((cout, cin, 1, 1)))
                    for norm in names["skip_norm"] if batch else ():
                        _put(out, f"{p}.{norm}", _bn(cout))
        _put(out, f"{enc}.{names['out']}", _conv((256, 128, 1, 1)))
    for role, shape in _UPDATE.items():
        _put(out, names["update"][role], _conv(shape))
    for step, shape in _GRU.items():
        for gate in "zrq":
            _put(out, names["gru"].format(step=step, gate=gate), _conv(shape))
    return out


@functools.lru_cache(maxsize=None)
def _cached(layout: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    if layout not in _NAMES:
        raise ValueError(f"unknown RAFT layout '{layout}'; expected one of {', '.join(LAYOUTS)}")
    return tuple(_build(_NAMES[layout]).items())


def official_layout(layout: str) -> dict[str, tuple[int, ...]]:
    """{name: shape} of a published RAFT-large checkpoint (bare names, no 'module.')."""
    return dict(_cached(layout))


def fill_aliases(state: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """Restore a twice-registered module's missing name from the other one (princeton-vl's norm3 / downsample.1).

    Tools that deduplicate shared tensors (safetensors' save_model, some converters) keep only one of the two names.
    """
    names = _NAMES[layout]["skip_norm"]
    if len(names) < 2:
        return state
    out = dict(state)
    first, second = (f".{n}." for n in names)
    for key in state:
        for have, want in ((first, second), (second, first)):
            if have in key:
                out.setdefault(key.replace(have, want), state[key])
    return out


def random_official_state(layout: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded tensors for every key of an official layout, for tests and benchmarks (no weights can be shipped).

    Magnitudes keep activations sane (uniform convolutions with unit fan-in variance, batch-norm statistics near
    identity); princeton-vl's twice-registered shortcut norms get identical tensors, as in the real files.
    """
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in official_layout(layout).items():
        leaf = key.rsplit(".", 1)[-1]
        u = torch.rand(shape, generator=gen)
        if leaf == "num_batches_tracked":
            state[key] = torch.tensor(1000)
        elif leaf == "running_var":
            state[key] = 0.5 + u
        elif leaf in ("running_mean", "bias"):
            state[key] = (u - 0.5) * 0.1
        elif len(shape) == 1:  # batch-norm scale
            state[key] = 0.8 + 0.4 * u
        else:
            state[key] = (2 * u - 1) * math.sqrt(3.0 / math.prod(shape[1:]))
    for key in [k for k in state if ".norm3." in k]:
        state[key] = state[key.replace(".norm3.", ".downsample.1.")]
    return state


# Renames to our RAFT's names: (pattern, replacement) tried in order, first full match wins. W = one leaf name.
_W = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_ENCODERS = {
    "fnet": "feature_net",
    "cnet": "context_net",
    "feature_encoder": "feature_net",
    "context_encoder": "context_net",
}
_TV = "feature_encoder|context_encoder"
_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "princeton": (
        (rf"(fnet|cnet)\.conv1\.{_W}", r"\1.stem.conv.\2"),
        (rf"(fnet|cnet)\.norm1\.{_W}", r"\1.stem.norm.\2"),
        (rf"(fnet|cnet)\.conv2\.{_W}", r"\1.out.\2"),
        (rf"(fnet|cnet)\.layer(\d)\.(\d)\.(conv1|conv2|norm1|norm2)\.{_W}", r"\1.stage\2.\3.\4.\5"),
        (rf"(fnet|cnet)\.layer(\d)\.(\d)\.downsample\.0\.{_W}", r"\1.stage\2.\3.proj.conv.\4"),
        (rf"(fnet|cnet)\.layer(\d)\.(\d)\.(?:downsample\.1|norm3)\.{_W}", r"\1.stage\2.\3.proj.norm.\4"),
        (rf"update_block\.encoder\.convc([12])\.{_W}", r"motion.corr\1.\2"),
        (rf"update_block\.encoder\.convf([12])\.{_W}", r"motion.flow\1.\2"),
        (rf"update_block\.encoder\.conv\.{_W}", r"motion.fuse.\1"),
        (rf"update_block\.gru\.conv([zrq])1\.{_W}", r"gru.horizontal.\1.\2"),
        (rf"update_block\.gru\.conv([zrq])2\.{_W}", r"gru.vertical.\1.\2"),
        (rf"update_block\.flow_head\.conv([12])\.{_W}", r"flow_head.conv\1.\2"),
        (rf"update_block\.mask\.0\.{_W}", r"mask_head.conv1.\1"),
        (rf"update_block\.mask\.2\.{_W}", r"mask_head.conv2.\1"),
    ),
    "torchvision": (
        (rf"({_TV})\.convnormrelu\.0\.{_W}", r"\1.stem.conv.\2"),
        (rf"({_TV})\.convnormrelu\.1\.{_W}", r"\1.stem.norm.\2"),
        (rf"({_TV})\.conv\.{_W}", r"\1.out.\2"),
        (rf"({_TV})\.layer(\d)\.(\d)\.convnormrelu([12])\.0\.{_W}", r"\1.stage\2.\3.conv\4.\5"),
        (rf"({_TV})\.layer(\d)\.(\d)\.convnormrelu([12])\.1\.{_W}", r"\1.stage\2.\3.norm\4.\5"),
        (rf"({_TV})\.layer(\d)\.(\d)\.downsample\.0\.{_W}", r"\1.stage\2.\3.proj.conv.\4"),
        (rf"({_TV})\.layer(\d)\.(\d)\.downsample\.1\.{_W}", r"\1.stage\2.\3.proj.norm.\4"),
        (rf"update_block\.motion_encoder\.convcorr([12])\.0\.{_W}", r"motion.corr\1.\2"),
        (rf"update_block\.motion_encoder\.convflow([12])\.0\.{_W}", r"motion.flow\1.\2"),
        (rf"update_block\.motion_encoder\.conv\.0\.{_W}", r"motion.fuse.\1"),
        (rf"update_block\.recurrent_block\.convgru1\.conv([zrq])\.{_W}", r"gru.horizontal.\1.\2"),
        (rf"update_block\.recurrent_block\.convgru2\.conv([zrq])\.{_W}", r"gru.vertical.\1.\2"),
        (rf"update_block\.flow_head\.conv([12])\.{_W}", r"flow_head.conv\1.\2"),
        (rf"mask_predictor\.convrelu\.0\.{_W}", r"mask_head.conv1.\1"),
        (rf"mask_predictor\.conv\.{_W}", r"mask_head.conv2.\1"),
    ),
}
_COMPILED = {name: tuple((re.compile(p), r) for p, r in rules) for name, rules in _RULES.items()}


def rename_key(key: str, layout: str) -> Optional[str]:
    """Our RAFT's name for an official key, or None when no rule covers it."""
    for pattern, replacement in _COMPILED[layout]:
        match = pattern.fullmatch(key)
        if match:
            name = match.expand(replacement)
            head, _, rest = name.partition(".")
            return f"{_ENCODERS.get(head, head)}.{rest}"
    return None
