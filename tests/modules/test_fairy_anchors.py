"""Fairy anchor choice against fairy_anchor_indices.json (both candidate rules, every N listed)."""
import json

import pytest

from modules.fairy import ANCHOR_RULES, anchor_indices


@pytest.fixture(scope="module")
def reference(vectors_dir):
    return json.loads((vectors_dir / "fairy_anchor_indices.json").read_text())


@pytest.mark.parametrize("rule", ANCHOR_RULES)
def test_matches_reference_lists(reference, rule):
    cases = reference[rule]
    assert set(cases) == {"16", "24", "120", "664"}
    for n, expected in cases.items():
        assert anchor_indices(int(n), 3, rule) == expected, (rule, n)


def test_default_rule_is_segment_centers(reference):
    assert anchor_indices(16) == reference["segment_centers"]["16"]


@pytest.mark.parametrize("rule", ANCHOR_RULES)
@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_distinct_sorted_in_range(rule, k):
    for n in range(k, 200):
        idx = anchor_indices(n, k, rule)
        assert len(idx) == k and idx == sorted(set(idx)), (n, idx)
        assert 0 <= idx[0] and idx[-1] <= n - 1


def test_linspace_rounds_half_to_even_exactly():
    # 18 frames: midpoint 8.5 -> 8 (NumPy's linspace(...).round()); exact arithmetic, no float drift for long videos.
    assert anchor_indices(18, 3, "linspace_with_endpoints") == [0, 8, 17]
    assert anchor_indices(100_001, 3, "linspace_with_endpoints") == [0, 50_000, 100_000]


def test_too_few_frames_names_both_numbers():
    with pytest.raises(ValueError, match=r"3 anchors need at least 3 frames, but the video has 2"):
        anchor_indices(2, 3)


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"rule": "random"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        anchor_indices(16, **kwargs)
