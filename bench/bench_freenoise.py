"""FreeNoise benchmark: window-fused temporal attention against full attention over all frames, and memory vs length.

    .frameloom/venv/bin/python bench/bench_freenoise.py              # CPU: 64, 128 and 256 frames
    .frameloom/venv/bin/python bench/bench_freenoise.py --quick      # 64 frames, one repeat

One CFG model evaluation (cond and uncond batched, what every KSampler step does) of a small SD1.5-shaped UNet with
FancyVideo motion modules, run by in-process ComfyUI on the CPU through the stock CFGGuider; random weights
(tests/support/freenoise_models.py), which do not change the cost. Two modes on the same weights:
  * full:      the plain motion modules attend over all F frames; their sinusoidal PE table is stretched to F rows
               (released checkpoints stop at 32 rows, so this baseline exists for timing only);
  * freenoise: FrameLoom FreeNoise, window 16, stride 4, pyramid weights, with the 32-row table.
Time is the best of --repeats runs, split into the whole evaluation and the time spent inside the motion modules'
attention stacks (the attend hook), where all of FreeNoise's extra work lives. Memory: process peak RSS above the
level before the evaluation, each (frames, mode) in a fresh subprocess. Results go to bench/results/.
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

from bench.common import device_name, peak_rss_above, reset_peak_rss, write_result  # noqa: E402
from tests.support.runtime import enable_inprocess_comfy, import_pack  # noqa: E402

logger = logging.getLogger("FrameLoom.bench.freenoise")

FRAMES = (64, 128, 256)
MODES = ("full", "freenoise")
# A narrow SD1.5 layout: two levels with cross-attention, motion modules at 64 and 128 channels.
SMALL_UNET = {
    "block_out_channels": [64, 128], "layers_per_block": 1, "cross_attention_dim": 64,
    "down_block_types": ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D"],
    "up_block_types": ["CrossAttnUpBlock3D", "CrossAttnUpBlock3D"],
}
RELEASED_PE_LENGTH = 32


class AttendTimer:
    """Attend hook that times the wrapped hook (or the plain attention stack) per call."""

    def __init__(self, inner=None) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __call__(self, block, x: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self.inner(block, x) if self.inner is not None else block.attend(x)
        self.seconds += time.perf_counter() - start
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
    if mode == "freenoise":
        model = apply_freenoise(model, FreeNoiseSettings())
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
                start = time.perf_counter()
                evaluate(model, positive, negative, frames, args.size)
                best = min(best, (time.perf_counter() - start, timer.seconds))
            row[f"{mode}_s"], row[f"{mode}_temporal_s"] = best
            logger.info("%d frames, %s: %.2f s (temporal attention %.2f s)", frames, mode, *best)
        row["ratio"] = row["freenoise_s"] / row["full_s"]
        row["temporal_ratio"] = row["freenoise_temporal_s"] / row["full_temporal_s"]
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


def print_tables(result: dict) -> None:
    print(f"\nFreeNoise vs full temporal attention, one CFG evaluation, latent {result['size']}x{result['size']}, "
          f"{result['threads']} thread(s), best of {result['repeats']} ({result['device_name']})")
    print(f"{'frames':>6} {'full s':>8} {'FreeNoise s':>12} {'ratio':>6} | {'temporal full':>13} "
          f"{'temporal FN':>12} {'ratio':>6}")
    for row in result["timing"]:
        print(f"{row['frames']:>6} {row['full_s']:>8.2f} {row['freenoise_s']:>12.2f} {row['ratio']:>6.2f} | "
              f"{row['full_temporal_s']:>13.2f} {row['freenoise_temporal_s']:>12.2f} {row['temporal_ratio']:>6.2f}")
    print("\npeak RSS above the pre-call level (MiB)")
    print(f"{'frames':>6} {'full':>8} {'FreeNoise':>10}")
    by_frames: dict[int, dict[str, float]] = {}
    for row in result["memory"]:
        by_frames.setdefault(row["frames"], {})[row["mode"]] = row["peak_mib"]
    for frames, peaks in sorted(by_frames.items()):
        print(f"{frames:>6} {peaks['full']:>8.1f} {peaks['freenoise']:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 frames and one repeat")
    parser.add_argument("--frames", type=int, nargs="+", default=list(FRAMES))
    parser.add_argument("--size", type=int, default=8, help="latent height and width")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadier on a shared machine)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="freenoise", help=argparse.SUPPRESS)
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
        "freenoise": {"context_length": 16, "stride": 4, "weighting": "pyramid"},
        "timing": timing(args), "memory": memory(args),
    }
    path = write_result(result, "freenoise", "cpu", args.out)
    print_tables(result)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
