"""Per-frame noise: each frame's noise depends on (seed, frame index, step) only, never on the batch."""
import pytest
import torch

from modules.fairy import per_frame_noise, step_noise_sampler

SHAPE = (4, 8, 8)


@pytest.mark.parametrize("step", [None, 0, 9])
def test_batches_of_1_5_24_give_identical_noise(step):
    full = per_frame_noise(SHAPE, range(24), seed=42, step=step)
    assert full.shape == (24, *SHAPE)
    singles = torch.cat([per_frame_noise(SHAPE, [i], 42, step) for i in range(24)])
    fives = torch.cat([per_frame_noise(SHAPE, range(s, min(s + 5, 24)), 42, step) for s in range(0, 24, 5)])
    assert torch.equal(full, singles) and torch.equal(full, fives)


def test_order_and_company_do_not_matter():
    a = per_frame_noise(SHAPE, [7, 3, 100], seed=1)
    b = per_frame_noise(SHAPE, [100, 7], seed=1)
    assert torch.equal(a[0], b[1]) and torch.equal(a[2], b[0])


def test_depends_on_seed_frame_and_step():
    base = per_frame_noise(SHAPE, [0, 1], seed=5)
    assert not torch.equal(base[0], base[1])
    assert not torch.equal(base, per_frame_noise(SHAPE, [0, 1], seed=6))
    steps = [per_frame_noise(SHAPE, [0], seed=5, step=s) for s in (0, 1)]
    assert not torch.equal(steps[0], steps[1]) and not torch.equal(steps[0], base[:1])


def test_is_standard_normal():
    noise = per_frame_noise((64, 64), range(8), seed=0)
    assert abs(noise.mean().item()) < 0.02 and abs(noise.std().item() - 1) < 0.02


def test_shared_gives_every_frame_the_same_noise():
    noise = per_frame_noise(SHAPE, [3, 9, 11], seed=2, step=4, shared=True)
    assert torch.equal(noise[0], noise[1]) and torch.equal(noise[0], noise[2])
    assert not torch.equal(noise[0], per_frame_noise(SHAPE, [3], seed=2, step=5, shared=True)[0])


def test_dtype_and_device():
    noise = per_frame_noise(SHAPE, [0], seed=0, dtype=torch.float16, device=torch.device("cpu"))
    assert noise.dtype == torch.float16
    assert torch.equal(noise, per_frame_noise(SHAPE, [0], seed=0).half())


def test_step_noise_sampler_maps_sigma_to_step():
    sigmas = torch.tensor([14.6, 7.1, 3.2, 0.0])
    sampler = step_noise_sampler(sigmas, SHAPE, [4, 5], seed=3)
    assert torch.equal(sampler(sigmas[1], sigmas[2]), per_frame_noise(SHAPE, [4, 5], 3, step=1))
    with pytest.raises(ValueError, match="not in the sampling schedule"):
        sampler(torch.tensor(5.0), torch.tensor(1.0))


@pytest.mark.parametrize("args", [((0, 4), [0]), (SHAPE, []), (SHAPE, [-1])])
def test_bad_input(args):
    with pytest.raises(ValueError):
        per_frame_noise(*args, seed=0)
