"""Randomized blending against st2v_randomized_blending.json (README §5.7; integers, exact)."""
import json
import random

import pytest
import torch

from modules.streamingt2v.blending import (
    OffsetSampler,
    blend_chunk_predictions,
    chunk_starts,
    frame_to_chunk,
    ms_trim_length,
    svd_enhance_chunks,
)


@pytest.fixture(scope="module")
def ref(vectors_dir):
    return json.loads((vectors_dir / "st2v_randomized_blending.json").read_text())


def _stub_chunks(starts, chunk):
    # The reference ran a stub denoiser whose x0 prediction is its chunk index.
    for k, _ in enumerate(starts):
        yield torch.full((1, 2, chunk, 1, 1), float(k))


def test_model_fn_cases(ref):
    cases = ref["modelscope_branch_model_fn_cases"]
    assert len(cases) == 3
    for name, case in cases.items():
        n, chunk, overlap = case["n_frames"], case["chunk_size"], case["overlap_size"]
        starts = chunk_starts(n, chunk, overlap)
        assert starts == case["chunk_starts"], name
        assert [chunk] * len(starts) == case["chunk_lengths_seen"], name
        sampler = OffsetSampler(case["python_random_seed"], mode="official")
        out = torch.empty(1, 2, n, 1, 1)
        for step, (offsets_ref, map_ref) in enumerate(zip(case["offsets_per_step"], case["frame_to_chunk_per_step"])):
            offsets = sampler.draw(len(starts), overlap)
            assert offsets == offsets_ref, (name, step)
            assert frame_to_chunk(starts, offsets, chunk, n) == map_ref, (name, step)
            blended = blend_chunk_predictions(_stub_chunks(starts, chunk), starts, offsets, n, out=out)
            assert blended.data_ptr() == out.data_ptr()
            assert blended[0, 1, :, 0, 0].long().tolist() == map_ref, (name, step)


def test_official_mode_leaves_global_random_alone():
    random.seed(5)
    expected = random.random()
    random.seed(5)
    OffsetSampler(1234, mode="official").draw(10, 8)
    assert random.random() == expected


def test_torch_mode_is_seeded_and_in_range():
    a = [OffsetSampler(7).draw(6, 8) for _ in range(2)]
    assert a[0] == a[1] and len(a[0]) == 5 and all(0 <= r < 8 for r in a[0])
    sampler = OffsetSampler(7)
    steps = [sampler.draw(6, 8) for _ in range(20)]
    assert len({tuple(s) for s in steps}) > 1  # the stream continues across steps
    assert OffsetSampler(7).draw(3, 0) == [0, 0]
    with pytest.raises(ValueError, match="RNG mode"):
        OffsetSampler(7, mode="global")


def test_trim_table(ref):
    for row in ref["ms_trim_table"]:
        plan = ms_trim_length(row["n_frames"])
        assert (plan.n_chunks, plan.trim_length) == (row["n_chunks"], row["trim_length"])
        starts = chunk_starts(plan.trim_length, 24, 8)
        assert len(starts) == plan.n_chunks and starts[-1] + 24 == plan.trim_length


def test_svd_enhance_chunk_table(ref):
    for row in ref["svd_enhance_chunk_table"]:
        assert svd_enhance_chunks(row["n_frames"]) == (row["chunk_starts"], row["max_idx"])


def test_untrimmed_tail_is_an_error_or_covered():
    starts = chunk_starts(60, 24, 8)
    with pytest.raises(ValueError, match="trim it"):
        blend_chunk_predictions(_stub_chunks(starts, 24), starts, [0] * (len(starts) - 1), 60)
    covered = chunk_starts(60, 24, 8, cover_tail=True)
    assert covered == [0, 16, 32, 36]
    out = blend_chunk_predictions(_stub_chunks(covered, 24), covered, [3, 3, 3], 60)
    assert out[0, 0, :, 0, 0].long().tolist() == frame_to_chunk(covered, [3, 3, 3], 24, 60)
    assert -1 not in frame_to_chunk(covered, [7, 7, 7], 24, 60)


def test_bad_plans_are_explained():
    with pytest.raises(ValueError, match="fewer than one chunk"):
        chunk_starts(10, 24, 8)
    with pytest.raises(ValueError, match="overlap < chunk_size"):
        chunk_starts(48, 24, 24)
    with pytest.raises(ValueError, match="one offset per chunk"):
        frame_to_chunk([0, 16], [], 24, 40)
    with pytest.raises(ValueError, match="uncovered"):
        frame_to_chunk([0, 30], [0], 24, 54)
    with pytest.raises(ValueError, match="2 chunk predictions for 3"):
        blend_chunk_predictions(_stub_chunks([0, 16], 24), [0, 16, 32], [1, 1], 56)
