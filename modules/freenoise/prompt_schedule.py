"""Prompts over time: the keyframe syntax ComfyUI users write for AnimateDiff-Evolved / FizzNodes, and per-frame blends.

Accepted text, one entry per line or several per line separated by commas:

    "0": "a camel running",
    "48": "a camel standing"

Keys are whole frame numbers, quoted or not; prompts are quoted with " or ' (backslash escapes \\" \\' \\\\ \\n \\t;
any other backslash pair, such as A1111's \\( \\), is kept as written). Trailing commas are fine and the whole text
may be wrapped in { }. Negative keys (counting from the end) are not supported.
"""
from __future__ import annotations

from typing import Iterable, Mapping, NamedTuple

import torch

_QUOTES = "\"'"
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t"}
_EXAMPLE = '"0": "a camel running"'


class SourcePosition(NamedTuple):
    line: int  # 1-based
    column: int  # 1-based, in characters


class PromptScheduleError(ValueError):
    """A schedule that cannot be used; str() reads 'line L, column C: what was expected / found'."""

    def __init__(self, message: str, position: SourcePosition) -> None:
        self.message = message
        self.position = position
        super().__init__(f"line {position.line}, column {position.column}: {message}")


class ScheduleEntry(NamedTuple):
    frame: int
    text: str


class FrameBlend(NamedTuple):
    """Frame f's value is lerp(value[before], value[after], weight)."""

    before: int
    after: int
    weight: float


def _describe(char: str) -> str:
    if not char:
        return "the end of the text"
    if char in "\r\n":
        return "a line break"
    return f"'{char}'" if char == '"' else f'"{char}"'


