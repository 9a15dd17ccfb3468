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


def write_resadapter(folder: pathlib.Path, convs: dict[str, tuple[int, int]], norms: dict[str, tuple[int, ...]],
                     seed: int = 0, rank: int = 16) -> pathlib.Path:
    """A ResAdapter v2 folder: pytorch_lora_weights.safetensors (kohya names, rank 16, with the .alpha entries the
    released file carries) for the given diffusers sampler convs {name: (out, in)}, and
    diffusion_pytorch_model.safetensors with random norm weights of the given shapes."""
    generator = torch.Generator().manual_seed(seed)
    lora: dict[str, torch.Tensor] = {}
    for conv, (out_ch, in_ch) in convs.items():
        stem = "lora_unet_" + conv.replace(".", "_")
        lora[f"{stem}.lora_down.weight"] = torch.randn(rank, in_ch, 3, 3, generator=generator) * 0.1
        lora[f"{stem}.lora_up.weight"] = torch.randn(out_ch, rank, 1, 1, generator=generator) * 0.1
        lora[f"{stem}.alpha"] = torch.tensor(float(rank))
    norm_state = {name: 1.0 + 0.1 * torch.randn(shape, generator=generator) for name, shape in norms.items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(lora, str(folder / "pytorch_lora_weights.safetensors"))
    save_file(norm_state, str(folder / "diffusion_pytorch_model.safetensors"))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("family", choices=["rife"])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--version", default="4.25")
    args = parser.parse_args()
    write_rife_checkpoint(args.out, args.version)


if __name__ == "__main__":
    main()
