"""CV-VAE configuration: the released defaults, structural checks and the chunk/tile geometry derived from them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional

# Options of the official config that select code paths this port does not implement. The released config uses exactly
# these values; any other value would build a different network, so it is refused instead of silently ignored.
_FIXED_OPTIONS: dict[str, Any] = {
    "double_z": True,
    "attn_resolutions": [],
    "use_3d_conv": True,
    "half_3d": True,
    "causal_encoder": True,
    "causal_decoder": False,
    "encoder_attn_type": "vanilla-xformers",
    "decoder_attn_type": "spatial-temporal-xformer",
    "num_video_frames": None,
    "reshape_z_dim_to_4": False,
    "reshape_x_dim_to_4": False,
}


def time_compress_of(num_levels: int) -> int:
    """Temporal compression of a `num_levels`-level CV-VAE: even down levels (except the last level) halve time."""
    return 2 ** sum(1 for level in range(num_levels - 1) if level % 2 == 0)


def spatial_compress_of(num_levels: int) -> int:
    return 2 ** (num_levels - 1)


@dataclass(frozen=True)
class TileGrid:
    """Spatial tiling along one axis pair, in input units (`in_*`) and output units (`out_*`)."""

    in_tile: int
    in_stride: int
    out_overlap: int
    out_stride: int


@dataclass
class CVVAEConfig:
    """FancyVideo's CV-VAE config (class defaults of the official CVVAEModel = the released vae3d config)."""

    in_channels: int = 3
    out_ch: int = 3
    ch: int = 128
    ch_mult: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    num_res_blocks: int = 2
    z_channels: int = 4
    scaling_factor: float = 0.18215
    # None disables temporal chunking / spatial tiling (a non-default option: the output then differs from official).
    en_de_n_frames_a_time: Optional[int] = 16
    time_n_compress: int = 4
    spatial_n_compress: int = 8
    tile_spatial_size: Optional[int] = 576
    tile_overlap_ratio: float = 0.2222

    def __post_init__(self) -> None:
        self.ch_mult = [int(m) for m in self.ch_mult]
        self.validate()

    # --- derived structure -------------------------------------------------------------------------------------------
    @property
    def num_levels(self) -> int:
        return len(self.ch_mult)

    @staticmethod
    def level_has_time_stride(level: int) -> bool:
        """Encoder down level `level` halves time (official `half_t_mult`: even levels); the decoder mirrors it."""
        return level % 2 == 0

    @property
    def architecture_time_compress(self) -> int:
        return time_compress_of(self.num_levels)

    @property
    def architecture_spatial_compress(self) -> int:
        return spatial_compress_of(self.num_levels)

    # --- chunk / tile geometry (same rounding as the official code) --------------------------------------------------
    @property
    def decode_latents_a_time(self) -> Optional[int]:
        if self.en_de_n_frames_a_time is None:
            return None
        return self.en_de_n_frames_a_time // self.time_n_compress

    def encode_tiles(self) -> Optional[TileGrid]:
        if self.tile_spatial_size is None:
            return None
        latent_tile = self.tile_spatial_size // self.spatial_n_compress
        overlap = round(latent_tile * self.tile_overlap_ratio)
        return TileGrid(
            in_tile=self.tile_spatial_size,
            in_stride=round(self.tile_spatial_size * (1 - self.tile_overlap_ratio)),
            out_overlap=overlap,
            out_stride=latent_tile - overlap,
        )

    def decode_tiles(self) -> Optional[TileGrid]:
        if self.tile_spatial_size is None:
            return None
        latent_tile = self.tile_spatial_size // self.spatial_n_compress
        overlap = round(self.tile_spatial_size * self.tile_overlap_ratio)
        return TileGrid(
            in_tile=latent_tile,
            in_stride=round(latent_tile * (1 - self.tile_overlap_ratio)),
            out_overlap=overlap,
            out_stride=self.tile_spatial_size - overlap,
        )

    def validate(self) -> None:
        """Refuse configs whose chunk/tile arithmetic would not line up with the network (the official code would
        produce a misaligned mosaic or crash deep inside)."""
        if self.num_levels < 1 or any(m < 1 for m in self.ch_mult) or self.ch < 1 or self.num_res_blocks < 1:
            raise ValueError(f"CVVAEConfig: ch, ch_mult entries and num_res_blocks must be >= 1, got ch={self.ch}, "
                             f"ch_mult={self.ch_mult}, num_res_blocks={self.num_res_blocks}")
        if self.time_n_compress != self.architecture_time_compress:
            raise ValueError(f"CVVAEConfig: time_n_compress={self.time_n_compress} but {self.num_levels} levels "
                             f"compress time by {self.architecture_time_compress}")
        if self.spatial_n_compress != self.architecture_spatial_compress:
            raise ValueError(f"CVVAEConfig: spatial_n_compress={self.spatial_n_compress} but {self.num_levels} levels "
                             f"compress space by {self.architecture_spatial_compress}")
        n = self.en_de_n_frames_a_time
        if n is not None and (n < self.time_n_compress or n % self.time_n_compress):
            raise ValueError(f"CVVAEConfig: en_de_n_frames_a_time must be a positive multiple of time_n_compress="
                             f"{self.time_n_compress} (or None for no chunking), got {n}")
        if self.tile_spatial_size is None:
            return
        s = self.spatial_n_compress
        if not 0.0 <= self.tile_overlap_ratio < 1.0:
            raise ValueError(f"CVVAEConfig: tile_overlap_ratio must be in [0, 1), got {self.tile_overlap_ratio}")
        if self.tile_spatial_size < s or self.tile_spatial_size % s:
            raise ValueError(f"CVVAEConfig: tile_spatial_size must be a positive multiple of {s} (or None for no "
                             f"tiling), got {self.tile_spatial_size}")
        for name, grid, scale_in, scale_out in (
            ("encode", self.encode_tiles(), 1, s),
            ("decode", self.decode_tiles(), s, 1),
        ):
            # Tile origins and crops must map onto whole output pixels, and every tile must overlap the next.
            consistent = (
                grid.in_stride >= 1
                and grid.in_stride * scale_in == grid.out_stride * scale_out
                and (grid.in_tile - grid.in_stride) * scale_in == grid.out_overlap * scale_out
            )
            if not consistent:
                raise ValueError(
                    f"CVVAEConfig: tile_spatial_size={self.tile_spatial_size} with tile_overlap_ratio="
                    f"{self.tile_overlap_ratio} gives a {name} tile grid that does not align with the {s}x latent grid "
                    f"({grid}); use e.g. the released 576 / 0.2222"
                )

    # --- construction from official configs --------------------------------------------------------------------------
    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any] | str) -> "CVVAEConfig":
        """Build from an official config dict (hub `vae3d/config.json`) or a reference-vector metadata config
        (a dict or its JSON string). Unknown bookkeeping keys (`_class_name`, `force_upcast`, ...) are ignored."""
        if isinstance(meta, str):
            meta = json.loads(meta)
        if not isinstance(meta, Mapping):
            raise ValueError(f"CVVAEConfig.from_metadata expects a dict or JSON object string, got {type(meta).__name__}")
        for key, expected in _FIXED_OPTIONS.items():
            if key in meta and meta[key] != expected:
                raise ValueError(f"CV-VAE config option {key}={meta[key]!r} is not supported (only the released "
                                 f"{expected!r} is implemented)")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in meta.items() if k in names})