class _Scanner:
    """Character cursor that knows its line and column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def where(self, pos: int | None = None) -> SourcePosition:
        pos = self.pos if pos is None else pos
        line_start = self.text.rfind("\n", 0, pos) + 1
        return SourcePosition(self.text.count("\n", 0, pos) + 1, pos - line_start + 1)

    def fail(self, message: str, pos: int | None = None) -> PromptScheduleError:
        return PromptScheduleError(message, self.where(pos))

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def take_while(self, predicate) -> str:
        start = self.pos
        while self.peek() and predicate(self.peek()):
            self.pos += 1
        return self.text[start:self.pos]


_SPACES = " \t\r"
_BLANKS = " \t\r\n"


def _read_key(sc: _Scanner) -> int:
    start = sc.pos
    quote = sc.peek() if sc.peek() in _QUOTES else ""
    if quote:
        sc.pos += 1
        sc.skip(" \t")
    sign = sc.take_while(lambda c: c in "+-")
    digits = sc.take_while(str.isdecimal)
    if not digits:
        found = sc.peek()
        if found == ":" or (quote and found == quote):
            raise sc.fail('expected a frame number before ":"')
        raise sc.fail(f"expected a frame number, found {_describe(found)}")
    if sc.peek() == "." and sc.text[sc.pos + 1:sc.pos + 2].isdecimal():
        raise sc.fail(f"frame numbers are whole numbers; found a fraction after {digits!r}", start)
    if "-" in sign:
        raise sc.fail(
            f"frame numbers count from 0 at the start; negative frame {sign}{digits} (counting from the end) is "
            "not supported",
            start,
        )
    if quote:
        sc.skip(" \t")
        if sc.peek() != quote:
            raise sc.fail(f"expected the closing {quote} after frame number {digits}, found {_describe(sc.peek())}")
        sc.pos += 1
    return int(digits)


def _read_prompt(sc: _Scanner) -> str:
    quote = sc.peek()
    if quote not in _QUOTES or not quote:
        raise sc.fail(f'expected a quoted prompt after ":", e.g. {_EXAMPLE}; found {_describe(quote)}')
    opening = sc.pos
    sc.pos += 1
    parts: list[str] = []
    while True:
        char = sc.peek()
        if char in ("", "\n"):
            raise sc.fail(f"this prompt has no closing {quote} before {_describe(char)}", opening)
        sc.pos += 1
        if char == quote:
            return "".join(parts)
        if char == "\\" and sc.peek():
            nxt = sc.peek()
            sc.pos += 1
            parts.append(_ESCAPES.get(nxt, "\\" + nxt))
        else:
            parts.append(char)


def parse_prompt_schedule(text: str, num_frames: int | None = None) -> list[ScheduleEntry]:
    """Parse a keyframe prompt schedule into (frame, text) pairs sorted by frame.

    With `num_frames`, keys must be < num_frames. Every problem raises PromptScheduleError with its line and column.
    """
    if not isinstance(text, str):
        raise TypeError(f"the prompt schedule must be text, got {type(text).__name__}")
    sc = _Scanner(text)
    sc.skip(_BLANKS)
    brace_at = sc.pos if sc.peek() == "{" else None
    if brace_at is not None:
        sc.pos += 1
    seen: dict[int, SourcePosition] = {}
    entries: list[ScheduleEntry] = []
    while True:
        sc.skip(_BLANKS)
        end_at = sc.pos  # where an empty schedule is reported
        char = sc.peek()
        if char == "}":
            if brace_at is None:
                raise sc.fail('found "}" without an opening "{"')
            sc.pos += 1
            sc.skip(_BLANKS)
            if sc.peek():
                raise sc.fail(f'expected nothing after the closing "}}", found {_describe(sc.peek())}')
            break
        if not char:
            if brace_at is not None:
                opened = sc.where(brace_at)
                raise sc.fail(f'expected "}}" to close the "{{" at line {opened.line}, column {opened.column}')
            break
        key_at = sc.where()
        frame = _read_key(sc)
        if frame in seen:
            first = seen[frame]
            raise PromptScheduleError(
                f"frame {frame} is scheduled twice (first at line {first.line}, column {first.column}); "
                "expected each frame number once",
                key_at,
            )
        if num_frames is not None and frame >= num_frames:
            raise PromptScheduleError(
                f"frame {frame} is past the end of the video: it has {num_frames} frames, so keys must be "
                f"0 to {num_frames - 1}",
                key_at,
            )
        sc.skip(_SPACES)
        if sc.peek() != ":":
            raise sc.fail(f'expected ":" after frame number {frame}, found {_describe(sc.peek())}')
        sc.pos += 1
        sc.skip(_SPACES)
        entries.append(ScheduleEntry(frame, _read_prompt(sc)))
        seen[frame] = key_at
        sc.skip(_SPACES)
        if sc.peek() == ",":
            sc.pos += 1
        elif sc.peek() not in ("", "\n", "}"):
            raise sc.fail(f'expected "," or a new line after the prompt, found {_describe(sc.peek())}')
    if not entries:
        raise sc.fail(f"the schedule is empty; expected at least one entry like {_EXAMPLE}", end_at)
    return sorted(entries)


def _check_keys(keys: Iterable[int], num_frames: int) -> list[int]:
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive whole number, got {num_frames!r}")
    ordered = sorted(keys)
    if not ordered:
        raise ValueError("expected at least one keyframe, got none")
    if len(set(ordered)) != len(ordered):
        raise ValueError(f"keyframes must be distinct, got {ordered}")
    if ordered[0] < 0 or ordered[-1] >= num_frames:
        raise ValueError(f"keyframes must lie in 0..{num_frames - 1}, got {ordered}")
    return ordered


def frame_weights(keys: Iterable[int], num_frames: int) -> list[FrameBlend]:
    """For each frame, its surrounding keyframes and the linear weight of the later one.

    Between keys a < b, frame f gets (a, b, (f - a) / (b - a)); at or after the last key and before the first key
    the nearest key holds with weight 0 (constant extension).
    """
    ordered = _check_keys(keys, num_frames)
    blends: list[FrameBlend] = []
    k = 0
    for f in range(num_frames):
        while k + 1 < len(ordered) and ordered[k + 1] <= f:
            k += 1
        a = ordered[k]
        if f < a or k + 1 == len(ordered):
            blends.append(FrameBlend(a, a, 0.0))
        else:
            b = ordered[k + 1]
            blends.append(FrameBlend(a, b, (f - a) / (b - a)))
    return blends


def interpolate_per_frame(values: Mapping[int, torch.Tensor], num_frames: int) -> torch.Tensor:
    """[num_frames, *shape]: keyframe values (e.g. text embeddings) blended per frame as frame_weights says."""
    shapes = {tuple(v.shape) for v in values.values()}
    if len(shapes) > 1:
        raise ValueError(
            f"keyframe values must share one shape to be interpolated, got {sorted(shapes)}; "
            "pad or truncate the prompts to the same token count"
        )
    blends = frame_weights(values.keys(), num_frames)
    first = next(iter(values.values()))
    out = first.new_empty((num_frames, *first.shape))
    for f, (a, b, w) in enumerate(blends):
        out[f] = torch.lerp(values[a], values[b], w) if a != b else values[a]
    return out
