"""FlowVid-style Propagate benchmark: end-to-end seconds for a 4 s, 30 fps clip (120 frames) and the share of flow,
generation and interpolation.

    python bench/bench_flowvid.py --quick           # CPU: 120 frames at 128x128, 2 sampling steps (under a minute)
    python bench/bench_flowvid.py                   # CPU: 120 frames at 256x256, 4 steps
    python bench/bench_flowvid.py --size 512        # the issue's 512x512 (VAE in slices of 4 frames on the CPU)
    python bench/bench_flowvid.py --device cuda --size 512 --steps 25   # ComfyUI's own device choice

On the CPU, ComfyUI sizes VAE batches by the free RAM and encodes / decodes all 16 keyframes of a batch at once; at
512x512 that took over 13 GB here (about 1.2 GB per frame for the decode), too much for a shared 23 GB machine, so on
the CPU the bench feeds the VAE 4 frames at a time (--vae-batch; same result, bounded memory).

The pipeline is the node's own (nodes/flow/flowvid_run.py): DIS flow between each batch's keyframes, FancyVideo
sampling + VAE per batch of 16 keyframes at interval 4 (31 keyframes in 2 batches), colour calibration, RIFE between
keyframes. Models are tiny with random weights, so the seconds show the pipeline's overheads and their split, not a
real checkpoint's cost: the UNet is SD1.5-shaped at width 32 (two levels, attention on the lower one only: BENCH_UNET)
with random FancyVideo motion modules, the VAE the test checkpoint's TAESD (tests/support/tiny_sd.py; an
AutoencoderKL, even at 32 channels, has ComfyUI's CPU decode fill all free RAM at 512x512), RIFE a random 4.25 net at full size
(its cost is real). Flow quality (DIS vs RAFT end-point error on a synthetic clip with known motion) is measured by
bench/bench_flow.py. Results go to bench/results/ as JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, enable_comfy, strict_fp32_cuda, write_result, written  # noqa: E402
from tests.support.runtime import import_pack  # noqa: E402

logger = logging.getLogger("FrameLoom.bench.flowvid")

FPS, SECONDS = 30, 4
# The test UNet (width 32) with its attention moved to the half-resolution level: full-resolution attention over
# 4096 tokens x 16 frames x 2 CFG branches has ComfyUI's CPU attention fill all free RAM at 512x512 (19 GB seen).
BENCH_UNET = {
    "block_out_channels": [32, 32], "layers_per_block": 1, "cross_attention_dim": 32,
    "down_block_types": ["DownBlock3D", "CrossAttnDownBlock3D"], "up_block_types": ["CrossAttnUpBlock3D", "UpBlock3D"],
}


class StageClock:
    """Seconds spent inside wrapped functions, per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, stage: str, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

        return timed


def build_inputs(size: int, frames: int):
    """(model, positive, negative, vae, video, edited, rife_model) with tiny random models."""
    import comfy.model_management as mm
    import comfy.sd

    from FrameLoom.modules.flow import synthetic_clip
    from FrameLoom.modules.rife import expected_layout, load_ifnet
    from FrameLoom.nodes.fancyvideo import apply_fancyvideo
    from FrameLoom.nodes.patcher import wrap_module
    from FrameLoom.nodes.rife import RifeModel
    from tests.support import tiny_sd
    from tests.support.freenoise_models import random_fancyvideo_weights, sd15_model, text_conditioning, tiny_clip
    from tests.support.tiny_models import random_state

    base = sd15_model(mm, unet=BENCH_UNET)
    model = apply_fancyvideo(base, random_fancyvideo_weights(base), fps=None, motion_score=None)
    clip = tiny_clip()
    video = synthetic_clip(num_frames=frames, height=size, width=size, velocity=(1.0, 0.5)).frames
    video = video.permute(0, 2, 3, 1).contiguous().float()
    net = load_ifnet(random_state(expected_layout("4.25")))
    rife = RifeModel(wrap_module(net), net.version, torch.float32, "rife425 (random)")
    vae = comfy.sd.VAE(sd={**random_state(tiny_sd.taesd_layout(), 2), "vae_scale": torch.tensor(tiny_sd.SD15_VAE_SCALE),
                           "vae_shift": torch.tensor(0.0)})
    return (model, text_conditioning(clip, "a watercolour painting"), text_conditioning(clip, ""), vae, video, (1.0 - video[:1]).contiguous(), rife)


