"""FancyVideo (arXiv 2408.08189) on ComfyUI's SD1.5 UNet: motion modules, embeddings, schedule, CV-VAE."""
