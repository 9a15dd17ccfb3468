"""Random checkpoints in the official key layouts, written at test time (no weights are committed).

Usable as a script too: python -m tests.support.tiny_models rife OUT_FILE [--version 4.25]
"""
from __future__ import annotations

import argparse
import pathlib

import torch
from safetensors.torch import save_file


def random_state(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded weights with sane magnitudes for any layout (the reference rebuild rule, tests/support/rife_weights.py)."""
    from .rife_weights import rebuild_weights

    return rebuild_weights(layout, seed=seed)


def write_rife_checkpoint(path: pathlib.Path, version: str = "4.25", seed: int = 0, ddp_prefix: bool = False) -> pathlib.Path:
    """A RIFE IFNet file of `version`'s exact layout; .safetensors, or a torch.save .pkl/.pth when the suffix says so."""
    from modules.rife import expected_layout

    state = random_state(expected_layout(version), seed)
    if ddp_prefix:
        state = {f"module.{k}": v for k, v in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("family", choices=["rife"])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--version", default="4.25")
    args = parser.parse_args()
    write_rife_checkpoint(args.out, args.version)


if __name__ == "__main__":
    main()
