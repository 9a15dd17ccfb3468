"""Autoregressive frame bookkeeping against st2v_bookkeeping.json (README §5.9; integers, exact)."""
import json

import pytest

from modules.streamingt2v.bookkeeping import (
    check_ms_length,
    ms_autoreg_runs,
    ms_kept_frames,
    ms_output_frames,
    ms_output_offset,
    reachable_lengths,
    svd_plan,
)


@pytest.fixture(scope="module")
def ref(vectors_dir):
    return json.loads((vectors_dir / "st2v_bookkeeping.json").read_text())


def test_streaming_modelscope(ref):
    for row in ref["streaming_modelscope"]:
        runs = ms_autoreg_runs(row["num_frames_arg"])
        assert runs == row["n_autoreg_gen"]
        assert ms_output_frames(runs) == row["frames_out"]
        assert check_ms_length(row["num_frames_arg"]) == runs


def test_streaming_svd(ref):
    for row in ref["streaming_svd"]:
        plan = svd_plan(row["num_frames_arg"])
        assert (plan.generated_before_vfi, plan.n_autoregressive_generations, plan.raw_frames, plan.after_vfi) == (
            row["generated_before_vfi"], row["n_autoregressive_generations"], row["raw_frames"], row["after_vfi"]
        )


def test_kept_frames_tile_the_output():
    runs = 5
    covered = []
    for run in range(runs):
        kept = ms_kept_frames(run)
        start = ms_output_offset(run)
        covered += list(range(start, start + kept.stop - kept.start))
    assert covered == list(range(ms_output_frames(runs)))
    assert ms_kept_frames(3) == slice(8, 16)


def test_reachable_lengths_and_errors():
    assert reachable_lengths(24) == [24]
    assert reachable_lengths(20) == [16, 24]
    assert reachable_lengths(3) == [16]
    with pytest.raises(ValueError, match="use 16 or 24"):
        check_ms_length(20)
    with pytest.raises(ValueError, match="at least 16"):
        ms_autoreg_runs(8)