def in_slices(fn, n: int):
    """fn over the frames in slices of n, concatenated: the same result with a bounded working set."""
    def sliced(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return torch.cat([fn(x[i:i + n], *args, **kwargs) for i in range(0, x.shape[0], n)])
    return sliced


def run(size: int, frames: int, steps: int, vae_batch: int = 0) -> dict:
    from FrameLoom.nodes.flow import flowvid_run

    model, positive, negative, vae, video, edited, rife = build_inputs(size, frames)
    settings = flowvid_run.PropagateSettings(steps=steps, sampler_name="ddim", scheduler="ddim_uniform")
    clock = StageClock()
    original = flowvid_run.keyframe_flow
    flowvid_run.keyframe_flow = clock.wrap("flow", original)  # counted apart from generation
    if vae_batch:  # bound the CPU's RAM: ComfyUI would otherwise size the VAE batch by all free RAM
        vae.encode, vae.decode = in_slices(vae.encode, vae_batch), in_slices(vae.decode, vae_batch)
    vae.encode, vae.decode = clock.wrap("vae", vae.encode), clock.wrap("vae", vae.decode)  # part of generation
    try:
        started = time.perf_counter()
        keyframes = clock.wrap("propagate", flowvid_run.propagate_keyframes)(
            model, positive, negative, vae, video, edited, settings)
        interpolate = flowvid_run.rife_interpolator(rife, size, size)
        out = clock.wrap("interpolation", flowvid_run.all_frames)(keyframes, frames, settings.interval, interpolate)
        total = time.perf_counter() - started
    finally:
        flowvid_run.keyframe_flow = original
    assert out.shape[0] == frames, f"expected {frames} frames, got {out.shape[0]}"
    stages = {
        "flow": clock.seconds["flow"],
        "generation": clock.seconds["propagate"] - clock.seconds["flow"],
        "interpolation": clock.seconds["interpolation"],
    }
    vae_seconds = clock.seconds["vae"]
    return {
        "frames": frames, "size": size, "keyframes": int(keyframes.shape[0]), "steps": steps,
        "seconds_total": total, "seconds": stages, "share": {k: v / total for k, v in stages.items()},
        "generation_vae_seconds": vae_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="128x128 and 2 sampling steps")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels (a multiple of 8)")
    parser.add_argument("--steps", type=int, default=4, help="sampling steps per batch")
    parser.add_argument("--vae-batch", type=int, default=None,
                        help="frames per VAE call (default: 4 on the CPU, ComfyUI's own sizing on a GPU)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.device == "cuda":
        strict_fp32_cuda()
    enable_comfy(cpu=args.device == "cpu")
    import_pack()
    size, steps = (128, 2) if args.quick else (args.size, args.steps)
    vae_batch = args.vae_batch if args.vae_batch is not None else (4 if args.device == "cpu" else 0)
    row = run(size, FPS * SECONDS, steps, vae_batch)
    result = {"device": device_name(args.device), "threads": torch.get_num_threads(), "quick": args.quick,
              "vae_batch": vae_batch, **row}
    path = write_result(result, "flowvid", args.device, args.out)
    print(f"{row['frames']} frames at {row['size']}x{row['size']}, {row['keyframes']} keyframes, {steps} steps: "
          f"{row['seconds_total']:.1f} s end to end")
    print(f"{'stage':>14} {'seconds':>9} {'share':>7}")
    for stage, seconds in row["seconds"].items():
        print(f"{stage:>14} {seconds:9.1f} {100 * row['share'][stage]:6.1f}%")
    print(f"generation includes {row['generation_vae_seconds']:.1f} s of VAE encode + decode")
    print(json.dumps(result["share"]))
    print(written(path))


if __name__ == "__main__":
    main()
