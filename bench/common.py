"""What every FrameLoom benchmark shares: peak-RSS measurement, device set-up, in-process ComfyUI and result files."""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def rss_kib(field: str) -> int:
    """A memory field of /proc/self/status in KiB: VmRSS (now) or VmHWM (peak since the last reset)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset the process's peak RSS to its current RSS and return that level in bytes (the baseline of a measurement)."""
    before = rss_kib("VmRSS") * 1024
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")  # resets VmHWM (peak RSS) to the current RSS
    return before


def peak_rss_above(baseline: int) -> int:
    """Bytes of peak RSS above `baseline` (from reset_peak_rss) since that reset."""
    return rss_kib("VmHWM") * 1024 - baseline


def strict_fp32_cuda() -> None:
    """TF32 off, so GPU fp32 timings and numbers are comparable with the reference tolerances."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()


def enable_comfy(cpu: bool) -> None:
    """In-process ComfyUI: the test setup (--cpu) on the CPU; ComfyUI's own device choice otherwise."""
    from tests.support.runtime import STUBS_DIR, enable_inprocess_comfy, require_runtime

    if cpu:
        enable_inprocess_comfy()
        return
    sys.path.extend([str(require_runtime()), str(STUBS_DIR)])
    sys.argv = [sys.argv[0]]  # ComfyUI parses sys.argv when comfy.cli_args is first imported
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.model_management  # noqa: F401  (selects the device now)


def write_result(result: dict, name: str, device: str, out: Path) -> Path:
    """Write `result` as bench/results-style JSON named <name>_<device>_<timestamp>.json and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}_{device}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return path


def written(path: Path) -> str:
    return f"\nwritten {os.path.relpath(path, REPO_ROOT)}"


# ComfyUI's detected SD1.5 UNet config (comfy.supported_models.SD15), for benches that build the real layout on meta.
SD15_UNET = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2],
    channel_mult=[1, 2, 4, 4], transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0],
    transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], transformer_depth_middle=1, context_dim=768,
    num_heads=8, num_head_channels=-1, use_spatial_transformer=True, use_linear_in_transformer=False, legacy=False,
    adm_in_channels=None, use_temporal_attention=False, use_temporal_resblock=False,
)  # fmt: skip
