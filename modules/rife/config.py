"""Per-version configuration of RIFE v4.x IFNet (Practical-RIFE), one row per released version.

A state dict does not tell the forward pass apart (aliases share a layout), and flownet.pkl does not store the
scale_list, so everything that shapes the forward pass lives here. Channel counts of the block inputs follow from
the head width and the feature flag, so they are derived rather than stored.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

# Head kinds: no feature head (4.6), the two-layer Sequential of 4.7-4.9, the four-conv `Head` of 4.13+.
HEAD_NONE = "none"
HEAD_SEQUENTIAL = "sequential"
HEAD_CNN = "cnn"

# Output channels of lastconv before PixelShuffle(2): 4*6 (flow 4 + mask 1 + 1 unused) or 4*13 (+8 features).
LASTCONV_PLAIN = 24
LASTCONV_FEATURES = 52
FEATURE_CHANNELS = 8


@dataclass(frozen=True)
class RifeConfig:
    """Everything that distinguishes one IFNet v4 version from another.

    layout: the canonical version whose state-dict names and shapes this version shares.
    widths: channel width c of each IFBlock (conv0 runs at c/2 then c).
    scale_base: scale_list at scale 1; the actual list is base / scale.
    mask_accumulates: 4.6 adds each block's mask logit; 4.7+ replaces it.
    """

    version: str
    layout: str
    widths: tuple[int, ...]
    head: str
    head_hidden: int
    head_out: int
    lastconv_channels: int
    scale_base: tuple[float, ...]
    ensemble: bool
    mask_accumulates: bool = False
    resconv_groups: int = 1

    @property
    def num_blocks(self) -> int:
        return len(self.widths)

    @property
    def has_features(self) -> bool:
        """4.21+ blocks pass 8 feature channels to the next block."""
        return self.lastconv_channels == LASTCONV_FEATURES

    @property
    def block0_in(self) -> int:
        # img0, img1, f0, f1, timestep
        return 3 + 3 + 2 * self.head_out + 1

    @property
    def block_in(self) -> int:
        # warped img0/img1/f0/f1, timestep, mask[, feat], then the block appends the 4 flow channels
        return self.block0_in + 1 + (FEATURE_CHANNELS if self.has_features else 0) + 4

    @property
    def pad_modulo(self) -> int:
        """Input size multiple needed at scale 1: the coarsest level is downsampled 4x more inside the block."""
        return int(self.scale_base[0]) * 4

    def scale_list(self, scale: float) -> list[float]:
        return [base / scale for base in self.scale_base]


_BASE4 = (8.0, 4.0, 2.0, 1.0)
_BASE5 = (16.0, 8.0, 4.0, 2.0, 1.0)

_CANONICAL = (
    RifeConfig("4.6", "4.6", (192, 128, 96, 64), HEAD_NONE, 0, 0, LASTCONV_PLAIN, _BASE4, True, mask_accumulates=True),
    RifeConfig("4.7", "4.7", (192, 128, 96, 64), HEAD_SEQUENTIAL, 16, 4, LASTCONV_PLAIN, _BASE4, True),
    RifeConfig("4.14.lite", "4.14.lite", (192, 128, 96, 64), HEAD_CNN, 32, 8, LASTCONV_PLAIN, _BASE4, True,
               resconv_groups=2),
    RifeConfig("4.15.lite", "4.15.lite", (128, 96, 64, 48), HEAD_CNN, 16, 4, LASTCONV_PLAIN, _BASE4, True),
    RifeConfig("4.17", "4.17", (192, 128, 96, 64), HEAD_CNN, 32, 8, LASTCONV_PLAIN, _BASE4, True),
    RifeConfig("4.22", "4.22", (256, 192, 96, 48), HEAD_CNN, 32, 8, LASTCONV_FEATURES, _BASE4, False),
    RifeConfig("4.22.lite", "4.22.lite", (192, 128, 64, 32), HEAD_CNN, 16, 4, LASTCONV_FEATURES, _BASE4, False),
    RifeConfig("4.25", "4.25", (192, 128, 96, 64, 32), HEAD_CNN, 16, 4, LASTCONV_FEATURES, _BASE5, False),
    # 4.25.lite skips the 2x level: its last two blocks run at 4x and 1x.
    RifeConfig("4.25.lite", "4.25.lite", (192, 128, 96, 64, 24), HEAD_CNN, 16, 4, LASTCONV_FEATURES,
               (32.0, 16.0, 8.0, 4.0, 1.0), False),
    RifeConfig("4.26.heavy", "4.26.heavy", (192, 128, 96, 64, 32), HEAD_CNN, 16, 16, LASTCONV_FEATURES, _BASE5, False),
)

SUPPORTED_VERSIONS: tuple[str, ...] = tuple(cfg.version for cfg in _CANONICAL)

# Versions that share the names and shapes of a supported version (rife_v4_ifnet_keys.json "aliases_same_layout").
ALIASES: dict[str, str] = {
    "4.8": "4.7",
    "4.9": "4.7",
    "4.13": "4.17",
    "4.14": "4.17",
    "4.15": "4.17",
    "4.18": "4.17",
    "4.19": "4.17",
    "4.24": "4.17",
    "4.16.lite": "4.15.lite",
    "4.17.lite": "4.15.lite",
    "4.21": "4.22",
    "4.23": "4.22",
    "4.26": "4.25",
}


def _alias_rows() -> dict[str, RifeConfig]:
    """Each alias gets its own row. For every alias listed, the per-version classes (author's files where
    available, vs-rife otherwise) run the same forward pass as the layout's version: same scale_list, mask rule
    and ensemble support. In particular 4.24 keeps the 4.17 ensemble (its class still averages the reverse pass);
    "no ensemble from 4.21" applies to the feature-passing versions 4.21-4.23 and 4.25+."""
    rows = {}
    canonical = {cfg.version: cfg for cfg in _CANONICAL}
    for alias, layout in ALIASES.items():
        rows[alias] = replace(canonical[layout], version=alias)
    return rows


CONFIGS: dict[str, RifeConfig] = {**{cfg.version: cfg for cfg in _CANONICAL}, **_alias_rows()}


def _version_key(version: str) -> tuple[int, int, str]:
    major, minor, *variant = version.split(".")
    return int(major), int(minor), "".join(variant)


ALL_VERSIONS: tuple[str, ...] = tuple(sorted(CONFIGS, key=_version_key))


def get_config(version: str) -> RifeConfig:
    """The config row of a supported version or alias, e.g. "4.25", "4.26", "4.22.lite"."""
    try:
        return CONFIGS[version]
    except KeyError:
        raise ValueError(
            f"unknown RIFE version '{version}'; expected one of {', '.join(ALL_VERSIONS)}"
        ) from None
