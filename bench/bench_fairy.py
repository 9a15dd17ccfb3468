"""Fairy-style edit benchmark: seconds per frame against a plain per-frame edit, anchor-pass cost, cache size, memory.

    .frameloom/venv/bin/python bench/bench_fairy.py              # CPU: 24, 120 and 480 frames
    .frameloom/venv/bin/python bench/bench_fairy.py --quick      # CPU: 24 and 120 frames
    python bench/bench_fairy.py --device cuda --size 256         # on a GPU, in a CUDA PyTorch environment

Model: the tiny InstructPix2Pix checkpoint of tests/support/tiny_sd.py (SD1.5 layout at model_channels 320, one level,
TAESD VAE, random weights, which do not change the cost), loaded by ComfyUI's checkpoint loader as a user's file is.
Each video length runs in a fresh subprocess (clean peak RSS) that, after a warm-up:
  * fairy:    edit_video (K=3 segment-centre anchors, Euler ancestral, text 7.5 / image 1.5 guidance, i.e. three CFG
              branches, frames_per_batch 8) of all frames;
  * plain:    the same frames, sampler, steps, guidance, per-frame noise and batches of 8 through the same batch code,
              on the unpatched MODEL: every frame edited on its own, no anchor attention and no anchor pass;
  * anchor:   edit_video of a one-frame range holding an anchor: the plan then has no frame batches, so this is the
              anchor pass alone (encode, sample, decode the K anchors); best of --repeats.
Peak memory is the process peak RSS (and on CUDA also max_memory_allocated) above the level before each call; it
should stay flat in the frame count apart from the output IMAGE, which edit_video preallocates on the CPU.

Anchor cache: measured bytes of the tiny model's cache, checked against
    bytes = K · steps · branches · bytes_per_value · Σ_layers 2 · tokens_l · width_l
(K and V of every self-attention layer l, tokens_l = latent positions at that layer, width_l = heads · dim_head),
with tokens_l and width_l read off a forward pass that records each attn1 call; then the same formula on the real
SD1.5 UNet (built on the meta device, no memory) at 512×384. Results go to bench/results/.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import SD15_UNET, device_name, enable_comfy, peak_rss_above, reset_peak_rss, write_result, written  # noqa: E402
from tests.support import tiny_sd  # noqa: E402
from tests.support.runtime import import_pack  # noqa: E402

logger = logging.getLogger("FrameLoom.bench.fairy")

LENGTHS = (24, 120, 480)
QUICK_LENGTHS = (24, 120)
EDIT = dict(
    anchors=3, frames_per_batch=8, sampler_name="euler_ancestral", text_cfg=7.5, image_cfg=1.5, seed=0, long_side=0
)
CLOCKS = {"cpu_s": "process CPU time", "s": "wall time"}
IP2P_BRANCHES = 3  # DualCFGGuider with image_cfg != 1: (text+image, image, neither)
# ComfyUI's detected SD1.5 UNet config (comfy/model_detection.py); built on the meta device for its layer shapes.
SD15_CASE = dict(height=384, width=512, anchors=3, steps=10, branches=2, bytes_per_value=2)  # fp16


# --- anchor cache size -------------------------------------------------------------------------------------------
def self_attention_shapes(unet: torch.nn.Module, latent_hw: tuple[int, int]) -> list[dict]:
    """(layer, tokens, width) of every self-attention of a ComfyUI UNet at one latent size, from one forward pass
    whose attn1 replacements record the K they receive (attn2 is skipped: it has no part in the cache)."""
    from FrameLoom.nodes.fairy.patch import self_attention_layers

    param = next(unet.parameters())
    layers = self_attention_layers(unet)
    seen: dict = {}

    def record(layer):
        def attn1(q, k, v, extra_options):
            seen[layer] = (k.shape[1], k.shape[2])
            return q
        return attn1

    skip = lambda q, k, v, extra_options: q  # noqa: E731
    options = {"patches_replace": {"attn1": {l: record(l) for l in layers}, "attn2": {l: skip for l in layers}}}
    in_channels = unet.input_blocks[0][0].weight.shape[1]
    context_dim = next(m.attn2.to_k.weight.shape[1] for m in unet.modules() if hasattr(m, "attn2"))
    zeros = dict(device=param.device, dtype=param.dtype)
    with torch.no_grad():
        unet(torch.zeros(1, in_channels, *latent_hw, **zeros), torch.zeros(1, **zeros),
             context=torch.zeros(1, 77, context_dim, **zeros), transformer_options=options)
    return [{"layer": list(l), "tokens": seen[l][0], "width": seen[l][1]} for l in layers]


def cache_bytes(shapes: list[dict], anchors: int, steps: int, branches: int, bytes_per_value: int) -> int:
    """K and V of every layer, for each anchor, step and CFG branch."""
    per_anchor_call = sum(2 * s["tokens"] * s["width"] for s in shapes)
    return anchors * steps * branches * bytes_per_value * per_anchor_call


def sd15_cache() -> dict:
    """The formula on the real SD1.5 UNet (859 M parameters, allocated on the meta device only)."""
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    unet = UNetModel(**SD15_UNET, device="meta", operations=comfy.ops.disable_weight_init)
    case = SD15_CASE
    shapes = self_attention_shapes(unet, (case["height"] // 8, case["width"] // 8))
    values_per_anchor_call = sum(2 * s["tokens"] * s["width"] for s in shapes)
    total = cache_bytes(shapes, case["anchors"], case["steps"], case["branches"], case["bytes_per_value"])
    return {**case, "layers": shapes, "values_per_anchor_step_branch": values_per_anchor_call, "bytes": total,
            "bytes_ip2p_3_branches": total * IP2P_BRANCHES // case["branches"]}


def sd15_attention_time(shapes: list[dict], anchors: int, device: str, repeats: int, clock: str) -> dict:
    """Seconds of all SD1.5 self-attentions for one frame, one step and one CFG branch at the SD1.5 size: plain
    self-attention against frame_attention with `anchors` cached anchors (K+1 times the keys). At the tiny model's
    token counts this part is negligible, so the edit ratio above cannot show it; here it is at full size."""
    import torch.nn.functional as F

    from FrameLoom.modules.fairy import frame_attention

    dtype = torch.float16 if device == "cuda" else torch.float32
    timer = time.process_time if clock == "cpu_s" else time.perf_counter
    heads = SD15_UNET["num_heads"]
    totals = {"plain_s": 0.0, "anchors_s": 0.0}
    generator = torch.Generator().manual_seed(0)
    for tokens, width in sorted({(s["tokens"], s["width"]) for s in shapes}):
        count = sum(1 for s in shapes if (s["tokens"], s["width"]) == (tokens, width))
        q, k, v, k_anchor, v_anchor = (
            torch.randn(rows, heads, tokens, width // heads, generator=generator).to(device, dtype)
            for rows in (1, 1, 1, anchors, anchors)
        )
        for name, fn in (("plain_s", lambda: F.scaled_dot_product_attention(q, k, v)),
                         ("anchors_s", lambda: frame_attention(q, k, v, k_anchor, v_anchor))):
            best = float("inf")
            for _ in range(repeats + 1):  # the first call is a warm-up
                start = timer()
                fn()
                if device == "cuda":
                    torch.cuda.synchronize()
                best = min(best, timer() - start)
            totals[name] += count * best
    return {**totals, "ratio": totals["anchors_s"] / totals["plain_s"], "dtype": str(dtype)}


# --- one video length, in a fresh process ------------------------------------------------------------------------
def load_models(checkpoint: Path):
    """(MODEL, positive, negative, VAE) from the tiny InstructPix2Pix file, loaded as CheckpointLoaderSimple does."""
    import comfy.sd

    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(checkpoint))
    positive = clip.encode_from_tokens_scheduled(clip.tokenize("make it a snowy winter evening"))
    negative = clip.encode_from_tokens_scheduled(clip.tokenize(""))
    return model, positive, negative, vae


def plain_edit(model, positive, negative, vae, images: torch.Tensor, options) -> torch.Tensor:
    """The baseline: edit_video's own batch code (guidance, per-frame noise, encode/decode) on the unpatched MODEL,
    every frame in order, batches of options.frames_per_batch, no anchor pass and no anchor attention."""
    import comfy.model_management as mm
    import comfy.samplers

    from FrameLoom.modules.common import chunk_ranges
    from FrameLoom.modules.common.hooks import NO_HOOKS
    from FrameLoom.nodes.fairy import sampling

    size = sampling.working_size(images.shape[1], images.shape[2], options.long_side)
    sigmas = comfy.samplers.KSampler(
        model, options.steps, model.load_device, options.sampler_name, options.scheduler, options.denoise
    ).sigmas
    total = images.shape[0] * options.steps
    run = sampling._Run(positive, negative, vae, images, options, size, sigmas, sampling.is_instruct_pix2pix(model),
                        NO_HOOKS, total)
    out = torch.empty((images.shape[0], *size, 3), dtype=torch.float32)
    with torch.no_grad():
        for start, end in chunk_ranges(images.shape[0], options.frames_per_batch):
            out[start:end] = run.sample(model, range(start, end))
            mm.soft_empty_cache()
    return out


def measured(fn: Callable[[], torch.Tensor], device: str) -> tuple[torch.Tensor, dict]:
    """Run `fn` once: its result, wall and process CPU seconds and peak memory above the level before the call."""
    before = reset_peak_rss()
    if device == "cuda":
        torch.cuda.synchronize()
        gpu_before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()  # a CPU IMAGE: the copy back synchronises
    stats = {"s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu_start,
             "peak_rss_mib": (peak_rss_above(before)) / 2**20}
    if device == "cuda":
        stats["peak_gpu_mib"] = (torch.cuda.max_memory_allocated() - gpu_before) / 2**20
    return result, stats


def length_child(args) -> dict:
    """Fairy, plain and anchor-pass runs for `args.child` frames (see the module docstring)."""
    from FrameLoom.modules.fairy import AnchorCache
    from FrameLoom.nodes.fairy import FairyEditOptions, edit_video, plan_edit

    frames = args.child
    model, positive, negative, vae = load_models(args.checkpoint)
    options = FairyEditOptions(steps=args.steps, **EDIT)
    images = torch.rand(frames, args.size, args.size, 3, generator=torch.Generator().manual_seed(0))

    def fairy(cache=None, **frame_range) -> torch.Tensor:
        settings = FairyEditOptions(steps=args.steps, **EDIT, **frame_range)
        return edit_video(model, positive, negative, vae, images, settings, cache=cache)

    anchors = plan_edit(frames, options).anchors
    edit_video(model, positive, negative, vae, images[:8], options)  # warm-up: model load, allocator, kernels
    plain_edit(model, positive, negative, vae, images[:8], options)

    cache = AnchorCache()
    edited, fairy_stats = measured(lambda: fairy(cache), args.device)
    cache_nbytes, cache_entries = cache.nbytes, len(cache)
    cache.clear()
    plain, plain_stats = measured(lambda: plain_edit(model, positive, negative, vae, images, options), args.device)
    others = [i for i in range(frames) if i not in anchors]
    difference = (edited[others] - plain[others]).abs().max().item()  # > 0: the anchors really took part
    output_mib = edited.numel() * edited.element_size() / 2**20
    del edited, plain

    anchor = min((measured(lambda: fairy(start_frame=anchors[0], end_frame=anchors[0] + 1), args.device)[1]
                  for _ in range(args.repeats)), key=lambda stats: stats[args.clock])

    latent = (args.size // 8, args.size // 8)
    shapes = self_attention_shapes(model.get_model_object("diffusion_model"), latent)
    value_bytes = torch.finfo(model.model.get_dtype()).bits // 8
    predicted = cache_bytes(shapes, options.anchors, options.steps, IP2P_BRANCHES, value_bytes)
    return {
        "frames": frames, "anchors": list(anchors), "output_mib": output_mib, "fairy": fairy_stats,
        "plain": plain_stats, "anchor_pass": anchor, "cache_bytes": cache_nbytes, "cache_entries": cache_entries,
        "cache_bytes_formula": predicted, "max_diff_fairy_vs_plain": difference,
    }


def run_lengths(args, checkpoint: Path) -> list[dict]:
    rows = []
    for frames in args.lengths:
        cmd = [sys.executable, __file__, "--device", args.device, "--size", str(args.size), "--steps", str(args.steps),
               "--repeats", str(args.repeats), "--threads", str(args.threads), "--checkpoint", str(checkpoint),
               "--child", str(frames)]
        # A fixed mmap threshold makes glibc return every freed tensor to the OS, so peak RSS tracks live memory rather
        # than heap fragmentation.
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode:
            raise RuntimeError(f"{frames}-frame run failed:\n{done.stderr[-4000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["ratio"] = row["fairy"][args.clock] / row["plain"][args.clock]
        row["anchor_share"] = row["anchor_pass"][args.clock] / row["fairy"][args.clock]
        if row["cache_bytes"] != row["cache_bytes_formula"]:
            logger.warning("anchor cache holds %d bytes but the formula gives %d: the SD1.5 figure is suspect",
                           row["cache_bytes"], row["cache_bytes_formula"])
        rows.append(row)
        logger.info("%d frames: fairy %.1f s, plain %.1f s (%s)", frames, row["fairy"][args.clock],
                    row["plain"][args.clock], args.clock)
    return rows


# --- report --------------------------------------------------------------------------------------------------------
def print_tables(result: dict) -> None:
    print(f"\nFairy-style edit vs plain per-frame edit on {result['device_name']} ({result['threads']} thread(s)): "
          f"tiny InstructPix2Pix, {result['size']}x{result['size']}, {result['steps']} steps Euler ancestral, "
          f"3 CFG branches, K=3, batches of 8; seconds = {CLOCKS[result['clock']]}")
    print(f"{'frames':>6} {'fairy s/frame':>13} {'plain s/frame':>13} {'ratio':>6} {'anchor pass s':>13} "
          f"{'share':>6} {'wall fairy/plain':>16} {'max|fairy-plain|':>16}")
    clock = result["clock"]
    for row in result["lengths"]:
        f, fairy, plain = row["frames"], row["fairy"], row["plain"]
        print(f"{f:>6} {fairy[clock] / f:>13.4f} {plain[clock] / f:>13.4f} {row['ratio']:>6.2f} "
              f"{row['anchor_pass'][clock]:>13.2f} {row['anchor_share']:>6.1%} "
              f"{fairy['s']:>7.1f}/{plain['s']:<8.1f} {row['max_diff_fairy_vs_plain']:>16.3f}")
    gpu = "peak_gpu_mib" in result["lengths"][0]["fairy"]
    print(f"\npeak memory above the pre-call level, MiB (process RSS{'; GPU max_memory_allocated' if gpu else ''})")
    gpu_heads = f" {'fairy GPU':>9} {'plain GPU':>9}" if gpu else ""
    print(f"{'frames':>6} {'output':>7} {'fairy':>7} {'plain':>7}{gpu_heads}")
    for row in result["lengths"]:
        fairy, plain = row["fairy"], row["plain"]
        gpu_cells = f" {fairy['peak_gpu_mib']:>9.1f} {plain['peak_gpu_mib']:>9.1f}" if gpu else ""
        print(f"{row['frames']:>6} {row['output_mib']:>7.1f} {fairy['peak_rss_mib']:>7.1f} "
              f"{plain['peak_rss_mib']:>7.1f}{gpu_cells}")
    row = result["lengths"][0]
    print(f"\nanchor cache, tiny model: {row['cache_entries']} entries, {row['cache_bytes']} bytes measured, "
          f"{row['cache_bytes_formula']} by the formula")
    sd = result["sd15_cache"]
    print(f"anchor cache, SD1.5 {sd['width']}x{sd['height']} fp16, K={sd['anchors']}, {sd['steps']} steps, "
          f"{sd['branches']} branches:")
    print(f"  {'layer':<18} {'tokens':>6} {'width':>5}")
    for s in sd["layers"]:
        print(f"  {str(tuple(s['layer'])):<18} {s['tokens']:>6} {s['width']:>5}")
    print(f"  Σ 2·tokens·width = {sd['values_per_anchor_step_branch']:,} values per anchor, step and branch")
    print(f"  × {sd['anchors']} × {sd['steps']} × {sd['branches']} × {sd['bytes_per_value']} B = {sd['bytes']:,} B "
          f"= {sd['bytes'] / 2**30:.2f} GiB (InstructPix2Pix image guidance, 3 branches: "
          f"{sd['bytes_ip2p_3_branches'] / 2**30:.2f} GiB)")
    att = result["sd15_attention"]
    print(f"\nSD1.5 {sd['width']}x{sd['height']}, all {len(sd['layers'])} self-attentions, one frame, step and branch "
          f"({att['dtype']}): plain {att['plain_s']:.3f} s, with {sd['anchors']} anchors {att['anchors_s']:.3f} s, "
          f"ratio {att['ratio']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="24 and 120 frames only")
    parser.add_argument("--lengths", type=int, nargs="+", default=None, help=f"video lengths (default {LENGTHS})")
    parser.add_argument("--size", type=int, default=32, help="frame side in pixels (a multiple of 8)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="anchor-pass timing: best of this many")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadier when shared)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size % 8:
        parser.error(f"--size must be a multiple of 8 (the edit snaps sizes to multiples of 8), got {args.size}")
    on_gpu = args.device == "cuda"
    if on_gpu and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available")
    args.lengths = args.lengths or list(QUICK_LENGTHS if args.quick else LENGTHS)
    # One thread's CPU time is what the work costs, whatever else the shared machine runs; a GPU needs wall time.
    args.clock = "s" if on_gpu or args.threads > 1 else "cpu_s"
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("FrameLoom").setLevel(logging.WARNING)  # the edit logs every run at INFO
    logger.setLevel(logging.INFO)
    enable_comfy(cpu=not on_gpu)
    import_pack()
    if args.child:
        print(json.dumps(length_child(args)))
        return
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = tiny_sd.write_sd15_checkpoint(Path(folder) / "ip2p.safetensors", instruct_pix2pix=True)
        lengths = run_lengths(args, checkpoint)
    result = {
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__, "threads": args.threads, "size": args.size, "steps": args.steps,
        "repeats": args.repeats, "clock": args.clock, "edit": EDIT, "lengths": lengths, "sd15_cache": sd15_cache(),
    }
    result["sd15_attention"] = sd15_attention_time(
        result["sd15_cache"]["layers"], SD15_CASE["anchors"], args.device, args.repeats, args.clock)
    path = write_result(result, "fairy", args.device, args.out)
    print_tables(result)
    print(written(path))


if __name__ == "__main__":
    main()
