"""FreeNoise benchmark: window-fused temporal attention (both fused spans) against full attention, and memory vs length.

    .frameloom/venv/bin/python bench/bench_freenoise.py              # CPU: 64, 128 and 256 frames
    .frameloom/venv/bin/python bench/bench_freenoise.py --quick      # 64 frames, one repeat

One CFG model evaluation (cond and uncond batched, what every KSampler step does) of a small SD1.5-shaped UNet with
FancyVideo motion modules, run by in-process ComfyUI on the CPU through the stock CFGGuider; random weights
(tests/support/freenoise_models.py), which do not change the cost. Three modes on the same weights:
  * full:                the paper's "direct inference": the plain motion modules attend over all F frames; their
                         sinusoidal PE table is stretched to F rows (released checkpoints stop at 32 rows, so this
                         baseline exists for timing only);
  * freenoise-stack:     FrameLoom FreeNoise, fused_span "stack" (AnimateDiff port / diffusers: the attention stack per
                         window, windows batched), window 16, stride 4, pyramid weights, the 32-row table;
  * freenoise-attention: the same with fused_span "attention" (official FreeNoise: each temporal attention fused,
                         projections shared, all windows in one batched attention call).
Time (process CPU time, one torch thread by default) is the best of --repeats runs, split into the whole evaluation and the time spent inside the motion modules'
attention stacks (the attend hook), where all of FreeNoise's extra work lives. Memory: process peak RSS above the
level before the evaluation, each (frames, mode) in a fresh subprocess. A FLOP count for the real SD1.5 UNet +
mm_sd_v15_v2 at 512x512 (analytic for the motion modules, checked against torch's FlopCounterMode on one module
built on the meta device; FlopCounterMode on the meta-device SD1.5 UNet for the spatial layers) gives the expected
ratios at real size. Results go to bench/results/.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import SD15_UNET, device_name, peak_rss_above, reset_peak_rss, write_result  # noqa: E402
from tests.support.runtime import enable_inprocess_comfy, import_pack  # noqa: E402

logger = logging.getLogger("FrameLoom.bench.freenoise")

FRAMES = (64, 128, 256)
MODES = ("full", "freenoise-stack", "freenoise-attention")
FREENOISE = {"context_length": 16, "stride": 4, "weighting": "pyramid"}
# A narrow SD1.5 layout: two levels with cross-attention, motion modules at 64 and 128 channels.
SMALL_UNET = {
    "block_out_channels": [64, 128], "layers_per_block": 1, "cross_attention_dim": 64,
    "down_block_types": ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D"],
    "up_block_types": ["CrossAttnUpBlock3D", "CrossAttnUpBlock3D"],
}
RELEASED_PE_LENGTH = 32
# Process CPU time: with one torch thread it is the work done, which the other jobs on a shared machine disturb far
# less than wall time.
CLOCK = time.process_time


class AttendTimer:
    """Attend hook that times the wrapped hook (or the plain attention stack) per call."""

    def __init__(self, inner=None) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __call__(self, block, x: torch.Tensor) -> torch.Tensor:
        start = CLOCK()
        out = self.inner(block, x) if self.inner is not None else block.attend(x)
        self.seconds += CLOCK() - start
        return out

    def __deepcopy__(self, memo: dict) -> "AttendTimer":
        return self


def build(mode: str, frames: int):
    """(patched MODEL, attend timer, positive, negative) for one mode."""
    import comfy.model_management as mm

    from FrameLoom.nodes.fancyvideo import ATTEND_OPTION, apply_fancyvideo
    from FrameLoom.nodes.freenoise import FreeNoiseSettings, apply_freenoise
    from tests.support import freenoise_models as tiny

    base = tiny.sd15_model(mm, unet=SMALL_UNET)
    pe_length = frames if mode == "full" else RELEASED_PE_LENGTH
    model = apply_fancyvideo(base, tiny.random_fancyvideo_weights(base, pe_length), fps=None, motion_score=None)
    if mode != "full":
        model = apply_freenoise(model, FreeNoiseSettings(**FREENOISE, fused_span=mode.split("-", 1)[1]))
    options = model.model_options["transformer_options"]
    timer = AttendTimer(options.get(ATTEND_OPTION))
    options[ATTEND_OPTION] = timer
    width = SMALL_UNET["cross_attention_dim"]
    generator = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 77, width, generator=generator), {}]]
    negative = [[torch.randn(1, 77, width, generator=generator), {}]]
    return model, timer, positive, negative


def evaluate(model, positive, negative, frames: int, size: int) -> torch.Tensor:
    """One CFG evaluation through comfy's CFGGuider at sigma 10: a sampler function that evaluates the model once, so
    the run is the model's cost (plus FreeNoise's noise shuffle, which is negligible)."""
    import comfy.samplers

    def one_evaluation(model_k, x, sigmas, extra_args=None, callback=None, disable=None):
        return model_k(x, sigmas[0] * x.new_ones([x.shape[0]]), **extra_args)

    noise = torch.randn(frames, 4, size, size, generator=torch.Generator().manual_seed(1))
    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(7.5)
    sampler = comfy.samplers.KSAMPLER(one_evaluation)
    return guider.sample(noise, torch.zeros_like(noise), sampler, torch.tensor([10.0, 0.0]), seed=0, disable_pbar=True)


def timing(args) -> list[dict]:
    rows = []
    for frames in args.frames:
        row = {"frames": frames}
        for mode in MODES:
            model, timer, positive, negative = build(mode, frames)
            evaluate(model, positive, negative, min(frames, 16), args.size)  # warm-up: loading, allocator
            best = (float("inf"), 0.0)
            for _ in range(args.repeats):
                timer.seconds = 0.0
                start = CLOCK()
                evaluate(model, positive, negative, frames, args.size)
                best = min(best, (CLOCK() - start, timer.seconds))
            row[f"{mode}_s"], row[f"{mode}_temporal_s"] = best
            logger.info("%d frames, %s: %.2f s (temporal attention %.2f s)", frames, mode, *best)
        for mode in MODES[1:]:
            row[f"{mode}_ratio"] = row[f"{mode}_s"] / row["full_s"]
            row[f"{mode}_temporal_ratio"] = row[f"{mode}_temporal_s"] / row["full_temporal_s"]
        rows.append(row)
    return rows


def memory_child(args) -> dict:
    """In a fresh process: peak RSS above the pre-call level of one evaluation."""
    model, _, positive, negative = build(args.mode, args.memory_child)
    evaluate(model, positive, negative, 16, args.size)  # warm-up outside the measurement
    before = reset_peak_rss()
    evaluate(model, positive, negative, args.memory_child, args.size)
    peak = peak_rss_above(before)
    return {"frames": args.memory_child, "mode": args.mode, "peak_mib": peak / 2**20}


def memory(args) -> list[dict]:
    rows = []
    for frames in args.frames:
        for mode in MODES:
            cmd = [sys.executable, __file__, "--size", str(args.size), "--threads", str(args.threads),
                   "--memory-child", str(frames), "--mode", mode]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


# --- FLOPs at real size ------------------------------------------------------------------------------------------
LATENT_512 = 64
# mm_sd_v15_v2 motion modules at 512x512: (tokens per frame, channels, modules). Two per down level (after each
# resnet/attention pair), one in the middle block, three per up level.
SD15_MOTION_SITES = ((64 * 64, 320, 2 + 3), (32 * 32, 640, 2 + 3), (16 * 16, 1280, 2 + 3), (8 * 8, 1280, 2 + 1 + 3))


def motion_module_flops(
    mode: str, frames: int, channels: int, pixels: int = 1, context_length: int = 16, stride: int = 4
) -> int:
    """Matmul FLOPs (2 per multiply-add) of one motion module on `pixels` sequences of `frames` frames.

    proj_in + proj_out and the GEGLU feed-forward (C -> 8C, 4C -> C) act per frame; each of the 2 temporal
    attentions has 4 C x C projections and 2 F x F x C attention products. freenoise-stack runs the attention stack on
    every window; freenoise-attention runs the projections once per frame and only the w x w products per window,
    plus, once per attention for all pixels, q/k/v of the w PE rows and a zero row.
    """
    from FrameLoom.modules.freenoise.windows import context_windows

    c = channels
    per_frame = 2 * c * c + 12 * c * c  # proj_in, proj_out, feed-forward
    windows = len(context_windows(frames, context_length, stride)) if frames > context_length else 1
    w = min(frames, context_length)
    if mode == "full":
        attention = 4 * frames * c * c + 2 * frames * frames * c
    elif mode == "freenoise-stack":
        attention = windows * (4 * w * c * c + 2 * w * w * c)
    elif mode == "freenoise-attention":
        pe_rows = 3 * (w + 1) * c * c if frames > context_length else 0
        return 2 * (pixels * (frames * per_frame + 2 * (4 * frames * c * c + windows * 2 * w * w * c)) + 2 * pe_rows)
    else:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    return 2 * pixels * (frames * per_frame + 2 * attention)


def counted_motion_module_flops(mode: str, frames: int, channels: int, pixels: int) -> int:
    """FlopCounterMode's count of the real code path on one meta-device motion module (pixels = height x 1)."""
    from torch.utils.flop_counter import FlopCounterMode

    from FrameLoom.modules.fancyvideo.motion_module import MotionModule
    from FrameLoom.nodes.freenoise import FreeNoiseAttend, FreeNoiseSettings

    module = MotionModule(channels, max_len=max(frames, 32), device="meta")
    attend = None if mode == "full" else FreeNoiseAttend(FreeNoiseSettings(**FREENOISE, fused_span=mode.split("-")[1]))
    x = torch.zeros(frames, channels, pixels, 1, device="meta")
    with FlopCounterMode(display=False) as counter:
        module(x, frames, attend)
    return counter.get_total_flops()


