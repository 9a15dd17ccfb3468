"""RIFE interpolation benchmark: batched interpolate_video vs a plain pair-by-pair loop, and peak memory vs length.

    python bench/bench_rife.py --quick                 # CPU, few frames
    python bench/bench_rife.py --device cuda           # GPU (TF32 off, fp32; fp16 as an extra column)

Throughput: interpolated frames per second at 256x256, 512x512 and 1920x1080, for
  * baseline: interpolate_pair called once per pair and timestep (N=1, fp32), results collected and concatenated;
  * batched:  interpolate_video (pairs in batches, all timesteps of a batch in one forward, preallocated output).
Memory: peak process RSS (CPU) or torch.cuda.max_memory_allocated (GPU) above the level before the call, for 50 vs
500 frames at 64x64, each measured in a fresh subprocess; it should track the output tensor's size, not more.
Weights are random (tests/support/rife_weights.py), which does not change the cost. Results go to bench/results/.
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
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, peak_rss_above, reset_peak_rss, strict_fp32_cuda, write_result, written  # noqa: E402
from modules.rife import expected_layout, interpolate_pair, interpolate_video, load_ifnet  # noqa: E402
from tests.support.rife_weights import rebuild_weights  # noqa: E402

logger = logging.getLogger("FrameLoom.bench.rife")

SIZES = ((256, 256), (512, 512), (1080, 1920))
MEMORY_LENGTHS = (50, 500)
MEMORY_SIZE = (64, 64)


def make_frames(count: int, height: int, width: int) -> torch.Tensor:
    """[F,H,W,3] smooth frames panning right, so the flow is non-trivial."""
    gen = torch.Generator().manual_seed(0)
    base = F.interpolate(torch.rand(1, 3, 9, 16, generator=gen), size=(height, width), mode="bilinear")
    shift = max(1, width // 128)
    return torch.cat([torch.roll(base, shift * i, dims=3) for i in range(count)]).permute(0, 2, 3, 1).contiguous()


def build_net(version: str, device: str) -> torch.nn.Module:
    return load_ifnet(rebuild_weights(expected_layout(version))).to(device)


def baseline_loop(net, frames: torch.Tensor, multiplier: int, device: str) -> torch.Tensor:
    """The straightforward approach: one pair and one timestep at a time, fp32, concatenated at the end."""
    pieces = []
    for i in range(frames.shape[0] - 1):
        img0 = frames[i].permute(2, 0, 1).unsqueeze(0).to(device)
        img1 = frames[i + 1].permute(2, 0, 1).unsqueeze(0).to(device)
        pieces.append(frames[i:i + 1])
        for k in range(1, multiplier):
            mid = interpolate_pair(net, img0, img1, k / multiplier).clamp(0, 1)
            pieces.append(mid.permute(0, 2, 3, 1).cpu())
    pieces.append(frames[-1:])
    return torch.cat(pieces)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int) -> tuple[float, float]:
    """Best wall time of `repeats` runs (robust to other load on a shared machine), and that run's process CPU time."""
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        _sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def throughput(args, net, device: str) -> list[dict]:
    rows = []
    for height, width in SIZES:
        count = args.frames if (height, width) != (1080, 1920) else args.frames_hd
        frames = make_frames(count, height, width)
        new_frames = (count - 1) * (args.multiplier - 1)
        small = make_frames(2, height, width)  # warm-up at this size (allocator, kernel selection)
        interpolate_video(net, small, 2, batch_size=1)
        t_base, cpu_base = timed(lambda: baseline_loop(net, frames, args.multiplier, device), device, args.repeats)
        t_batch, cpu_batch = timed(
            lambda: interpolate_video(net, frames, args.multiplier, batch_size=args.batch_size), device, args.repeats
        )
        row = {
            "size": f"{width}x{height}",
            "frames_in": count,
            "frames_new": new_frames,
            "baseline_fps": new_frames / t_base,
            "batched_fps": new_frames / t_batch,
            "baseline_cpu_s": cpu_base,
            "batched_cpu_s": cpu_batch,
        }
        row["ratio"] = row["batched_fps"] / row["baseline_fps"]
        if device == "cuda":
            half = build_net(args.version, device).half()
            interpolate_video(half, small, 2, batch_size=1)
            t_half, _ = timed(
                lambda: interpolate_video(half, frames, args.multiplier, batch_size=args.batch_size), device, args.repeats
            )
            row["batched_fp16_fps"] = new_frames / t_half
            del half
        rows.append(row)
        logger.info("%s done", row["size"])
    return rows



