"""FancyVideo's CV-VAE (3-D causal VAE, 4x time / 8x space) in plain PyTorch, with the official chunking and tiling."""
from .config import CVVAEConfig, TileGrid
from .frames import frames_for_latents, latent_frames_for, valid_frame_counts
from .loading import describe_state_dict, infer_config
from .model import CVVAE

__all__ = [
    "CVVAE",
    "CVVAEConfig",
    "TileGrid",
    "describe_state_dict",
    "frames_for_latents",
    "infer_config",
    "latent_frames_for",
    "valid_frame_counts",
]
