"""The timeline widget's JS schedule parser agrees with the node's Python parser: same entries, same error and position.

Runs web/js/schedule_parse.js under node (no browser, no server) and modules/freenoise parse_prompt_schedule on one list.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

from modules.freenoise import PromptScheduleError, parse_prompt_schedule

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "browser" / "schedule_parse_runner.mjs"
PARSER = ROOT / "web" / "js" / "schedule_parse.js"

VALID = [
    ('"0": "a camel running",\n"48": "a camel standing"', 64),
    ('{\n  "0": "a camel running",\n  "48": "a camel standing",\n}\n', 64),
    ('0: "a camel running"\n48: "a camel standing",', 64),
    ("{'0': 'a camel running', '48': 'a camel standing'}", 64),
    ('\r\n  "48" : "a camel standing",\r\n  0:"a camel running"\r\n', 64),
    ('"0": "say \\"hi\\", \\(masterpiece:1.2\\)", "1": \'it\\\'s \\\\ \\n \\t \\q\'', 8),
    ('"0": "line one \\\ncontinued"', 4),  # a backslash before a line break keeps the prompt going
    ('" 12\t": "spaced key", +3: "plus sign", 007: "leading zeros"', 13),
    ("\u0663: 'arabic-indic three', \U0001d7d8: 'mathematical zero'", None),
    ('"0": "<img src=x onerror=alert(1)>", "5": "\U0001f42a camel \u00e9\u0301"', 6),
    ('"0": "a",\n\n\n"1": "b",', None),
    ('"63": "last frame only"', 64),
    ('"0": ""', 1),
    ('\t{ "5": "x" }\n\n', 6),
]

INVALID = [
    ('"\u00b2": "a"', 8),  # a superscript digit is not a frame number (str.isdigit would accept it)
    ('"0": "a",\n    : "b"', 40),
    ('"0": "a",\n"": "b"', 40),
    ('"0": a camel', 40),
    ('"0" "a camel"', 40),
    ('"0": "a",\n"16": "b",\n"16": "c"', 40),
    ('"0": "a",\n"48": "b"', 40),
    ('"0": "a",\n"040": "b"', 40),
    ('"-1": "the end"', 40),
    ('+-3: "signs"', 40),
    ('"2.5": "half"', 40),
    ('"2.": "dot"', 40),
    ("", 40),
    ("  \n\t\r\n", 40),
    ("{\n}", 40),
    ('{"0": "a"', 40),
    ('{"0": "a"} trailing', 40),
    ('"0": "a"}', 40),
    ('"0": "a camel\n"8": "b"', 40),
    ('"0": \'unterminated', 40),
    ('"0": "ends in a backslash\\', 40),
    ('"0": "a" "8": "b"', 40),
    ('"0": "a",, "1": "b"', 40),
    ("x: 'a'", 40),
    ('"3\': "mismatched quotes"', 40),
    ('"3 4": "two numbers"', 40),
    ('"0": "a"\r"1": "b"', 40),
    ('"0": "\U0001f42a\U0001f42a", "1": "\U0001f42a" junk', 40),
    ('\U0001f42a\U0001f42a: "emoji key"', 40),
    ('"99999999999999999999999": "huge"', 4096),
    ('"0": "a",\n"1": "b",\n  "0": "again"', None),
    ('"0"', 40),
    ('"0":', 40),
    ("\u00a0\"0\": 'no-break space is not a blank'", 40),
]


def _python(text: str, frames: int | None) -> dict:
    try:
        entries = parse_prompt_schedule(text, num_frames=frames)
    except PromptScheduleError as err:
        return {"error": [err.position.line, err.position.column, err.message], "formatted": str(err)}
    return {"entries": [[e.frame, e.text] for e in entries]}


def _utf16_offset(text: str, line: int, column: int) -> int:
    start = sum(len(row) + 1 for row in text.split("\n")[: line - 1])
    return len(text[: start + column - 1].encode("utf-16-le")) // 2


@pytest.fixture(scope="module")
def js_results() -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; the browser tests need it (scripts/provision_browser.sh)")
    cases = [{"text": t, "frames": f} for t, f in VALID + INVALID]
    proc = subprocess.run([node, str(RUNNER), str(PARSER)], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout)
    assert len(results) == len(cases)
    return results


@pytest.mark.parametrize("index", range(len(VALID)))
def test_valid_schedules_give_the_same_entries(js_results, index):
    text, frames = VALID[index]
    expected = _python(text, frames)
    assert "entries" in expected, f"case {index} should be valid for the Python parser: {expected}"
    got = js_results[index]
    assert got["error"] is None, got["error"]
    assert [[e["frame"], e["prompt"]] for e in got["entries"]] == expected["entries"]


@pytest.mark.parametrize("index", range(len(INVALID)))
def test_invalid_schedules_give_the_same_error_at_the_same_place(js_results, index):
    text, frames = INVALID[index]
    expected = _python(text, frames)
    assert "error" in expected, f"case {index} should be invalid for the Python parser: {expected}"
    got = js_results[len(VALID) + index]
    assert got["entries"] is None
    error = got["error"]
    assert [error["line"], error["column"], error["message"]] == expected["error"]
    assert got["formatted"] == expected["formatted"]
    assert error["offset"] == _utf16_offset(text, error["line"], error["column"])
