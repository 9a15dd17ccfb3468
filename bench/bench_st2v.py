"""StreamingT2V Extend benchmark: time per chunk and peak memory at 56, 240 and 1200 frames; memory must stay flat.

    .frameloom/venv/bin/python bench/bench_st2v.py --quick      # CPU: 56 and 240 frames
    .frameloom/venv/bin/python bench/bench_st2v.py              # CPU: 56, 240 and 1200 frames
    python bench/bench_st2v.py --device cuda --size 256         # GPU, in a CUDA PyTorch environment

Each length runs in a fresh subprocess through the node's own chunk loop (nodes/streamingt2v/extend.py: extend_video
with its resume cache on disk) on in-process ComfyUI: the tiny StreamingT2V of tests/support/tiny_st2v.py (widths 64,
cross-attention 1024) loaded by the node's loader, its TAESD stand-in VAE, random text and anchor embeddings (the
CLIP encoders run once per video, not per chunk, so they are left out). A wrapper around the VAE's decode, the last
step of every chunk, stamps each chunk's end: its time, the process RSS (CPU) or torch.cuda.max_memory_allocated since
the previous chunk (GPU).

Memory: the output video is one preallocated float32 tensor that fills as chunks land, so RSS grows by exactly the
frames written. "working" = RSS above the pre-call level minus the output bytes written so far; it must not grow with
the number of chunks. Peak = VmHWM (CPU) or the largest per-chunk cuda peak, above the pre-call level. Random weights
do not change the cost. Results go to bench/results/.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, enable_comfy, peak_rss_above, reset_peak_rss, rss_kib, write_result, written  # noqa: E402
from tests.support import tiny_st2v  # noqa: E402
from tests.support.runtime import import_pack  # noqa: E402

logger = logging.getLogger("FrameLoom.bench.st2v")

LENGTHS = (56, 240, 1200)
MIB = 2**20


class ChunkMeter:
    """Passes decode through to a ComfyUI VAE and records, at the end of every chunk, time and memory."""

    def __init__(self, vae, device: torch.device, baseline: int, frame_bytes: int) -> None:
        self.vae = vae
        self.first_stage_model = vae.first_stage_model  # the resume cache fingerprints it
        self.device = device
        self.baseline = baseline
        self.frame_bytes = frame_bytes
        self.start = time.perf_counter()
        self.chunks: list[dict] = []

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        out = self.vae.decode(samples)
        now = time.perf_counter()
        previous = self.chunks[-1]["end_s"] if self.chunks else 0.0
        row = {"end_s": now - self.start, "seconds": now - self.start - previous}
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            row["cuda_peak_mib"] = (torch.cuda.max_memory_allocated() - self.baseline) / MIB
            torch.cuda.reset_peak_memory_stats()
        else:
            written = (16 + 8 * len(self.chunks)) * self.frame_bytes  # this chunk's 8 frames land after decode
            row["working_mib"] = (rss_kib("VmRSS") * 1024 - self.baseline - written) / MIB
        self.chunks.append(row)
        return out


def build(folder: Path, size: int):
    """(MODEL, positive, negative, VAE, clip, anchor) as the Extend node would receive them, tiny and random."""
    import comfy.sd

    from FrameLoom.nodes.streamingt2v.extend import AnchorEmbeds
    from FrameLoom.nodes.streamingt2v.loader import load_streaming_t2v
    from FrameLoom.nodes.streamingt2v.model import wrap_streaming_t2v

    path = tiny_st2v.write_st2v_checkpoint(folder / tiny_st2v.ST2V_FILE)
    model = wrap_streaming_t2v(load_streaming_t2v(str(path)))
    vae = comfy.sd.VAE(sd=tiny_st2v.vae_state_dict())
    gen = torch.Generator().manual_seed(0)
    text = [[torch.randn(1, 77, tiny_st2v.CONTEXT_DIM, generator=gen), {}] for _ in range(2)]
    anchor = AnchorEmbeds(*(torch.randn(1, 1, tiny_st2v.CONTEXT_DIM, generator=gen) for _ in range(2)))
    clip = torch.rand(16, size, size, 3, generator=gen)
    return model, [text[0]], [text[1]], vae, clip, anchor


def child(args) -> dict:
    """In a fresh process: extend a 16-frame clip to args.child frames and report per-chunk time and memory."""
    import folder_paths

    from FrameLoom.nodes.streamingt2v.extend import ExtendSettings, extend_video, resume_cache

    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        folder_paths.set_temp_directory(folder)  # the resume cache writes every chunk there
        model, positive, negative, vae, clip, anchor = build(Path(folder), args.size)
        settings = ExtendSettings(total_frames=args.child, seed=0, steps=args.steps, size=args.size)
        cache = resume_cache(model, positive, negative, vae, clip, anchor, settings)
        frame_bytes = args.size * args.size * 3 * 4
        if device.type == "cuda":
            torch.cuda.synchronize()
            baseline = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        else:
            baseline = reset_peak_rss()
        meter = ChunkMeter(vae, device, baseline, frame_bytes)
        video = extend_video(model, positive, negative, meter, clip, anchor, settings, cache)
        total = time.perf_counter() - meter.start
        if device.type == "cuda":
            peak, kind = max(c["cuda_peak_mib"] for c in meter.chunks), "cuda max_memory_allocated"
        else:
            peak, kind = (peak_rss_above(baseline)) / MIB, "process peak RSS (VmHWM)"
    assert video.shape[0] == args.child
    chunks = meter.chunks
    seconds = [c["seconds"] for c in chunks[1:]] or [chunks[0]["seconds"]]  # chunk 1 carries the warm-up
    memory = "cuda_peak_mib" if device.type == "cuda" else "working_mib"
    return {
        "frames": args.child, "chunks": len(chunks), "total_s": total, "first_chunk_s": chunks[0]["seconds"],
        "median_chunk_s": statistics.median(seconds), "max_chunk_s": max(seconds),
        "output_mib": video.numel() * 4 / MIB, "peak_mib": peak, "measure": kind,
        "peak_minus_output_mib": peak - (0 if device.type == "cuda" else video.numel() * 4 / MIB),
        "first_chunk_mem_mib": chunks[0][memory], "last_chunk_mem_mib": chunks[-1][memory],
        "max_chunk_mem_mib": max(c[memory] for c in chunks), "per_chunk": chunks,
    }  # fmt: skip


def run_lengths(args) -> list[dict]:
    rows = []
    for frames in args.frames:
        cmd = [sys.executable, __file__, "--device", args.device, "--size", str(args.size), "--steps", str(args.steps),
               "--threads", str(args.threads), "--child", str(frames)]  # fmt: skip
        # A fixed mmap threshold makes glibc return freed tensors to the OS, so RSS tracks live memory rather than
        # heap fragmentation (see bench_fancyvideo.py).
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode:
            raise RuntimeError(f"{frames}-frame run failed:\n{done.stderr[-4000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        logger.info("%d frames done (%d chunks)", frames, rows[-1]["chunks"])
    return rows


def print_table(result: dict) -> None:
    gpu = result["device"] == "cuda"
    memory = "cuda peak per chunk" if gpu else "working set (RSS - baseline - output written)"
    print(f"\nStreamingT2V Extend on {result['device_name']}, tiny model, {result['size']}x{result['size']}, "
          f"{result['steps']} steps per chunk, {result['threads']} thread(s)")  # fmt: skip
    print(f"memory: {result['rows'][0]['measure']} above the pre-call level; per chunk: {memory}")
    print(f"{'frames':>6} {'chunks':>6} {'s/chunk':>8} {'max s':>6} {'total s':>8} {'output MiB':>10} {'peak MiB':>9} "
          f"{'peak-out':>9} {'chunk 1':>8} {'last':>7} {'max':>7}")  # fmt: skip
    for r in result["rows"]:
        print(f"{r['frames']:>6} {r['chunks']:>6} {r['median_chunk_s']:>8.3f} {r['max_chunk_s']:>6.2f} "
              f"{r['total_s']:>8.1f} {r['output_mib']:>10.1f} {r['peak_mib']:>9.1f} {r['peak_minus_output_mib']:>9.1f} "
              f"{r['first_chunk_mem_mib']:>8.1f} {r['last_chunk_mem_mib']:>7.1f} "
              f"{r['max_chunk_mem_mib']:>7.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="56 and 240 frames only")
    parser.add_argument("--size", type=int, default=None, help="frame side (default 64 on CPU, 256 on GPU)")
    parser.add_argument("--steps", type=int, default=2, help="sampling steps per chunk (upstream: 50)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (tiny models are all per-op overhead)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    on_gpu = args.device == "cuda"
    if on_gpu and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available")
    args.size = args.size or (256 if on_gpu else 64)
    torch.set_num_threads(args.threads)
    if args.child:
        enable_comfy(cpu=not on_gpu)
        import_pack()
        print(json.dumps(child(args)))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.frames = LENGTHS[:2] if args.quick else LENGTHS
    result = {
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__, "threads": args.threads, "quick": args.quick, "size": args.size,
        "steps": args.steps, "rows": run_lengths(args),
    }  # fmt: skip
    path = write_result(result, "st2v", args.device, args.out)
    print_table(result)
    print(written(path))


if __name__ == "__main__":
    main()
