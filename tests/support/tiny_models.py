"""Random checkpoints in the official key layouts, written at test time (no weights are committed).

Usable as a script too: python -m tests.support.tiny_models rife OUT_FILE [--version 4.25]
"""
from __future__ import annotations

import argparse
import pathlib

import torch
from safetensors.torch import save_file


def random_state(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights with sane magnitudes for a layout: fan-in scaled kernels, small biases, ResConv betas near 1."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key in sorted(layout):
        shape = tuple(layout[key])
        u = torch.rand(shape, generator=gen, dtype=torch.float64)
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "beta":
            w = 0.5 + u
        elif leaf == "bias":
            w = (2 * u - 1) * 0.05
        elif len(shape) >= 2:
            fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
            w = (2 * u - 1) * (3.0 / fan_in) ** 0.5 * 0.8
        else:
            w = 0.5 * u
        state[key] = w.to(torch.float32).contiguous()
    return state


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