def memory_child(args) -> dict:
    """Runs in a fresh process: peak memory above the pre-call level for one method and one length."""
    device = args.device
    net = build_net(args.version, device)
    frames = make_frames(args.memory_child, *MEMORY_SIZE)
    run = (lambda: baseline_loop(net, frames, 2, device)) if args.method == "baseline" else (
        lambda: interpolate_video(net, frames, 2, batch_size=args.batch_size))
    interpolate_video(net, frames[:2], 2, batch_size=args.batch_size)  # warm-up outside the measurement
    out_bytes = ((frames.shape[0] - 1) * 2 + 1) * frames[0].numel() * 4
    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        result = run()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
        kind = "cuda max_memory_allocated"
    else:
        before = reset_peak_rss()
        result = run()
        peak = peak_rss_above(before)
        kind = "process peak RSS (VmHWM)"
    assert result.shape[0] == (frames.shape[0] - 1) * 2 + 1
    return {"frames_in": frames.shape[0], "method": args.method, "peak_mib": peak / 2**20,
            "output_mib": out_bytes / 2**20, "measure": kind}


def memory(args) -> list[dict]:
    rows = []
    for method in ("baseline", "batched"):
        for length in MEMORY_LENGTHS:
            cmd = [sys.executable, __file__, "--device", args.device, "--version", args.version,
                   "--batch-size", str(args.batch_size), "--memory-child", str(length), "--method", method]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def print_tables(result: dict) -> None:
    print(f"\nRIFE {result['version']} on {result['device_name']}, multiplier {result['multiplier']}, "
          f"batch_size {result['batch_size']} (interpolated frames per second, best of {result['repeats']} runs)")
    extra = "batched fp16" if result["device"] == "cuda" else ""
    print(f"{'size':>10} {'frames':>6} {'baseline':>9} {'batched':>9} {'ratio':>6} {extra}")
    for row in result["throughput"]:
        half = f" {row['batched_fp16_fps']:>12.2f}" if "batched_fp16_fps" in row else ""
        print(f"{row['size']:>10} {row['frames_in']:>6} {row['baseline_fps']:>9.2f} {row['batched_fps']:>9.2f} "
              f"{row['ratio']:>6.2f}{half}")
    print(f"\npeak memory above the pre-call level, {MEMORY_SIZE[1]}x{MEMORY_SIZE[0]}, x2 "
          f"({result['memory'][0]['measure']})")
    print(f"{'method':>9} {'frames':>6} {'peak MiB':>9} {'output MiB':>11} {'peak-output':>12}")
    for row in result["memory"]:
        print(f"{row['method']:>9} {row['frames_in']:>6} {row['peak_mib']:>9.1f} {row['output_mib']:>11.1f} "
              f"{row['peak_mib'] - row['output_mib']:>12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="few frames (CPU-friendly)")
    parser.add_argument("--version", default="4.25")
    parser.add_argument("--multiplier", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--method", default="batched", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda but CUDA is not available")
        strict_fp32_cuda()
    if args.memory_child:
        print(json.dumps(memory_child(args)))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    on_gpu = args.device == "cuda"
    args.frames = (8 if args.quick else 32) if on_gpu else (6 if args.quick else 8)
    args.frames_hd = (8 if args.quick else 16) if on_gpu else (3 if args.quick else 5)
    args.repeats = 2 if args.quick else 3
    net = build_net(args.version, args.device)
    result = {
        "version": args.version,
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "multiplier": args.multiplier,
        "batch_size": args.batch_size,
        "quick": args.quick,
        "repeats": args.repeats,
        "throughput": throughput(args, net, args.device),
        "memory": memory(args),
    }
    path = write_result(result, "rife", args.device, args.out)
    print_tables(result)
    print(written(path))


if __name__ == "__main__":
    main()
