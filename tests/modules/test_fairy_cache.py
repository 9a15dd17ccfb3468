"""AnchorCache: per (layer, step, branch) storage, offload, size report and clear misses."""
import pytest
import torch

from modules.fairy import AnchorCache, AnchorCacheMiss


def kv(seed: int, shape=(3, 2, 6, 8)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def fill(cache, layers=("down.1.0", "mid.0"), steps=range(3), branches=(0, 1)):
    stored = {}
    for i, layer in enumerate(layers):
        for step in steps:
            for branch in branches:
                k, v = kv(100 * i + 10 * step + branch)
                cache.put(layer, step, branch, k, v)
                stored[(layer, step, branch)] = (k, v)
    return stored


def test_round_trip_every_layer_step_branch():
    cache = AnchorCache()
    stored = fill(cache)
    assert len(cache) == 2 * 3 * 2
    for (layer, step, branch), (k, v) in stored.items():
        got_k, got_v = cache.get(layer, step, branch)
        assert torch.equal(got_k, k) and torch.equal(got_v, v)
    # ComfyUI's cond_or_uncond numbers and the names address the same entries.
    assert torch.equal(cache.get("mid.0", 2, "uncond")[0], stored[("mid.0", 2, 1)][0])
    assert ("mid.0", 2, "cond") in cache and ("mid.0", 3, "cond") not in cache


def test_nbytes_counts_k_and_v():
    cache = AnchorCache()
    fill(cache)
    assert cache.nbytes == 12 * 2 * (3 * 2 * 6 * 8) * 4
    half = AnchorCache(storage_dtype=torch.float16)
    fill(half)
    assert half.nbytes == cache.nbytes // 2
    k, _ = half.get("mid.0", 0, 0)
    assert k.dtype == torch.float16


def test_stores_a_copy():
    cache = AnchorCache()
    k, v = kv(0)
    cache.put("l", 0, 0, k, v)
    expected = k.clone()
    k.add_(1.0)
    assert torch.equal(cache.get("l", 0, 0)[0], expected)


def test_offload_keeps_entries_on_cpu_and_moves_on_get():
    cache = AnchorCache(offload=True)
    k, v = kv(1)
    cache.put("l", 0, "cond", k, v)
    got_k, got_v = cache.get("l", 0, "cond", device=torch.device("cpu"))
    assert got_k.device.type == "cpu" and torch.equal(got_v, v)


def test_clear():
    cache = AnchorCache()
    fill(cache)
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


@pytest.mark.parametrize(
    "request_key, message",
    [
        (("up.3.0", 0, 0), r"never reached layer 'up.3.0'"),
        (("mid.0", 7, 0), r"steps 0\.\.2 only"),
        (("mid.0", 1, 1), r"branches \['cond'\] only"),
    ],
)
def test_missing_entry_explains_why(request_key, message):
    cache = AnchorCache()
    fill(cache, branches=(0,))
    with pytest.raises(AnchorCacheMiss, match=message):
        cache.get(*request_key)


def test_empty_cache_says_run_anchor_pass_first():
    with pytest.raises(AnchorCacheMiss, match="run the anchor pass first"):
        AnchorCache().get("mid.0", 0, 0)


def test_bad_input():
    cache = AnchorCache()
    k, v = kv(0)
    with pytest.raises(ValueError, match="same shape"):
        cache.put("l", 0, 0, k, v[:2])
    for bad in (-1, "both", True, 1.5):
        with pytest.raises(ValueError, match="CFG branch"):
            cache.put("l", 0, bad, k, v)
    cache.put("l", 0, 2, k, v)  # dual-CFG guiders batch a third conditioning
    assert torch.equal(cache.get("l", 0, 2)[0], k) and ("l", 0, 2) in cache
