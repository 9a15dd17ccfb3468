"""FancyVideo benchmark: denoiser step time with and without the motion modules, and CV-VAE decode peak memory per chunk.

    .frameloom/venv/bin/python bench/bench_fancyvideo.py --quick      # CPU, tiny sizes
    python bench/bench_fancyvideo.py --device cuda                    # GPU (TF32 off), larger sizes and full-width CV-VAE

Denoiser: one sampling step (a CFG evaluation, cond and uncond batched) of the tiny SD1.5 checkpoint from
tests/support/tiny_sd.py (model_channels 320, one level) run by in-process ComfyUI through comfy.sample, as the
FancyVideo Sampler runs it; `image` = the same UNet per frame without motion modules (the T2V first-frame pass),
`video` = FancyVideo applied (motion modules, fps/motion embeddings, 9-channel conv_in). Time per step is the median
interval between sampler callbacks, best of --repeats runs after a warm-up, so model loading and setup do not count.
CV-VAE: decode of 1, 2 and 4 temporal chunks (5, 9, 17 latent frames -> 17, 33, 65 frames), each in a fresh
subprocess; peak memory above the pre-call level (process RSS on CPU, max_memory_allocated on GPU). It should stay
flat in the number of chunks: the frame stack is preallocated on the CPU and each chunk's activations are freed.
Weights are random, which does not change the cost. Results go to bench/results/.
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

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, enable_comfy, peak_rss_above, reset_peak_rss, strict_fp32_cuda, write_result, written  # noqa: E402
from tests.support import tiny_sd  # noqa: E402
from tests.support.runtime import import_pack  # noqa: E402

logger = logging.getLogger("FrameLoom.bench.fancyvideo")

CHUNK_LATENTS = (5, 9, 17)  # 1, 2 and 4 official decode chunks



def load_models(folder: Path):
    """(MODEL, positive, negative, FancyVideoModel) from freshly written tiny files, loaded the way the nodes load them."""
    import comfy.sd

    checkpoint = tiny_sd.write_sd15_checkpoint(folder / tiny_sd.SD15_FILE)
    fancy_path = tiny_sd.write_fancyvideo_checkpoint(folder / "fancyvideo.pt")
    model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(checkpoint))
    from FrameLoom.modules.fancyvideo.loading import load_fancyvideo
    from FrameLoom.nodes.fancyvideo.handles import FancyVideoHandle

    handle = FancyVideoHandle(load_fancyvideo(fancy_path), fancy_path.name)
    positive = clip.encode_from_tokens_scheduled(clip.tokenize("a red fox in the snow"))
    negative = clip.encode_from_tokens_scheduled(clip.tokenize(""))
    return model, positive, negative, handle


def step_time(model, positive, negative, latent: torch.Tensor, steps: int, repeats: int, device: str) -> float:
    """Median seconds between consecutive sampler callbacks (one CFG evaluation plus the sampler's own work each), the
    best of `repeats` runs: loading and setup before the first step do not count."""
    import statistics

    import comfy.sample

    def on_step(stamps: list[float]):
        def callback(step, x0, x, total_steps):
            if device == "cuda":
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
        return callback

    best = float("inf")
    for _ in range(repeats + 1):  # the first run is a warm-up (model loading, kernel selection)
        stamps: list[float] = []
        noise = comfy.sample.prepare_noise(latent, 0)
        comfy.sample.sample(model, noise, steps + 1, 7.5, "ddim", "ddim_uniform", positive, negative, latent,
                            callback=on_step(stamps), disable_pbar=True, seed=0)
        best = min(best, statistics.median(b - a for a, b in zip(stamps, stamps[1:])))
    return best


def denoiser(args) -> list[dict]:
    from FrameLoom.nodes.fancyvideo import apply_fancyvideo

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        model, positive, negative, handle = load_models(Path(folder))
        video_model = apply_fancyvideo(model, handle.model_for(model))
        for size in args.sizes:
            latent = torch.zeros(args.frames, 4, size // 8, size // 8)
            image = step_time(model, positive, negative, latent, args.steps, args.repeats, args.device)
            video = step_time(video_model, positive, negative, latent, args.steps, args.repeats, args.device)
            rows.append({"size": f"{size}x{size}", "latent_frames": args.frames, "image_step_s": image,
                         "video_step_s": video, "motion_overhead": video / image if image else None})
            logger.info("denoiser %dx%d done", size, size)
    return rows


def memory_child(args) -> dict:
    """In a fresh process: peak memory of decoding `args.memory_child` latent frames with a random CV-VAE."""
    from modules.fancyvideo.cvvae import CVVAE, CVVAEConfig

    device = torch.device(args.device)
    config = CVVAEConfig(ch=args.cvvae_ch, ch_mult=[1, 2, 4, 4])
    with torch.device("meta"):
        layout = {k: tuple(v.shape) for k, v in CVVAE(config).state_dict().items()}
    model = CVVAE.from_state_dict(tiny_sd.random_state(layout), config, device=device)
    side = args.decode_size // 8
    latent = torch.randn(1, 4, args.memory_child, side, side, generator=torch.Generator().manual_seed(0))
    model.decode(latent[:, :, :2])  # warm-up outside the measurement
    frames = 4 * args.memory_child - 3
    out_bytes = 3 * frames * args.decode_size**2 * 4
    started = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        video = model.decode(latent)
        torch.cuda.synchronize()
        peak, kind = torch.cuda.max_memory_allocated() - before, "cuda max_memory_allocated"
    else:
        before = reset_peak_rss()
        video = model.decode(latent)
        peak, kind = peak_rss_above(before), "process peak RSS (VmHWM)"
    assert video.shape[2] == frames
    chunks = max(1, -(-(args.memory_child - 1) // 4))
    return {"latent_frames": args.memory_child, "frames": frames, "chunks": chunks, "peak_mib": peak / 2**20,
            "output_mib": out_bytes / 2**20, "seconds": time.perf_counter() - started, "measure": kind}


def cvvae_memory(args) -> list[dict]:
    rows = []
    for length in CHUNK_LATENTS:
        cmd = [sys.executable, __file__, "--device", args.device, "--cvvae-ch", str(args.cvvae_ch),
               "--decode-size", str(args.decode_size), "--memory-child", str(length)]
        # A fixed mmap threshold makes glibc return every freed tensor to the OS, so peak RSS tracks live memory rather
        # than heap fragmentation (with the default dynamic threshold it creeps up with each chunk).
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        logger.info("CV-VAE decode of %d latent frames done", length)
    return rows


def print_tables(result: dict) -> None:
    print(f"\nFancyVideo denoiser on {result['device_name']} (tiny SD1.5, model_channels 320; seconds per CFG step, "
          f"median step, best of {result['repeats']} runs)")
    print(f"{'size':>9} {'frames':>6} {'image step':>11} {'video step':>11} {'ratio':>6}")
    for row in result["denoiser"]:
        print(f"{row['size']:>9} {row['latent_frames']:>6} {row['image_step_s']:>11.3f} {row['video_step_s']:>11.3f} "
              f"{row['motion_overhead']:>6.2f}")
    print(f"\nCV-VAE decode, ch {result['cvvae_ch']} x [1,2,4,4], {result['decode_size']}x{result['decode_size']} "
          f"({result['cvvae_memory'][0]['measure']} above the pre-call level)")
    print(f"{'latents':>7} {'frames':>6} {'chunks':>6} {'peak MiB':>9} {'output MiB':>11} {'peak-output':>12} {'s':>7}")
    for row in result["cvvae_memory"]:
        print(f"{row['latent_frames']:>7} {row['frames']:>6} {row['chunks']:>6} {row['peak_mib']:>9.1f} "
              f"{row['output_mib']:>11.1f} {row['peak_mib'] - row['output_mib']:>12.1f} {row['seconds']:>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (CPU-friendly)")
    parser.add_argument("--cvvae-ch", type=int, default=None, help="CV-VAE base width (released: 128)")
    parser.add_argument("--decode-size", type=int, default=None, help="decoded frame side in pixels")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    on_gpu = args.device == "cuda"
    if on_gpu:
        if not torch.cuda.is_available():
            parser.error("--device cuda but CUDA is not available")
        strict_fp32_cuda()
    args.cvvae_ch = args.cvvae_ch or (128 if on_gpu else 32)
    args.decode_size = args.decode_size or (576 if on_gpu else (64 if args.quick else 128))
    if args.memory_child:
        print(json.dumps(memory_child(args)))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.sizes = (64,) if args.quick else ((64, 128) if not on_gpu else (256, 512))
    args.frames = 16
    args.steps = 3 if args.quick else 5
    args.repeats = 1 if args.quick else 2
    enable_comfy(cpu=not on_gpu)
    import_pack()
    result = {
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "quick": args.quick,
        "repeats": args.repeats,
        "cvvae_ch": args.cvvae_ch,
        "decode_size": args.decode_size,
        "denoiser": denoiser(args),
        "cvvae_memory": cvvae_memory(args),
    }
    path = write_result(result, "fancyvideo", args.device, args.out)
    print_tables(result)
    print(written(path))


if __name__ == "__main__":
    main()