def sd15_spatial_flops_per_frame() -> int:
    """FLOPs of the SD1.5 UNet alone (no motion modules) for one 512x512 frame and one CFG branch."""
    from torch.utils.flop_counter import FlopCounterMode

    import comfy.ldm.modules.attention as comfy_attention
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    unet = UNetModel(**SD15_UNET, device="meta", operations=comfy.ops.disable_weight_init)
    # ComfyUI's CPU attention choice asks for free memory, which the meta device has none of; SDPA counts the same.
    saved = comfy_attention.optimized_attention
    comfy_attention.optimized_attention = comfy_attention.attention_pytorch
    try:
        x = torch.zeros(1, 4, LATENT_512, LATENT_512, device="meta")
        with FlopCounterMode(display=False) as counter:
            unet(x, torch.zeros(1, device="meta"), context=torch.zeros(1, 77, 768, device="meta"))
    finally:
        comfy_attention.optimized_attention = saved
    return counter.get_total_flops()


def sd15_flops(frame_counts: list[int]) -> dict:
    """Expected cost ratios of the three modes for SD1.5 + mm_sd_v15_v2 at 512x512 (per CFG branch, per step)."""
    check_frames, check_channels, check_pixels = 64, 320, 4
    for mode in MODES:
        analytic = motion_module_flops(mode, check_frames, check_channels, check_pixels)
        counted = counted_motion_module_flops(mode, check_frames, check_channels, check_pixels)
        if analytic != counted:
            raise RuntimeError(f"motion-module FLOP formula ({analytic}) disagrees with FlopCounterMode ({counted}) "
                               f"for {mode} at {check_frames} frames")
    spatial = sd15_spatial_flops_per_frame()
    rows = []
    for frames in sorted(set(frame_counts) | {16, 64, 128, 256, 512}):
        row = {"frames": frames, "spatial_tflops": spatial * frames / 1e12}
        for mode in MODES:
            motion = sum(count * motion_module_flops(mode, frames, c, tokens) for tokens, c, count in SD15_MOTION_SITES)
            row[f"{mode}_motion_tflops"] = motion / 1e12
        for mode in MODES:
            row[f"{mode}_ratio"] = (row["spatial_tflops"] + row[f"{mode}_motion_tflops"]) / (
                row["spatial_tflops"] + row["full_motion_tflops"])
            row[f"{mode}_motion_ratio"] = row[f"{mode}_motion_tflops"] / row["full_motion_tflops"]
        rows.append(row)
    return {"spatial_gflops_per_frame": spatial / 1e9, "formula_checked_at": [check_frames, check_channels, check_pixels], "rows": rows}


