"""Optical-flow benchmark: accuracy (end-point error) and seconds per frame of DIS presets and RAFT-large, on the
synthetic clip with exactly known motion (modules/flow/synthetic.py).

    python bench/bench_flow.py --quick                      # CPU, small sizes
    python bench/bench_flow.py --device cuda                # RAFT on the GPU (TF32 off, fp32); DIS is CPU-only
    python bench/bench_flow.py --raft-weights raft-things.pth   # real RAFT weights: meaningful RAFT EPE

Every frame is matched against frame 0 in both directions (flow_pairs, as FlowVid does), with the background moving
`velocity` px per frame, so the displacement grows along the clip; EPE is reported per frame to show where an
estimator loses track. Seconds per frame cover both directions. Without --raft-weights, RAFT runs with seeded random
weights in the official layout: its timing is real, its EPE is meaningless (reported as such). A second clip adds a
moving occluder and reports how much of the truly unreliable area the forward-backward check (modules.flowvid)
flags, and how much it flags more than 8 px away from it. Results go to bench/results/ as JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, strict_fp32_cuda, write_result, written  # noqa: E402
from modules.flow import (  # noqa: E402
    DIS_PRESETS,
    DisFlow,
    Occluder,
    RaftFlow,
    end_point_error,
    flow_pairs,
    load_raft,
    load_raft_file,
    random_official_state,
    synthetic_clip,
)
from modules.flowvid import consistency_occlusion  # noqa: E402

logger = logging.getLogger("FrameLoom.bench.flow")

VELOCITY = (1.5, -0.75)
VELOCITIES = (VELOCITY, (3.0, 2.0), (6.0, 4.5))  # up to 13, 29 and 60 px against frame 0 over 9 frames


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_estimator(name: str, estimator, clip, device: str, repeats: int) -> dict:
    """Best-of-`repeats` seconds per frame and per-frame EPE of one estimator on one clip."""
    n = clip.frames.shape[0]
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        forward, backward = flow_pairs(clip.frames, 0, estimator)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    per_frame = [
        round(end_point_error(backward[i : i + 1], clip.flow_bwd[i : i + 1], clip.valid_bwd[i : i + 1]), 4)
        for i in range(1, n)
    ]
    return {
        "method": name,
        "seconds_per_frame": round(best / (n - 1), 5),
        "epe_forward": round(end_point_error(forward[1:], clip.flow_fwd[1:], clip.valid_fwd[1:]), 4),
        "epe_backward": round(end_point_error(backward[1:], clip.flow_bwd[1:], clip.valid_bwd[1:]), 4),
        "epe_backward_per_frame": per_frame,
    }


def occlusion_quality(estimator, size: tuple[int, int], frames: int) -> dict:
    square = Occluder(size=max(size) // 5, start=(size[1] / 6, size[0] / 6))
    clip = synthetic_clip(frames, *size, velocity=VELOCITY, occluder=square)
    forward, backward = flow_pairs(clip.frames, 0, estimator)
    _, occ = consistency_occlusion(forward, backward)
    unreliable = 1 - clip.valid_bwd
    moving = (clip.flow_bwd - clip.flow_bwd[:, :, :1, :1]).abs().sum(dim=1) > 0
    near = F.max_pool2d(torch.maximum(unreliable, moving.float())[:, None], 17, stride=1, padding=8)[:, 0]
    return {
        "recall": round(float((occ * unreliable)[1:].sum() / unreliable[1:].sum()), 4),
        "far_false_positive_fraction": round(float((occ * (1 - near))[1:].mean()), 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where RAFT runs (DIS is CPU-only)")
    parser.add_argument("--quick", action="store_true", help="small sizes, few frames")
    parser.add_argument("--raft-weights", type=Path, default=None, help="a RAFT-large file (either layout)")
    parser.add_argument("--raft-iters", type=int, default=12)
    parser.add_argument("--no-raft", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda but CUDA is not available")
        strict_fp32_cuda()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sizes = [(128, 128), (256, 256)] if args.quick else [(256, 256), (512, 512), (720, 1280)]
    frames = 6 if args.quick else 9
    repeats = 2 if args.quick else 3
    # RAFT on a CPU takes seconds per pair (minutes per clip at 512²): only the smallest size there.
    raft_sizes = sizes if args.device == "cuda" else sizes[:1]
    raft = None
    if not args.no_raft:
        if args.raft_weights:
            model = load_raft_file(args.raft_weights)
        else:
            model = load_raft(random_official_state("princeton"))
        raft = RaftFlow(model, args.raft_iters, device=args.device)
    rows = []
    for velocity in VELOCITIES:
        for size in sizes:
            clip = synthetic_clip(frames, *size, velocity=velocity)
            shift = math.hypot(*velocity) * (frames - 1)
            logger.info("%dx%d, %.1f px/frame (up to %.1f px)", size[1], size[0], math.hypot(*velocity), shift)
            setting = {"size": list(size), "velocity": list(velocity), "max_displacement": round(shift, 2)}
            for preset in DIS_PRESETS:
                rows.append({**setting, **run_estimator(f"dis_{preset}", DisFlow(preset), clip, "cpu", repeats)})
            if raft is not None and size in raft_sizes:
                row = run_estimator("raft", raft, clip, args.device, 1 if args.device == "cpu" else repeats)
                rows.append({**setting, **row, "epe_meaningful": args.raft_weights is not None})
    occlusion = {f"dis_{p}": occlusion_quality(DisFlow(p), sizes[0], 6) for p in DIS_PRESETS}
    result = {
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__,
        "opencv": __import__("cv2").__version__,
        "threads": torch.get_num_threads(),
        "frames": frames,
        "raft_weights": str(args.raft_weights) if args.raft_weights else "random (EPE meaningless)",
        "raft_iters": args.raft_iters,
        "rows": rows,
        "occlusion": occlusion,
    }
    path = write_result(result, "flow", args.device, args.out)
    print(f"{'size':>10} {'px/frame':>8} {'max px':>7} {'method':>14} {'s/frame':>9} {'EPE fwd':>8} {'EPE bwd':>8}")
    for r in rows:
        note = "" if r.get("epe_meaningful", True) else "  (random weights: EPE meaningless)"
        print(
            f"{r['size'][1]:>5}x{r['size'][0]:<4} {math.hypot(*r['velocity']):>8.2f} {r['max_displacement']:>7.1f} "
            f"{r['method']:>14} {r['seconds_per_frame']:>9.4f} {r['epe_forward']:>8.3f} {r['epe_backward']:>8.3f}{note}"
        )
    print(f"occlusion check on a moving square ({sizes[0][1]}x{sizes[0][0]}): {json.dumps(occlusion)}")
    print(written(path))


if __name__ == "__main__":
    main()
