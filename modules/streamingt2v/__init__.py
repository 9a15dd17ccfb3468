"""StreamingT2V (arXiv 2403.14773) model side in plain PyTorch: CAM mergers, APM, E_cond, the ModelScope UNet3D with
its CAM control branch, randomized blending, schedules and autoregressive frame bookkeeping.

Nothing is imported eagerly beyond the submodules themselves; no weights are read at import time.
"""