def print_flops(flops: dict) -> None:
    print(f"\nSD1.5 + mm_sd_v15_v2 at 512x512, FLOPs per CFG branch and step (spatial layers "
          f"{flops['spatial_gflops_per_frame']:.0f} GFLOP per frame; ratio = whole UNet / full, motion = motion "
          "modules / full)")
    print(f"{'frames':>6} {'spatial TF':>10} {'motion full':>11} {'stack':>7} {'attention':>9} | {'stack':>6} "
          f"{'attention':>9} | motion: {'stack':>6} {'attention':>9}")
    for row in flops["rows"]:
        print(f"{row['frames']:>6} {row['spatial_tflops']:>10.1f} {row['full_motion_tflops']:>11.2f} "
              f"{row['freenoise-stack_motion_tflops']:>7.2f} {row['freenoise-attention_motion_tflops']:>9.2f} | "
              f"{row['freenoise-stack_ratio']:>6.3f} {row['freenoise-attention_ratio']:>9.3f} | motion: "
              f"{row['freenoise-stack_motion_ratio']:>6.2f} {row['freenoise-attention_motion_ratio']:>9.2f}")


def print_tables(result: dict) -> None:
    print(f"\nFreeNoise vs full temporal attention, one CFG evaluation, latent {result['size']}x{result['size']}, "
          f"{result['threads']} thread(s), best of {result['repeats']} ({result['device_name']}); seconds, and ratio "
          "to full")
    print(f"{'frames':>6} {'full':>7} {'stack':>7} {'ratio':>6} {'attention':>9} {'ratio':>6} | temporal: "
          f"{'full':>6} {'stack':>6} {'ratio':>6} {'attention':>9} {'ratio':>6}")
    for row in result["timing"]:
        whole = "".join(f" {row[m + '_s']:>{w}.2f} {row[m + '_ratio']:>6.2f}" for m, w in zip(MODES[1:], (7, 9)))
        temporal = "".join(
            f" {row[m + '_temporal_s']:>{w}.2f} {row[m + '_temporal_ratio']:>6.2f}" for m, w in zip(MODES[1:], (6, 9))
        )
        print(f"{row['frames']:>6} {row['full_s']:>7.2f}{whole} | temporal: {row['full_temporal_s']:>6.2f}{temporal}")
    print("\npeak RSS above the pre-call level (MiB)")
    print(f"{'frames':>6} {'full':>8} {'stack':>8} {'attention':>10}")
    by_frames: dict[int, dict[str, float]] = {}
    for row in result["memory"]:
        by_frames.setdefault(row["frames"], {})[row["mode"]] = row["peak_mib"]
    for frames, peaks in sorted(by_frames.items()):
        print(f"{frames:>6} {peaks['full']:>8.1f} {peaks['freenoise-stack']:>8.1f} {peaks['freenoise-attention']:>10.1f}")
    print_flops(result["sd15_flops"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 frames and one repeat")
    parser.add_argument("--frames", type=int, nargs="+", default=list(FRAMES))
    parser.add_argument("--size", type=int, default=8, help="latent height and width")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadier on a shared machine)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="freenoise-attention", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.frames, args.repeats = [64], 1
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("FrameLoom").setLevel(logging.WARNING)  # FreeNoise logs every run at INFO
    logger.setLevel(logging.INFO)
    enable_inprocess_comfy()
    import_pack()
    torch.set_grad_enabled(False)
    if args.memory_child:
        print(json.dumps(memory_child(args)))
        return
    result = {
        "device": "cpu", "device_name": device_name("cpu"), "size": args.size,
        "threads": args.threads, "repeats": args.repeats, "unet": SMALL_UNET,
        "freenoise": FREENOISE, "sd15_flops": sd15_flops(args.frames),
        "timing": timing(args), "memory": memory(args),
    }
    path = write_result(result, "freenoise", "cpu", args.out)
    print_tables(result)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
