"""Deterministic RIFE IFNet weights from a {key: shape} layout (reference README §2.4), and their SHA-256.

The reference vectors were produced with exactly these weights; the hash check proves a rebuild is right before any
output is compared. Also used to write tiny end-to-end checkpoints and by bench/bench_rife.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import zlib
from typing import Mapping, Sequence, Union

import numpy as np
import torch

SEED = 20240917
KEY_DUMP = "rife_v4_ifnet_keys.json"

ArrayLike = Union[np.ndarray, torch.Tensor]


def rebuild_tensor(key: str, shape: Sequence[int], seed: int = SEED) -> np.ndarray:
    """One tensor: uniform draws from a per-key PCG64 stream, scaled by the rule for its kind."""
    rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(key.encode("utf-8"))]))
    u = rng.random(size=tuple(shape))
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "beta":
        w = 0.5 + u
    elif leaf == "bias":
        w = (2 * u - 1) * 0.05
    elif len(shape) >= 2:
        w = (2 * u - 1) * np.sqrt(3.0 / np.prod(shape[1:])) * 0.8
    else:
        w = 0.5 * u
    return w.astype("<f4")


def rebuild_weights(keys: Mapping[str, Sequence[int]], seed: int = SEED) -> dict[str, torch.Tensor]:
    """float32 CPU tensors for every (bare) key of a layout."""
    return {key: torch.from_numpy(np.asarray(rebuild_tensor(key, shape, seed))) for key, shape in keys.items()}


def weights_sha256(weights: Mapping[str, ArrayLike]) -> str:
    """SHA-256 over sorted keys: each key's UTF-8 bytes, then its little-endian float32 bytes."""
    digest = hashlib.sha256()
    for key in sorted(weights):
        value = weights[key]
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        digest.update(key.encode("utf-8"))
        digest.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
    return digest.hexdigest()


def read_key_dump(reference_dir: "os.PathLike[str] | str") -> dict:
    """The 'versions' table of rife_v4_ifnet_keys.json (per version: keys, scale_list, pad modulo, ...)."""
    with open(os.path.join(reference_dir, KEY_DUMP), encoding="utf-8") as fh:
        return json.load(fh)["versions"]
