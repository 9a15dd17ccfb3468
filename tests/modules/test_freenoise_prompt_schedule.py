"""The keyframe prompt-schedule parser, its positioned errors, and per-frame keyframe blending."""
from __future__ import annotations

import pytest
import torch

from modules.freenoise import PromptScheduleError, frame_weights, interpolate_per_frame, parse_prompt_schedule

CAMEL = [(0, "a camel running"), (48, "a camel standing")]


@pytest.mark.parametrize(
    "text",
    [
        '"0": "a camel running",\n"48": "a camel standing"',
        '{\n  "0": "a camel running",\n  "48": "a camel standing",\n}\n',
        '0: "a camel running"\n48: "a camel standing",',
        "{'0': 'a camel running', '48': 'a camel standing'}",
        '\r\n  "48" : "a camel standing",\r\n  0:"a camel running"\r\n',
    ],
    ids=["plain", "braces-trailing-comma", "unquoted-keys", "single-quotes-one-line", "unsorted-crlf"],
)
def test_valid_syntaxes(text):
    assert parse_prompt_schedule(text, num_frames=64) == CAMEL


def test_escapes_and_weights_syntax_survive():
    got = parse_prompt_schedule(r'"0": "say \"hi\", \(masterpiece:1.2\)"')
    assert got == [(0, 'say "hi", \\(masterpiece:1.2\\)')]


@pytest.mark.parametrize(
    "text,position,message",
    [
        ('"0": "a",\n    : "b"', (2, 5), 'expected a frame number before ":"'),
        ('"0": "a",\n"": "b"', (2, 2), 'expected a frame number before ":"'),
        ('"0": a camel', (1, 6), 'expected a quoted prompt after ":"'),
        ('"0" "a camel"', (1, 5), 'expected ":" after frame number 0'),
        ('"0": "a",\n"16": "b",\n"16": "c"', (3, 1), "frame 16 is scheduled twice (first at line 2, column 1)"),
        ('"0": "a",\n"48": "b"', (2, 1), "frame 48 is past the end of the video: it has 40 frames"),
        ('"-1": "the end"', (1, 1), "negative frame -1"),
        ('"2.5": "half"', (1, 1), "frame numbers are whole numbers"),
        ("", (1, 1), "the schedule is empty"),
        ("{\n}", (2, 1), "the schedule is empty"),
        ('{"0": "a"', (1, 10), 'expected "}" to close the "{" at line 1, column 1'),
        ('"0": "a camel\n"8": "b"', (1, 6), 'this prompt has no closing " before a line break'),
        ('"0": "a" "8": "b"', (1, 10), "expected \",\" or a new line after the prompt, found '\"'"),
        ('"0": "a"}', (1, 9), 'found "}" without an opening "{"'),
        ('x: "a"', (1, 1), 'expected a frame number, found "x"'),
    ],
)
def test_errors_say_where_and_what(text, position, message):
    with pytest.raises(PromptScheduleError) as info:
        parse_prompt_schedule(text, num_frames=40)
    err = info.value
    assert isinstance(err, ValueError)
    assert tuple(err.position) == position
    assert message in err.message
    assert str(err).startswith(f"line {position[0]}, column {position[1]}: ")


def test_frame_weights_linear_between_constant_outside():
    blends = frame_weights([8, 2], 12)
    assert blends[0] == (2, 2, 0.0) and blends[1] == (2, 2, 0.0)
    assert blends[2] == (2, 8, 0.0)
    assert blends[5] == (2, 8, 0.5)
    assert blends[7] == (2, 8, pytest.approx(5 / 6))
    assert all(b == (8, 8, 0.0) for b in blends[8:])
    assert frame_weights([3], 4) == [(3, 3, 0.0)] * 4


def test_frame_weights_rejects_bad_keys():
    with pytest.raises(ValueError, match="distinct"):
        frame_weights([0, 0], 4)
    with pytest.raises(ValueError, match="must lie in 0..3"):
        frame_weights([0, 4], 4)
    with pytest.raises(ValueError, match="at least one keyframe"):
        frame_weights([], 4)


def test_interpolate_per_frame():
    a, b = torch.zeros(2, 3), torch.full((2, 3), 4.0)
    out = interpolate_per_frame({1: a, 5: b}, 7)
    assert out.shape == (7, 2, 3)
    assert out[:, 0, 0].tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    with pytest.raises(ValueError, match="share one shape"):
        interpolate_per_frame({0: a, 4: torch.zeros(4, 3)}, 6)
